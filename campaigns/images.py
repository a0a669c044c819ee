"""Uploaded photos for moments: checked by content, never by name, then
re-encoded without metadata and resized to WeCom's recommended bounds.

wecom-api.md §1.2: plan for ≤ 1440×1080 (a short edge ≤ 1080) and ≤ 10 MB;
WeCom takes JPG and PNG. DESIGN.md §7: WEBP accepted and converted,
decompression-bomb warnings are errors, UUID file names (``MediaAsset``), a
decode budget by declared pixels so a small file cannot cost gigabytes.

The order matters: everything that can be learnt from the header (format,
pixels, frames, what decoding will cost in memory) is checked before a single
pixel is decoded; decoding then happens under a process-wide limit of
``DECODE_CONCURRENCY`` at a time, and must be complete (a PNG whose compressed
data stops early is refused, not padded with black rows; a JPEG cut short and closed
by hand likewise, not padded grey).
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass

import simplejpeg
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Far above any camera's output, far below what would exhaust memory when decoded
# (Pillow warns at 89M pixels and refuses at twice that; we refuse at the warning).
MAX_SOURCE_PIXELS = 50_000_000
# What one photo may cost in memory while it is opened and converted: the decoded picture in
# Pillow's own storage plus the RGB(A) copy it is converted to. A 32-megapixel RGB or RGBA
# PNG fits; a 7071×7071 RGBA PNG (200 MB) does not. JPEGs are decoded at a reduced scale
# when they are at least twice the size we keep, so camera photos cost a fraction of this.
DECODE_BUDGET_BYTES = 128 * 1024 * 1024
# At most this many photos are decoded at once in one process; the others wait this long.
DECODE_CONCURRENCY = 2
DECODE_WAIT_SECONDS = 10.0
LONG_EDGE, SHORT_EDGE = 1440, 1080
THUMBNAIL_EDGE = 320
JPEG_QUALITY = 88
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

_MB = 1024 * 1024
_DECODING = threading.BoundedSemaphore(DECODE_CONCURRENCY)
# Bytes per pixel as Pillow stores each mode (RGB takes 4, like RGBA); a mode that is not RGB or
# RGBA also needs the 4-byte copy it is converted to, and 16-bit grey a 1-byte step on the way.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class DecodeBusy(ValidationError):
    """Every decoding slot stayed taken for ``DECODE_WAIT_SECONDS``: a plain "try again" for the uploader."""


@dataclass(frozen=True)
class PreparedImage:
    content: bytes
    extension: str  # "jpg" or "png"
    width: int
    height: int
    thumbnail: bytes  # JPEG
    sha256: str


def _damaged() -> ValidationError:
    return ValidationError(_("The image is damaged or incomplete: export it again and re-upload."))


def _box(width: int, height: int) -> tuple[int, int]:
    """The bounds a picture of this stored size is fitted into (a turn by the camera swaps both)."""
    return (LONG_EDGE, SHORT_EDGE) if width >= height else (SHORT_EDGE, LONG_EDGE)


def _open(data: bytes) -> Image.Image:
    """The image with its header read and nothing decoded: format, pixels and frames checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            image_format = image.format
            if image_format not in ACCEPTED_FORMATS:
                if image_format == "GIF":
                    raise ValidationError(_("GIF images cannot be posted to moments: upload a JPEG or PNG."))
                raise ValidationError(_("This is not a JPEG, PNG or WEBP image."))
            if image.width * image.height > MAX_SOURCE_PIXELS:
                raise ValidationError(
                    _("The image has too many pixels (%(width)s×%(height)s); the most is 50 megapixels.")
                    % {"width": image.width, "height": image.height}
                )
            if getattr(image, "n_frames", 1) > 1:
                raise ValidationError(_("Animated images cannot be posted to moments: upload a still image."))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ValidationError(_("The image declares too many pixels to be opened safely.")) from None
        except UnidentifiedImageError:
            raise ValidationError(
                _("This file is not an image we can read: upload a JPEG, PNG or WEBP photo.")
            ) from None
        except (OSError, SyntaxError, ValueError, struct.error, EOFError):
            raise _damaged() from None
    if image.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when even that is larger than what we keep: the same
        # result after resizing, at a fraction of the memory. Only configures the decoder.
        image.draft(image.mode, _box(image.width, image.height))
    return image


