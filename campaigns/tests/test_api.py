"""The drafting API: who may call what, the same rules as the admin with
messages on the right field, the workflow as operations, bounded queries, and
a valid OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from campaigns.models import CallToAction, Hashtag, MediaAsset, Moment, State
from campaigns.tests import factories as cf


@pytest.fixture
def api():
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


def _as(api, user):
    api.force_authenticate(user)
    return api


def _jpeg(color="pink", name="rose.jpg"):
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), color).save(buffer, format="JPEG")
    buffer.name = name
    buffer.seek(0)
    return buffer


@pytest.fixture
def moment(marketing_admin, directory):
    Hashtag.objects.create(text="情人节")
    return cf.moment(cf.campaign(marketing_admin))


def _variant_body(directory, **extra):
    return {"name": "金卡会员", "tone": "warm", "audience_all": False, "audience_tags": [directory.gold.tag_id],
            "target_departments": [directory.east.wecom_id], "copy": "玫瑰系列上新", "hashtags": ["#情人节"],
            **extra}  # fmt: skip


def _upload(api, color="pink", name="rose.jpg"):
    return api.post(reverse("api:media-list"), {"file": _jpeg(color, name), "title": "玫瑰"}, format="multipart")


def test_the_schema_is_valid_openapi(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/moments/{public_id}/submit/" in out.read_text()


def test_a_writer_drafts_a_variant_with_photos_and_an_approver_approves(api, marketing_admin, approver, moment,
                                                                          directory):  # fmt: skip
    _as(api, marketing_admin)
    photos = [_upload(api, c, f"{c}.jpg").json()["public_id"] for c in ("pink", "red")]
    response = api.post(reverse("api:moment-variants", args=[moment.public_id]),
                        _variant_body(directory, images=photos), format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["hashtags"] == ["情人节"] and body["images"] == photos and body["tone"] == "warm"
    assert api.post(reverse("api:moment-submit", args=[moment.public_id])).json()["state"] == "in_review"
    assert api.post(reverse("api:moment-approve", args=[moment.public_id])).status_code == 403
    _as(api, approver)
    approved = api.post(reverse("api:moment-approve", args=[moment.public_id]), {"note": "好"}, format="json")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert api.post(reverse("api:moment-schedule", args=[moment.public_id])).status_code == 403
    _as(api, marketing_admin)
    assert api.post(reverse("api:moment-schedule", args=[moment.public_id])).json()["state"] == "scheduled"


@pytest.mark.parametrize(
    "extra,field,words",
    [
        ({"audience_tags": ["et-nope"]}, "audience_tags", "Unknown customer tag: et-nope"),
        ({"hashtags": ["没有这个"]}, "hashtags", "add it to the library first"),
        ({"copy": "爱" * 2001}, "copy", "characters"),
        ({"link_title": "玫" * 22, "link_url": "https://brand.example.com"}, "link_title", "66 bytes"),
        ({"tone": "angry"}, "tone", "Unknown tone"),
        ({"target_departments": []}, "target_departments", "departments or associates"),
    ],
)
def test_bad_variants_get_a_message_on_the_right_field(api, marketing_admin, moment, directory, extra, field, words):
    _as(api, marketing_admin)
    response = api.post(reverse("api:moment-variants", args=[moment.public_id]), _variant_body(directory, **extra),
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert any(words in message for message in response.json()[field]), response.json()
    assert not moment.variants.exists()


def test_ten_images_and_an_image_next_to_a_link_are_refused(api, marketing_admin, moment, directory):
    _as(api, marketing_admin)
    photo = _upload(api).json()["public_id"]
    assets = [photo] + [_upload(api, (i * 25, 200, 0), f"{i}.jpg").json()["public_id"] for i in range(1, 10)]
    assert len(set(assets)) == 10  # ten different pictures
    tenth = api.post(reverse("api:moment-variants", args=[moment.public_id]), _variant_body(directory, images=assets),
                     format="json")  # fmt: skip
    assert "At most 9 photos" in tenth.json()["images"][0]
    mixed = api.post(reverse("api:moment-variants", args=[moment.public_id]),
                     _variant_body(directory, images=[photo], link_url="https://b.example.com", link_cover=photo),
                     format="json")  # fmt: skip
    assert "not both" in mixed.json()["link_url"][0]


def test_a_cta_expiring_after_the_window_is_refused(api, marketing_admin, moment, directory):
    _as(api, marketing_admin)
    cta = api.post(reverse("api:cta-list"), {"kind": "discount", "label": "限时九折", "url": "https://b.example.com/s",
                                              "expires_at": (moment.expires_at + dt.timedelta(days=1)).isoformat()},
                   format="json")  # fmt: skip
    assert cta.status_code == 201
    response = api.post(reverse("api:moment-variants", args=[moment.public_id]),
                        _variant_body(directory, cta=cta.json()["public_id"]), format="json")  # fmt: skip
    assert "after the moment's window ends" in response.json()["cta"][0]


def test_a_cta_missing_what_its_kind_needs_is_refused(api, marketing_admin):
    _as(api, marketing_admin)
    response = api.post(reverse("api:cta-list"), {"kind": "voucher", "label": "领券"}, format="json")
    assert response.status_code == 400 and "code" in response.json()
    # a group QR code's short link must lead somewhere: the URL that joins the group
    response = api.post(reverse("api:cta-list"), {"kind": "group_qr", "label": "进群", "group_name": "玫瑰会员群"},
                        format="json")  # fmt: skip
    assert response.status_code == 400 and "url" in response.json()
    assert not CallToAction.objects.exists()


def test_a_moment_in_the_past_or_outside_the_campaign_is_refused(api, marketing_admin):
    _as(api, marketing_admin)
    campaign = cf.campaign(marketing_admin)
    past = timezone.now() - dt.timedelta(hours=1)
    response = api.post(reverse("api:moment-list"), {"campaign": str(campaign.public_id), "title": "晚了",
                        "publish_at": past.isoformat(), "expires_at": (past + dt.timedelta(hours=5)).isoformat()},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert "in the past" in str(response.json()["publish_at"])
    assert not Moment.objects.exists()


def test_a_bad_upload_gets_a_message_and_stores_nothing(api, marketing_admin):
    _as(api, marketing_admin)
    fake = io.BytesIO(b"%PDF-1.4 not a photo")
    fake.name = "photo.jpg"
    response = api.post(reverse("api:media-list"), {"file": fake}, format="multipart")
    assert response.status_code == 400 and "not an image" in str(response.json())
    assert not MediaAsset.objects.exists()
    assert api.post(reverse("api:media-list"), {}, format="multipart").status_code == 400


# role × endpoint × method → status
MATRIX = [
    ("campaign-list", "get", {"marketing": 200, "approver": 200, "manager": 403, "anonymous": 401}),
    ("campaign-list", "post", {"marketing": 201, "approver": 403, "manager": 403, "anonymous": 401}),
    ("moment-list", "get", {"marketing": 200, "approver": 200, "manager": 403, "anonymous": 401}),
    ("media-list", "get", {"marketing": 200, "approver": 200, "manager": 403, "anonymous": 401}),
    ("hashtag-list", "post", {"marketing": 201, "approver": 403, "manager": 403, "anonymous": 401}),
    ("cta-list", "get", {"marketing": 200, "approver": 200, "manager": 403, "anonymous": 401}),
]


@pytest.mark.parametrize("name,method,expected", MATRIX, ids=[f"{n}-{m}" for n, m, _ in MATRIX])
def test_the_permission_matrix(api, marketing_admin, approver, east_manager, name, method, expected):
    users = {"marketing": marketing_admin, "approver": approver, "manager": east_manager, "anonymous": None}
    start = timezone.localdate() + dt.timedelta(days=30)
    bodies = {"campaign-list": {"name": "x", "starts_on": start, "ends_on": start}, "hashtag-list": {"text": "新品"}}
    for role, status in expected.items():
        api.force_authenticate(users[role])
        response = getattr(api, method)(reverse(f"api:{name}"), bodies.get(name, {}), format="json")
        assert response.status_code == status, (role, response.content[:300])
        Hashtag.objects.all().delete()


def test_a_manager_gets_nothing_of_a_campaign(api, east_manager, moment):
    _as(api, east_manager)
    assert api.get(reverse("api:campaign-detail", args=[moment.campaign.public_id])).status_code == 403
    assert api.get(reverse("api:moment-detail", args=[moment.public_id])).status_code == 403
    assert api.post(reverse("api:moment-submit", args=[moment.public_id])).status_code == 403


def test_unknown_ids_are_404(api, marketing_admin):
    _as(api, marketing_admin)
    assert api.post(reverse("api:moment-submit", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_the_whole_plan_through_the_api_and_a_clone(api, marketing_admin, approver, moment, directory):
    _as(api, marketing_admin)
    api.post(reverse("api:moment-variants", args=[moment.public_id]), _variant_body(directory), format="json")
    campaign = moment.campaign
    assert api.post(reverse("api:campaign-submit", args=[campaign.public_id])).json()["state"] == "in_review"
    _as(api, approver)
    rejected = api.post(reverse("api:campaign-reject", args=[campaign.public_id]), {"note": ""}, format="json")
    assert rejected.status_code == 400 and "Say why" in str(rejected.json())
    assert api.post(reverse("api:campaign-approve", args=[campaign.public_id])).json()["state"] == "approved"
    _as(api, marketing_admin)
    clone = api.post(reverse("api:campaign-clone", args=[campaign.public_id]))
    assert clone.status_code == 200 and clone.json()["state"] == "draft" and clone.json()["moment_count"] == 1


def test_an_edit_through_the_api_sends_an_approved_moment_back(api, marketing_admin, approver, moment, directory):
    _as(api, marketing_admin)
    variant = api.post(reverse("api:moment-variants", args=[moment.public_id]), _variant_body(directory),
                       format="json").json()  # fmt: skip
    api.post(reverse("api:moment-submit", args=[moment.public_id]))
    _as(api, approver)
    api.post(reverse("api:moment-approve", args=[moment.public_id]))
    _as(api, marketing_admin)
    changed = api.put(reverse("api:variant-detail", args=[variant["public_id"]]),
                      _variant_body(directory, copy="新文案"), format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["copy"] == "新文案"
    moment.refresh_from_db()
    assert moment.state == State.DRAFT


def test_list_endpoints_do_not_grow_in_queries(api, marketing_admin, directory, django_assert_max_num_queries):
    for i in range(4):
        campaign = cf.campaign(marketing_admin, name=f"c{i}")
        for day in range(3):
            cf.variant(cf.moment(campaign, day=day), departments=[directory.east], hashtags=["情人节"])
    _as(api, marketing_admin)
    for name in ("campaign-list", "moment-list", "media-list", "hashtag-list", "cta-list"):
        with django_assert_max_num_queries(14):
            assert api.get(reverse(f"api:{name}")).status_code == 200
    assert len(api.get(reverse("api:moment-list")).json()["results"]) == 12


def test_an_approver_who_also_writes_cannot_approve_their_own_draft(api, moment, directory):
    from django.contrib.auth.models import Group

    from staff.roles import APPROVER, MARKETING_ADMIN
    from staff.tests import factories

    both = factories.user("both", role=MARKETING_ADMIN)
    both.groups.add(Group.objects.get(name=APPROVER))
    _as(api, both)
    api.post(reverse("api:moment-variants", args=[moment.public_id]), _variant_body(directory), format="json")
    api.post(reverse("api:moment-submit", args=[moment.public_id]))
    refused = api.post(reverse("api:moment-approve", args=[moment.public_id]))
    assert refused.status_code == 403 and "another approver" in refused.json()["detail"]
    moment.refresh_from_db()
    assert moment.state == State.IN_REVIEW


def test_the_same_hashtag_or_photo_twice_counts_once(api, marketing_admin, moment, directory):
    _as(api, marketing_admin)
    photo = _upload(api).json()["public_id"]
    body = _variant_body(directory, hashtags=["情人节", "#情人节", "＃情人节"], images=[photo, photo])
    response = api.post(reverse("api:moment-variants", args=[moment.public_id]), body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["hashtags"] == ["情人节"] and response.json()["images"] == [photo]
