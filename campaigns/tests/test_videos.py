"""Videos: an MP4 of at most 30 seconds and 10 MB, checked from its boxes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns import rules, services
from campaigns.models import MediaAsset
from campaigns.tests import factories as cf
from campaigns.videos import video_prepare


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
    ],
    ids=["too-long", "truncated", "quicktime", "empty", "eleven-megabytes"],
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