def decode_cost(mode: str, width: int, height: int) -> int:
    """Bytes of memory that decoding and converting a picture of this mode and size takes."""
    per_pixel = _STORED_BYTES.get(mode, 4)
    if mode not in ("RGB", "RGBA"):
        per_pixel += 4 + (1 if mode in _WIDE_GREY else 0)
    return width * height * per_pixel


def _check_budget(image: Image.Image) -> None:
    cost = decode_cost(image.mode, image.width, image.height)
    if cost > DECODE_BUDGET_BYTES:
        raise ValidationError(
            _(
                "This photo would take %(needed)s MB of memory to open (%(width)s×%(height)s); the most is "
                "%(budget)s MB. Export it smaller, for example 1440×1080, and upload it again."
            )
            % {
                "needed": -(-cost // _MB),
                "budget": DECODE_BUDGET_BYTES // _MB,
                "width": image.width,
                "height": image.height,
            }
        )


def _png_rows_bytes(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """How many bytes the decompressed image data of a PNG must hold (a filter byte per row)."""
    if not interlaced:
        return height * (1 + (width * bits_per_pixel + 7) // 8)
    total = 0  # Adam7: seven passes over sub-grids of the picture
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):  # fmt: skip
        columns, rows = max(0, (width - x0 + dx - 1) // dx), max(0, (height - y0 + dy - 1) // dy)
        if columns and rows:
            total += rows * (1 + (columns * bits_per_pixel + 7) // 8)
    return total


def _png_complete(data: bytes) -> None:
    """Refuse a PNG whose compressed data ends before its last row: Pillow pads such a file with
    empty rows instead of failing. Inflates the data once, counting bytes, keeping none."""
    try:
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        interlaced = data[28] == 1
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    except (struct.error, IndexError, KeyError):
        raise _damaged() from None
    expected = _png_rows_bytes(width, height, channels * depth, interlaced)
    inflater, produced, offset = zlib.decompressobj(), 0, 8
    try:
        while produced < expected and not inflater.eof:
            if offset + 8 > len(data):
                break
            length, kind = struct.unpack(">I4s", data[offset : offset + 8])
            if kind == b"IEND" or offset + 12 + length > len(data):
                break
            if kind == b"IDAT":
                pending = data[offset + 8 : offset + 8 + length]
                while pending and produced < expected and not inflater.eof:
                    produced += len(inflater.decompress(pending, min(_MB, expected - produced)))
                    pending = inflater.unconsumed_tail
            offset += 12 + length
    except zlib.error:
        raise _damaged() from None
    if produced < expected:
        raise _damaged()


def _jpeg_complete(data: bytes) -> None:
    """Refuse a JPEG whose compressed data stops before its last block. Cut short and closed with a
    hand-added end marker, Pillow decodes it without a word, the missing part grey: libjpeg only warns,
    and Pillow keeps its warnings to itself. simplejpeg's strict mode turns them into errors. The data is
    read whole but decoded at 1/8 scale in grey (a 50-megapixel photo costs under 1 MB here). Only the
    end of the data is a refusal: libjpeg's other warnings (a few stray bytes before a marker, which
    some cameras write) leave a picture that shows whole, which Pillow has decoded already."""
    try:
        simplejpeg.decode_jpeg(data, colorspace="CMYK" if _jpeg_is_cmyk(data) else "GRAY", strict=True,
                               min_factor=8, min_width=1, min_height=1)  # fmt: skip
    except (ValueError, RuntimeError) as error:
        if "premature end" in str(error).lower():
            raise _damaged() from None


def _jpeg_is_cmyk(data: bytes) -> bool:
    try:
        return simplejpeg.decode_jpeg_header(data)[2] in ("CMYK", "YCCK")
    except (ValueError, RuntimeError):
        return False  # Pillow read the header: the decode says what is wrong


def _decode(image: Image.Image, data: bytes) -> None:
    """Decode every pixel now: a truncated or corrupt file fails here, not later."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # would let a cut-off file through as a half-grey picture
        raise ImproperlyConfigured("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False for uploads.")
    if image.format == "PNG":
        _png_complete(data)
    elif image.format == "JPEG":
        _jpeg_complete(data)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, zlib.error):
        raise _damaged() from None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # unreadable EXIF is dropped with the rest of the metadata
        return 1


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Apply an embedded colour profile (a phone's Display P3, say) before it is dropped, so the
    stored picture, which carries no profile, shows the same colours. A bad profile is ignored."""
    if not icc_profile:
        return image
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode)
    except Exception:  # ImageCms raises several types for profiles it cannot use
        return image


def _working_copy(image: Image.Image, mode: str) -> Image.Image:
    if image.mode == mode:
        return image
    if image.mode in _WIDE_GREY:  # 16-bit grey: scale to 8 bits (a plain convert clips to white)
        scalable = image if image.mode in ("I;16", "I") else image.convert("I")  # a PNG's is I;16
        image = scalable.point(lambda value: value / 256).convert("L")
    return image.convert(mode)


def _reencode(image: Image.Image) -> PreparedImage:
    """Fit, turn and re-encode a decoded image. Only pixels travel: no EXIF, XMP, ICC, comment or
    text chunk is written (Pillow copies a JPEG's comment from ``info`` unless told otherwise)."""
    orientation, icc_profile = _orientation(image), image.info.get("icc_profile")
    keep_png = _has_alpha(image)  # transparency needs PNG; photos are smaller as JPEG
    image = _working_copy(image, "RGBA" if keep_png else "RGB")
    image.thumbnail(_box(image.width, image.height), Image.Resampling.LANCZOS)  # in place; no-op if it fits
    image = _to_srgb(image, icc_profile)
    if orientation in _TRANSPOSE:  # the camera's rotation, applied on the fitted picture
        image = image.transpose(_TRANSPOSE[orientation])
    image.info = {}
    output = io.BytesIO()
    if keep_png:
        image.save(output, format="PNG", optimize=True)
        extension = "png"
    else:
        image.save(output, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        extension = "jpg"
    content = output.getvalue()
    if len(content) > MAX_UPLOAD_BYTES:  # a huge, noisy PNG can stay big after resizing
        output = io.BytesIO()
        image.convert("RGB").save(output, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        content, extension = output.getvalue(), "jpg"
    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    thumbnail.info = {}
    thumb_output = io.BytesIO()
    thumbnail.save(thumb_output, format="JPEG", quality=80)
    return PreparedImage(
        content=content,
        extension=extension,
        width=image.width,
        height=image.height,
        thumbnail=thumb_output.getvalue(),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def upload_size_check(data: bytes) -> None:
    """Not empty, at most 10 MB (WeCom's limit for moment attachments).

    The upload views read at most ``MAX_UPLOAD_BYTES + 1`` bytes, so a longer ``data`` is the
    whole file and its size is stated; otherwise the file may be far larger than what was read,
    and the message says only that it is over the limit.
    """
    if not data:
        raise ValidationError(_("The file is empty."))
    if len(data) <= MAX_UPLOAD_BYTES:
        return
    size = len(data) / _MB
    if len(data) > MAX_UPLOAD_BYTES + 1 and round(size, 1) > MAX_UPLOAD_BYTES / _MB:
        raise ValidationError(_("The file is %(size).1f MB; the most WeCom accepts is 10 MB.") % {"size": size})
    raise ValidationError(_("The file is over 10 MB; WeCom accepts at most 10 MB."))


def image_prepare(*, data: bytes) -> PreparedImage:
    """Check and normalise one uploaded image; raises ValidationError with a plain message."""
    upload_size_check(data)
    image = _open(data)
    _check_budget(image)
    if not _DECODING.acquire(timeout=DECODE_WAIT_SECONDS):
        raise DecodeBusy(_("The server is busy opening other photos: try again in a minute."))
    try:
        _decode(image, data)
        return _reencode(image)
    finally:
        _DECODING.release()
