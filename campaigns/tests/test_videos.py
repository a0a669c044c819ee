"""Videos: an MP4 of at most 30 seconds and 10 MB, checked from its boxes.
The same files, and the rest of the corpus, go over HTTP in test_bad_uploads."""

from __future__ import annotations

import struct
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns import rules, services, videos
from campaigns.models import MediaAsset
from campaigns.tests import factories as cf
from campaigns.videos import video_prepare


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")


def mvhd(seconds: float, timescale: int = 1000) -> bytes:
    return box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, timescale, round(seconds * timescale)) + bytes(80))


def track(handler: bytes, width: int, height: int) -> bytes:
    """A ``trak`` as encoders write it: a header with the picture size, a media box with its handler."""
    tkhd = box(b"tkhd", bytes([0, 0, 0, 3]) + bytes(72) + struct.pack(">II", width << 16, height << 16))
    hdlr = box(b"hdlr", bytes(8) + handler + bytes(12) + b"\0")
    return box(b"trak", tkhd + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))


def mp4(*tracks: bytes, seconds: float = 8) -> bytes:
    return FTYP + box(b"moov", mvhd(seconds) + b"".join(tracks)) + box(b"mdat", bytes(64))


def nested_moov(depth: int = 2000) -> bytes:
    """The finding: 16 KB of ``moov`` boxes each inside the last."""
    payload = b""
    for _ in range(depth):
        payload = box(b"moov", payload)
    return FTYP + payload


def fragmented(seconds_in_fragments: int = 600) -> bytes:
    """A fragmented MP4 as a streaming encoder writes it: the movie header says 0 s, ``mvex`` announces
    fragments, and each ``moof`` carries one second of samples (their sum is what it lasts)."""
    header = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 0) + bytes(80))
    moov = box(b"moov", header + track(b"vide", 1280, 720) + box(b"mvex", box(b"trex", bytes(24))))
    fragment = box(b"moof", box(b"mfhd", bytes(8)) + box(b"traf", box(b"tfhd", bytes(12)))) + box(b"mdat", bytes(16))
    return FTYP + moov + fragment * seconds_in_fragments


def many_boxes(count: int = 10_001) -> bytes:
    """One more box than ``videos.MAX_BOXES``: a valid movie followed by 10,001 empty ``free`` boxes."""
    return mp4(track(b"vide", 1280, 720)) + box(b"free", b"") * count


def test_a_short_mp4_is_accepted_with_its_facts():
    prepared = video_prepare(data=cf.mp4_for_tests(seconds=12.5, width=1280, height=720))
    assert (prepared.width, prepared.height, prepared.seconds) == (1280, 720, 12.5)
    assert prepared.thumbnail.startswith(b"\xff\xd8")  # a JPEG poster


@pytest.mark.parametrize(
    "data,words",
    [
        (cf.mp4_for_tests(seconds=31), "31 seconds"),
        (cf.mp4_for_tests(seconds=5)[:60], "damaged"),
        (b"\x00\x00\x00\x18ftypqt  " + bytes(40), "not one"),
        (b"", "empty"),
        (cf.mp4_for_tests(seconds=5) + bytes(10 * 1024 * 1024), "10 MB"),
        (fragmented(), "fragmented"),
        (mp4(track(b"vide", 1280, 720), seconds=0), "damaged"),
    ],
    ids=["too-long", "truncated", "quicktime", "empty", "eleven-megabytes", "fragmented", "no-length"],
)
def test_bad_videos_get_a_plain_message(data, words):
    with pytest.raises(ValidationError) as caught:
        video_prepare(data=data)
    assert words in " ".join(caught.value.messages)


def test_the_library_stores_a_video_as_a_video(db, marketing_admin):
    asset = services.media_asset_create(data=cf.mp4_for_tests(seconds=8), original_name="clip.mp4", by=marketing_admin)
    assert asset.kind == MediaAsset.Kind.VIDEO and asset.seconds == 8 and asset.file.name.endswith(".mp4")


