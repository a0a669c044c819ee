"""The bad-upload corpus over HTTP: every file below goes through the API's upload
(``POST /api/v1/media/``) and the admin's media library form. Each gets a 4xx from the
API and the admin (which re-renders its form with the message), a plain message, nothing stored
(no ``MediaAsset``, no file under MEDIA_ROOT), and a good photo is taken right after.

The files are generated here, at test time: no binaries are committed. The builders
live next to the unit tests of each check (test_images, test_videos).
"""

from __future__ import annotations

import html
import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from campaigns import images
from campaigns.models import MediaAsset
from campaigns.tests import factories as cf
from campaigns.tests import test_images as photos
from campaigns.tests import test_videos as clips

# name → (a builder of the file, the name it is uploaded under, words the message must hold)
CORPUS = {
    # refused before this round
    "empty": (lambda: b"", "empty.jpg", "empty"),
    "html named .jpg": (lambda: b"<html><script>alert(1)</script></html>", "photo.jpg", "not an image"),
    "svg": (lambda: photos.BAD["svg"][0], "logo.svg", "not an image"),
    "animated gif": (photos.animated_gif, "party.gif", "GIF"),
    "animated webp": (photos.animated_webp, "party.webp", "Animated"),
    "bmp": (lambda: photos._encode(Image.new("RGB", (10, 10)), "BMP"), "old.bmp", "not a JPEG, PNG or WEBP"),
    "truncated jpeg": (lambda: photos.jpeg()[:600], "cut.jpg", "damaged or incomplete"),
    "png with broken data": (lambda: photos.BAD["png with broken data"][0], "broken.png", "damaged or incomplete"),
    "decompression bomb": (photos.png_bomb, "bomb.png", "too many pixels"),
    "60 megapixels": (lambda: photos.png_rows(8000, 7500, rows=1), "huge.png", "50 megapixels"),
    "video over 30 seconds": (lambda: cf.mp4_for_tests(seconds=45), "long.mp4", "45 seconds"),
    "truncated video": (lambda: cf.mp4_for_tests(seconds=5)[:60], "cut.mp4", "damaged or incomplete"),
    "quicktime": (lambda: b"\x00\x00\x00\x18ftypqt  " + bytes(40), "clip.mov", "not one"),
    # this round's findings
    "190 KB png that decodes to 200 MB": (photos.decode_cost_png, "cheap.png", "MB of memory to open"),
    "truncated 49 megapixel png": (lambda: photos.png_rows(7000, 7000, rows=64), "cut49.png", "MB of memory"),
    "truncated png": (photos.truncated_png, "cut.png", "damaged or incomplete"),
    "jpeg cut short, end marker added": (photos.jpeg_cut_and_closed, "closed.jpg", "damaged or incomplete"),
    "interlaced png cut short": (lambda: photos.png_interlaced(64, 48, cut=100), "cut-i.png", "damaged"),
    "2000 nested moov boxes": (clips.nested_moov, "deep.mp4", "too deep"),
    "too many boxes": (clips.many_boxes, "boxes.mp4", "too many parts"),
    "video without a track": (lambda: clips.mp4(), "silent.mp4", "no video track"),
    "sound only": (lambda: clips.mp4(clips.track(b"soun", 0, 0)), "sound.mp4", "no video track"),
    "0×0 video": (lambda: cf.mp4_for_tests(seconds=5, width=0, height=0), "zero.mp4", "no video track"),
    "65535×1 video": (lambda: cf.mp4_for_tests(seconds=5, width=65535, height=1), "line.mp4", "65535×1"),
    "25:1 video": (lambda: clips.mp4(clips.track(b"vide", 1000, 40)), "strip.mp4", "20 times"),
    "8K video": (lambda: clips.mp4(clips.track(b"vide", 8192, 4320)), "8k.mp4", "at most 4096×2160"),
    "fragmented mp4 that says 0 s": (clips.fragmented, "stream.mp4", "fragmented"),
    "video of no length": (lambda: clips.mp4(clips.track(b"vide", 1280, 720), seconds=0), "zero-s.mp4", "damaged"),
    "eleven megabytes": (lambda: b"\xff\xd8\xff" + photos.noise(11 * 1024 * 1024), "big.jpg", "over 10 MB"),
}


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def _good_photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("rose.jpg", photos.jpeg(size=(1200, 900)), content_type="image/jpeg")


