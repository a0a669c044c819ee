"""The bad-upload corpus and what a good upload becomes (campaigns.images).
The same files, and the rest of the corpus, go over HTTP in test_bad_uploads."""

from __future__ import annotations

import functools
import io
import struct
import threading
import time
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from PIL import Image, ImageCms, ImageFile

from campaigns import images
from campaigns.images import MAX_UPLOAD_BYTES, image_prepare


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg(size=(800, 600), color="pink", **options) -> bytes:
    return _encode(Image.new("RGB", size, color), "JPEG", **options)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb() -> bytes:
    """A tiny PNG whose header declares 100,000 × 100,000 pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # grey, RGB, grey + alpha, RGBA


@functools.cache
def png_rows(width: int, height: int, *, colour: int = 2, rows: int | None = None, depth: int = 8) -> bytes:
    """A PNG of blank rows built by hand, streamed through zlib (never the whole picture in
    memory): ``rows`` below ``height`` is a file whose data stops early yet ends cleanly."""
    line = b"\0" + bytes(width * _CHANNELS[colour] * depth // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(line) for _ in range(height if rows is None else rows)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def png_interlaced(width: int, height: int, *, cut: int = 0) -> bytes:
    """An Adam7-interlaced grey PNG (Pillow writes none), ``cut`` bytes short of its data."""
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):  # fmt: skip
        columns, rows = max(0, (width - x0 + dx - 1) // dx), max(0, (height - y0 + dy - 1) // dy)
        if columns and rows:
            raw += (b"\0" + bytes(range(columns))) * rows
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    body = zlib.compress(raw[: len(raw) - cut])
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def decode_cost_png() -> bytes:
    """The finding: 190 KB on disk, 7071×7071 RGBA (just under 50 megapixels), 200 MB decoded."""
    return png_rows(7071, 7071, colour=6)


def truncated_png() -> bytes:
    """2000×2000, within every budget, but its compressed data ends cleanly after 64 rows."""
    return png_rows(2000, 2000, rows=64)


def photo_jpeg(size=(1200, 900), **options) -> bytes:
    """A photo-like JPEG (noise: every block carries data, as a camera's do)."""
    return _encode(Image.merge("RGB", [Image.effect_noise(size, 40 + 20 * n) for n in range(3)]), "JPEG",
                   quality=90, **options)  # fmt: skip


def jpeg_cut_and_closed(fraction: float = 0.6, **options) -> bytes:
    """The finding: a JPEG cut short, its end marker added back by hand (Pillow pads the rest grey)."""
    data = photo_jpeg(**options)
    return data[: int(len(data) * fraction)] + b"\xff\xd9"


def polyglot_jpeg() -> bytes:
    """A photo carrying every kind of metadata, a script in its comment and in its XMP."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (31.0, 14.0, 0.0)}  # a GPS latitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return jpeg(size=(900, 600), comment=b"<script>alert(document.cookie)</script>", exif=exif.tobytes(),
                icc_profile=icc, xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><script>1</script></x:xmpmeta>')  # fmt: skip


def polyglot_png() -> bytes:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "<script>alert(1)</script>")
    text.add_text("Description", "<script>2</script>", zip=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    return _encode(Image.new("RGBA", (300, 200), (10, 200, 30, 128)), "PNG", pnginfo=text, icc_profile=icc,
                   exif=exif.tobytes())  # fmt: skip


def jpeg_segments(data: bytes) -> list[int]:
    """The markers of a JPEG's segments up to its first scan, then every marker after it."""
    assert data[:2] == b"\xff\xd8"
    markers, offset = [], 2
    while offset < len(data):
        assert data[offset] == 0xFF, f"no marker at {offset}"
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xD9:
            break
        length = struct.unpack(">H", data[offset + 2 : offset + 4])[0]
        offset += 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or RSTn
            while not (data[offset] == 0xFF and data[offset + 1] not in (0x00, *range(0xD0, 0xD8))):
                offset += 1
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    kinds, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        kinds.append(kind)
        offset += 12 + length
    return kinds


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
    period = bytes((i * 7919) % 251 for i in range(251))  # the sequence repeats every 251 bytes
    return (period * (size // 251 + 1))[:size]


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
    "eleven megabytes": (b"\xff\xd8\xff" + noise(11 * 1024 * 1024), "11.0 MB"),
    "bmp": (_encode(Image.new("RGB", (10, 10)), "BMP"), "not a JPEG, PNG or WEBP"),
    "truncated png": (truncated_png(), "damaged or incomplete"),
    "interlaced png cut short": (png_interlaced(64, 48, cut=100), "damaged or incomplete"),
    "jpeg cut short, end marker added": (jpeg_cut_and_closed(), "damaged or incomplete"),
    "progressive jpeg cut short, end marker added": (jpeg_cut_and_closed(0.9, progressive=True), "damaged"),
    "png with broken data": (png_rows(40, 30)[:41] + b"\xde\xad" + png_rows(40, 30)[43:], "damaged or incomplete"),
}


def test_a_whole_photo_passes_the_jpeg_completeness_check_in_every_colour_model():
    """The check refuses only a cut: whole photos pass, CMYK and grey ones too, and so does one with
    stray bytes before a marker (libjpeg warns, the picture shows whole)."""
    source = Image.open(io.BytesIO(photo_jpeg()))
    for data in (photo_jpeg(), photo_jpeg(progressive=True), _encode(source.convert("CMYK"), "JPEG"),
                 _encode(source.convert("L"), "JPEG")):  # fmt: skip
        assert image_prepare(data=data).width > 0
    whole = photo_jpeg()
    scan = whole.index(b"\xff\xda")
    stray = whole[:scan] + b"\x00\x00" + whole[scan:]
    assert image_prepare(data=stray).width > 0


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


# --- what decoding costs: counted from the header, before a pixel is decoded --------------------
def test_it_refuses_a_small_png_that_would_take_200_mb_to_open_before_decoding_it():
    data = decode_cost_png()
    assert len(data) < 250_000  # the finding: a 190 KB file
    started = time.monotonic()
    with pytest.raises(ValidationError) as caught:
        image_prepare(data=data)
    assert time.monotonic() - started < 0.5  # the header alone: decoding it took seconds and 200+ MB
    message = " ".join(caught.value.messages)
    assert "would take 191 MB of memory to open" in message and "the most is 128 MB" in message


def test_it_counts_the_bytes_each_mode_takes_in_memory():
    pixels = 1000 * 1000
    assert images.decode_cost("RGBA", 1000, 1000) == images.decode_cost("RGB", 1000, 1000) == 4 * pixels
    assert images.decode_cost("L", 1000, 1000) == images.decode_cost("P", 1000, 1000) == 5 * pixels  # + its RGB copy
    assert images.decode_cost("I;16", 1000, 1000) == 7 * pixels  # 16-bit grey: 2, then 8-bit grey, then RGB
    assert images.decode_cost("CMYK", 1000, 1000) == 8 * pixels


def test_it_decodes_a_big_jpeg_at_a_reduced_scale_so_it_fits_the_budget(monkeypatch):
    monkeypatch.setattr(images, "DECODE_BUDGET_BYTES", 20 * 1024 * 1024)
    photo = image_prepare(data=jpeg(size=(4000, 3000)))  # 48 MB at full scale, 12 MB at half
    assert (photo.width, photo.height) == (1440, 1080)
    with pytest.raises(ValidationError, match="would take 46 MB"):  # a PNG has no reduced decoding
        image_prepare(data=png_rows(4000, 3000))


def test_it_decodes_at_most_two_photos_at_once(monkeypatch):
    active, peak, lock, results = 0, 0, threading.Lock(), []
    original = ImageFile.ImageFile.load

    def slow_load(self):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        try:
            return original(self)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    threads = [threading.Thread(target=lambda i=i: results.append(image_prepare(data=jpeg(color=(i, 0, 0)))))
               for i in range(6)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and peak == images.DECODE_CONCURRENCY == 2


def test_it_says_busy_when_every_decoding_slot_stays_taken(monkeypatch):
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.05)
    held = [images._DECODING.acquire(timeout=1) for _ in range(images.DECODE_CONCURRENCY)]
    try:
        with pytest.raises(images.DecodeBusy) as caught:
            image_prepare(data=jpeg())
        assert "busy" in " ".join(caught.value.messages) and "try again" in " ".join(caught.value.messages)
    finally:
        for _ in held:
            images._DECODING.release()
    assert image_prepare(data=jpeg()).width == 800  # the slots are back


# --- a complete decode ---------------------------------------------------------------------------
def test_it_refuses_a_png_whose_data_stops_early_and_keeps_one_that_is_whole():
    with pytest.raises(ValidationError, match="damaged or incomplete"):
        image_prepare(data=truncated_png())
    assert image_prepare(data=png_rows(2000, 2000)).width == 1080
    assert image_prepare(data=png_interlaced(64, 48)).width == 64  # Adam7's seven passes counted right
    assert image_prepare(data=png_rows(33, 17, colour=0, depth=16)).height == 17


def test_it_refuses_to_run_with_pillows_truncated_images_switch_on(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImproperlyConfigured):
        image_prepare(data=jpeg())


def test_it_keeps_16_bit_grey_as_grey_not_white():
    prepared = image_prepare(data=_encode(Image.new("I;16", (40, 30), 32768), "PNG"))
    assert Image.open(io.BytesIO(prepared.content)).convert("L").getpixel((5, 5)) in range(126, 131)


# --- nothing but pixels is stored ----------------------------------------------------------------
def test_it_stores_a_jpeg_without_its_comment_or_any_other_metadata_segment():
    data = polyglot_jpeg()
    assert b"<script" in data and b"\xff\xfe" in data  # the comment segment is there to begin with
    prepared = image_prepare(data=data)
    for stored in (prepared.content, prepared.thumbnail):
        assert b"<script" not in stored and b"\xff\xfe" not in stored
        assert b"SpyCam" not in stored and b"ICC_PROFILE" not in stored and b"adobe:ns:meta" not in stored
        # SOI aside: JFIF (APP0), quantisation and Huffman tables, frame, scans, restarts, end.
        assert set(jpeg_segments(stored)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDA, 0xD9, *range(0xD0, 0xD8)}


def test_it_stores_a_png_with_only_its_picture_chunks():
    data = polyglot_png()
    assert {b"tEXt", b"zTXt", b"iCCP", b"eXIf"} <= set(png_chunks(data))
    prepared = image_prepare(data=data)
    assert prepared.extension == "png" and png_chunks(prepared.content) == [b"IHDR", b"IDAT", b"IEND"]
    assert b"<script" not in prepared.content and b"<script" not in prepared.thumbnail


# --- the size message ----------------------------------------------------------------------------
def test_it_states_the_real_size_or_over_10_mb_when_only_the_first_10_mb_were_read():
    with pytest.raises(ValidationError) as whole:
        image_prepare(data=b"\xff\xd8\xff" + noise(12 * 1024 * 1024))
    assert "The file is 12.0 MB" in whole.value.messages[0]
    with pytest.raises(ValidationError) as capped:  # what the upload views read of a 300 MB file
        image_prepare(data=noise(MAX_UPLOAD_BYTES + 1))
    assert "over 10 MB" in capped.value.messages[0] and "10.0 MB" not in capped.value.messages[0]