def test_a_video_never_goes_with_photos_or_a_link():
    window = rules.Window(None, None)
    assert rules.variant_errors(rules.VariantContent(copy="", has_video=True, department_count=1), window) == {}
    mixed = rules.variant_errors(rules.VariantContent(has_video=True, image_count=1, department_count=1), window)
    assert "never two of them" in mixed["video"][0]


def test_a_variant_with_a_video_through_the_api(marketing_admin, directory):
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    api.force_authenticate(marketing_admin)
    moment = cf.moment(cf.campaign(marketing_admin))
    video = services.media_asset_create(data=cf.mp4_for_tests(seconds=8), by=marketing_admin)
    photo = cf.photo_asset()
    body = {"name": "视频版", "tone": "warm", "target_departments": [directory.east.wecom_id], "copy": "看视频",
            "video": str(video.public_id)}  # fmt: skip
    created = api.post(reverse("api:moment-variants", args=[moment.public_id]), body, format="json")
    assert created.status_code == 201 and created.json()["video"] == str(video.public_id)
    both = api.post(reverse("api:moment-variants", args=[moment.public_id]),
                    {**body, "images": [str(photo.public_id)]}, format="json")  # fmt: skip
    assert "never two of them" in both.json()["video"][0]
    wrong = api.post(reverse("api:moment-variants", args=[moment.public_id]),
                     {**body, "video": str(photo.public_id)}, format="json")  # fmt: skip
    assert "not a video" in wrong.json()["video"][0]


# --- the box walk: iterative, bounded in depth and in boxes ---------------------------------------
def test_it_refuses_2000_nested_moov_boxes_with_a_message_not_a_recursion_error():
    data = nested_moov()
    assert len(data) < 17_000
    started = time.monotonic()
    with pytest.raises(ValidationError) as caught:
        video_prepare(data=data)
    assert "too deep" in caught.value.messages[0] and time.monotonic() - started < 0.5


def test_it_refuses_a_file_of_more_boxes_than_any_video_has():
    assert videos.MAX_BOXES == 10_000
    with pytest.raises(ValidationError, match="too many parts"):
        video_prepare(data=many_boxes())
    assert video_prepare(data=many_boxes(1000)).width == 1280


# --- the picture: a video track, of a size moments can show ------------------------------------
def test_it_reads_the_picture_from_the_video_track_not_the_sound():
    prepared = video_prepare(data=mp4(track(b"soun", 0, 0), track(b"vide", 1920, 1080)))
    assert (prepared.width, prepared.height) == (1920, 1080)
    assert video_prepare(data=mp4(track(b"vide", 1080, 1920))).height == 1920  # filmed upright


@pytest.mark.parametrize(
    "data,words",
    [
        (mp4(), "no video track"),
        (mp4(track(b"soun", 0, 0)), "no video track"),
        (cf.mp4_for_tests(seconds=5, width=0, height=0), "no video track"),
        (mp4(track(b"vide", 0, 0)), "0×0"),
        (cf.mp4_for_tests(seconds=5, width=65535, height=1), "65535×1"),
        (mp4(track(b"vide", 1000, 40)), "20 times"),
        (mp4(track(b"vide", 8192, 4320)), "at most 4096×2160"),
    ],
    ids=["no-track", "sound-only", "zero-by-zero-without-handler", "zero-by-zero", "65535-by-1", "25-to-1", "8k"],
)
def test_it_refuses_a_video_without_a_picture_or_with_an_absurd_one(data, words):
    with pytest.raises(ValidationError) as caught:
        video_prepare(data=data)
    assert words in caught.value.messages[0]


def test_it_states_over_10_mb_when_only_the_first_10_mb_were_read():
    from campaigns.images import MAX_UPLOAD_BYTES

    data = cf.mp4_for_tests(seconds=5)
    with pytest.raises(ValidationError) as caught:
        video_prepare(data=data + bytes(MAX_UPLOAD_BYTES + 1 - len(data)))
    assert "over 10 MB" in caught.value.messages[0]
