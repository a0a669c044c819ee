"""The bad-upload corpus and what a good upload becomes (campaigns.images)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from campaigns.images import MAX_UPLOAD_BYTES, image_prepare


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg(size=(800, 600), color="pink", **options) -> bytes:
    return _encode(Image.new("RGB", size, color), "JPEG", **options)


def png_bomb() -> bytes:
    """A tiny PNG whose header declares 100,000 × 100,000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [Image.new("P", (40, 40), i) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def noise(size: int) -> bytes:
    return bytes((i * 7919) % 251 for i in range(size))


BAD = {
    "empty": (b"", "empty"),
    "truncated jpeg": (jpeg()[:600], "damaged or incomplete"),
    "png bomb": (png_bomb(), "pixels"),
    "text that says .jpg": (b"<html><script>alert(1)</script></html>", "not an image"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        "not an image",
    ),  # fmt: skip
    "animated gif": (animated_gif(), "GIF"),
    "animated webp": (animated_webp(), "Animated"),
    "eleven megabytes": (b"\xff\xd8\xff" + noise(11 * 1024 * 1024), "10 MB"),
    "bmp": (_encode(Image.new("RGB", (10, 10)), "BMP"), "not a JPEG, PNG or WEBP"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_uploads_get_a_plain_message(name):
    data, words = BAD[name]
    with pytest.raises(ValidationError) as caught:
        image_prepare(data=data)
    assert words.lower() in " ".join(caught.value.messages).lower()


def test_a_big_photo_is_resized_to_fit_1440_by_1080_and_re_encoded_without_metadata():
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (31.0, 14.0, 0.0)}  # a GPS latitude
    data = jpeg(size=(4000, 3000), exif=exif.tobytes())
    prepared = image_prepare(data=data)
    assert (prepared.width, prepared.height) == (1440, 1080) and prepared.extension == "jpg"
    stored = Image.open(io.BytesIO(prepared.content))
    assert stored.format == "JPEG" and not stored.getexif()
    thumb = Image.open(io.BytesIO(prepared.thumbnail))
    assert max(thumb.size) == 320


def test_a_portrait_photo_fits_1080_by_1440():
    prepared = image_prepare(data=jpeg(size=(3000, 4000)))
    assert (prepared.width, prepared.height) == (1080, 1440)


def test_the_cameras_rotation_is_applied_before_metadata_is_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    prepared = image_prepare(data=jpeg(size=(800, 600), exif=exif.tobytes()))
    assert (prepared.width, prepared.height) == (600, 800)


def test_webp_is_converted_and_transparent_png_stays_png():
    webp = image_prepare(data=_encode(Image.new("RGB", (50, 40), "red"), "WEBP"))
    assert webp.extension == "jpg" and Image.open(io.BytesIO(webp.content)).format == "JPEG"
    clear = image_prepare(data=_encode(Image.new("RGBA", (50, 40), (0, 0, 0, 0)), "PNG"))
    assert clear.extension == "png"


def test_a_small_photo_keeps_its_size_and_the_same_picture_hashes_the_same():
    first, second = image_prepare(data=jpeg(size=(640, 480))), image_prepare(data=jpeg(size=(640, 480)))
    assert (first.width, first.height) == (640, 480)
    assert first.sha256 == second.sha256


def test_exactly_ten_megabytes_is_checked_as_an_image_not_refused_for_size():
    with pytest.raises(ValidationError) as caught:
        image_prepare(data=b"\xff\xd8\xff" + noise(MAX_UPLOAD_BYTES - 3))
    assert "10 MB" not in " ".join(caught.value.messages)
