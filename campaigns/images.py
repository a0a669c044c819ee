"""Uploaded photos for moments: checked by content, never by name, then
re-encoded without metadata and resized to WeCom's recommended bounds.

wecom-api.md §1.2: plan for ≤ 1440×1080 (a short edge ≤ 1080) and ≤ 10 MB;
WeCom takes JPG and PNG. DESIGN.md §7: WEBP accepted and converted,
decompression-bomb warnings are errors, UUID file names (``MediaAsset``).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Far above any camera's output, far below what would exhaust memory when decoded
# (Pillow warns at 89M pixels and refuses at twice that; we refuse at the warning).
MAX_SOURCE_PIXELS = 50_000_000
LONG_EDGE, SHORT_EDGE = 1440, 1080
THUMBNAIL_EDGE = 320
JPEG_QUALITY = 88
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class PreparedImage:
    content: bytes
    extension: str  # "jpg" or "png"
    width: int
    height: int
    thumbnail: bytes  # JPEG
    sha256: str


def _open(data: bytes) -> Image.Image:
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
            image.load()  # decode now: a truncated or corrupt file fails here, not later
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ValidationError(_("The image declares too many pixels to be opened safely.")) from None
        except UnidentifiedImageError:
            raise ValidationError(
                _("This file is not an image we can read: upload a JPEG, PNG or WEBP photo.")
            ) from None
        except (OSError, SyntaxError, ValueError):
            raise ValidationError(_("The image is damaged or incomplete: export it again and re-upload.")) from None
    return image


def _fit(image: Image.Image) -> Image.Image:
    box = (LONG_EDGE, SHORT_EDGE) if image.width >= image.height else (SHORT_EDGE, LONG_EDGE)
    if image.width <= box[0] and image.height <= box[1]:
        return image
    fitted = image.copy()
    fitted.thumbnail(box, Image.Resampling.LANCZOS)
    return fitted


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def upload_size_check(data: bytes) -> None:
    """Not empty, at most 10 MB (WeCom's limit for moment attachments)."""
    if not data:
        raise ValidationError(_("The file is empty."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The file is %(size).1f MB; the most WeCom accepts is 10 MB.") % {"size": len(data) / 1024 / 1024}
        )


def image_prepare(*, data: bytes) -> PreparedImage:
    """Check and normalise one uploaded image; raises ValidationError with a plain message."""
    upload_size_check(data)
    image = _open(data)
    keep_png = _has_alpha(image)  # transparency needs PNG; photos are smaller as JPEG
    image = ImageOps.exif_transpose(image)  # apply the camera's rotation before the metadata goes
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    image = _fit(image)
    output = io.BytesIO()
    if keep_png:
        image.save(output, format="PNG", optimize=True)  # no metadata chunks are written
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