@pytest.fixture
def api(marketing_admin):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(marketing_admin)
    return client


@pytest.mark.parametrize("name", list(CORPUS))
def test_it_refuses_each_bad_upload_through_the_api_and_takes_a_good_one_after(api, name):
    build, filename, words = CORPUS[name]
    started = time.monotonic()
    response = api.post(reverse("api:media-list"), {"file": SimpleUploadedFile(filename, build())}, format="multipart")
    assert time.monotonic() - started < 3
    assert response.status_code == 400, response.content[:300]
    message = " ".join(str(text) for texts in response.json().values() for text in texts)
    assert words in message
    assert "10.0 MB" not in message and "Traceback" not in message
    assert not MediaAsset.objects.exists() and _stored_files() == []
    good = api.post(reverse("api:media-list"), {"file": _good_photo()}, format="multipart")
    assert good.status_code == 201 and MediaAsset.objects.count() == 1


@pytest.mark.parametrize("name", list(CORPUS))
def test_it_refuses_each_bad_upload_in_the_admins_media_library_and_takes_a_good_one_after(
    client, marketing_admin, name
):
    build, filename, words = CORPUS[name]
    client.force_login(marketing_admin)
    add = reverse("admin:campaigns_mediaasset_add")
    response = client.post(add, {"upload": SimpleUploadedFile(filename, build()), "title": "坏文件"})
    assert response.status_code == 400  # the form again, with the message on the upload field
    errors = " ".join(response.context["adminform"].form.errors.get("upload", []))
    assert words in errors and words in html.unescape(response.content.decode())
    assert not MediaAsset.objects.exists() and _stored_files() == []
    good = client.post(add, {"upload": _good_photo(), "title": "玫瑰"})
    assert good.status_code == 302 and MediaAsset.objects.count() == 1


def test_a_polyglots_script_is_not_in_the_stored_files(api, client, marketing_admin):
    polyglot = SimpleUploadedFile("cat.jpg", photos.polyglot_jpeg())
    response = api.post(reverse("api:media-list"), {"file": polyglot}, format="multipart")
    assert response.status_code == 201
    client.force_login(marketing_admin)
    added = client.post(reverse("admin:campaigns_mediaasset_add"),
                        {"upload": SimpleUploadedFile("cat.png", photos.polyglot_png()), "title": "猫"})  # fmt: skip
    assert added.status_code == 302 and MediaAsset.objects.count() == 2
    stored = _stored_files()
    assert len(stored) == 4  # two pictures, two thumbnails
    for path in stored:
        content = path.read_bytes()
        assert b"<script" not in content and b"SpyCam" not in content
        if path.suffix == ".jpg":
            assert b"\xff\xfe" not in content  # no comment (COM) segment
        else:
            assert photos.png_chunks(content) == [b"IHDR", b"IDAT", b"IEND"]


def test_a_busy_server_says_so_and_takes_the_photo_once_a_slot_is_free(api, monkeypatch):
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.05)
    held = [images._DECODING.acquire(timeout=1) for _ in range(images.DECODE_CONCURRENCY)]
    try:
        busy = api.post(reverse("api:media-list"), {"file": _good_photo()}, format="multipart")
    finally:
        for _ in held:
            images._DECODING.release()
    assert busy.status_code == 400 and "try again" in str(busy.json())
    assert not MediaAsset.objects.exists() and _stored_files() == []
    assert api.post(reverse("api:media-list"), {"file": _good_photo()}, format="multipart").status_code == 201


def test_the_corpus_files_are_what_they_claim():
    """The corpus is built right: the bomb is small on disk, the nested file is 16 KB, the cut PNG
    says 7000×7000, the polyglot carries its script into the upload."""
    assert len(photos.decode_cost_png()) < 250_000 and len(clips.nested_moov()) < 17_000
    assert Image.open(io.BytesIO(photos.png_rows(7000, 7000, rows=64))).size == (7000, 7000)
    assert b"<script" in photos.polyglot_jpeg() and b"<script" in photos.polyglot_png()
