"""Campaign drafting through the admin: forms, uploads, previews, the workflow
buttons, who may do what, the calendar, bounded list queries."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from campaigns.models import Campaign, ForbiddenWord, MediaAsset, Moment, State, Variant
from campaigns.tests import factories as cf


def _jpeg(color="pink", name="rose.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), color).save(buffer, format="JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def _local(day: dt.date, hour: int) -> str:
    return dt.datetime.combine(day, dt.time(hour)).strftime("%Y-%m-%d %H:%M:%S")


def _split(value: str) -> dict:
    date, time = value.split(" ")
    return {"0": date, "1": time}


@pytest.fixture
def plan(marketing_admin, directory):
    campaign = cf.campaign(marketing_admin)
    moment = cf.moment(campaign)
    cf.variant(moment, departments=[directory.east], hashtags=["情人节"])
    return campaign


def test_a_campaign_is_created_with_its_moments_and_owned_by_its_writer(client, marketing_admin):
    client.force_login(marketing_admin)
    start = timezone.localdate() + dt.timedelta(days=20)
    publish, expires = _split(_local(start, 10)), _split(_local(start, 22))
    response = client.post(reverse("admin:campaigns_campaign_add"), {
        "name": "情人节 2027", "goal": "85% 会员触达", "starts_on": start, "ends_on": start + dt.timedelta(days=4),
        "moments-TOTAL_FORMS": "1", "moments-INITIAL_FORMS": "0",
        "moments-0-title": "预热", "moments-0-publish_at_0": publish["0"], "moments-0-publish_at_1": publish["1"],
        "moments-0-expires_at_0": expires["0"], "moments-0-expires_at_1": expires["1"], "moments-0-mode": "associate",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-3000:]
    campaign = Campaign.objects.get()
    assert campaign.owner == marketing_admin and campaign.state == State.DRAFT
    assert campaign.moments.get().edited_by == marketing_admin


def test_a_campaign_ending_before_it_starts_gets_a_plain_message(client, marketing_admin):
    client.force_login(marketing_admin)
    start = timezone.localdate() + dt.timedelta(days=20)
    response = client.post(reverse("admin:campaigns_campaign_add"), {
        "name": "倒过来", "starts_on": start, "ends_on": start - dt.timedelta(days=1),
        "moments-TOTAL_FORMS": "0", "moments-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 200
    assert "The last day cannot be before the first day." in response.content.decode()
    assert not Campaign.objects.exists()


def _variant_data(moment, directory, **extra):
    return {
        "moment": moment.pk, "name": "金卡会员", "tone": cf.Tone.objects.get(code="warm").pk, "audience_all": "on",
        "target_departments": [directory.east.pk], "copy": "玫瑰系列上新", "link_url": "", "link_title": "",
        "personal_touch": "none", "personal_line_max": "140",
        "varianthashtag_set-TOTAL_FORMS": "0", "varianthashtag_set-INITIAL_FORMS": "0",
        "variantimage_set-TOTAL_FORMS": "0", "variantimage_set-INITIAL_FORMS": "0", **extra,
    }  # fmt: skip


def test_a_variant_with_two_uploaded_photos_shows_them_in_its_preview(client, marketing_admin, plan, directory):
    client.force_login(marketing_admin)
    moment = plan.moments.get()
    data = _variant_data(moment, directory, upload_photos=[_jpeg("pink", "a.jpg"), _jpeg("red", "b.png")])
    response = client.post(reverse("admin:campaigns_variant_add"), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    variant = Variant.objects.get(name="金卡会员")
    assert variant.images.count() == 2 and MediaAsset.objects.count() == 2
    page = client.get(reverse("admin:campaigns_variant_change", args=[variant.pk])).content.decode()
    assert "moment-preview" in page and page.count("assets/thumbs/") >= 2 and "玫瑰系列上新" in page


def test_a_bad_upload_is_refused_by_name_and_stores_nothing(client, marketing_admin, plan, directory):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(marketing_admin)
    liar = SimpleUploadedFile("photo.jpg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/jpeg")
    response = client.post(reverse("admin:campaigns_variant_add"),
                           _variant_data(plan.moments.get(), directory, upload_photos=[liar]))  # fmt: skip
    assert response.status_code == 200
    assert "photo.jpg: This file is not an image we can read" in response.content.decode()
    assert not MediaAsset.objects.exists() and not Variant.objects.filter(name="金卡会员").exists()


def test_forbidden_words_and_long_link_titles_are_errors_on_their_fields(client, marketing_admin, plan, directory):
    client.force_login(marketing_admin)
    ForbiddenWord.objects.create(word="最低价")
    data = _variant_data(plan.moments.get(), directory, copy="全网最低价", link_title="玫" * 22,
                         link_url="https://brand.example.com")  # fmt: skip
    response = client.post(reverse("admin:campaigns_variant_add"), data)
    errors = response.context["adminform"].form.errors
    assert "最低价" in errors["copy"][0]
    assert "66 bytes" in errors["link_title"][0]
    assert "cover image" in errors["link_cover"][0]


def test_submit_then_a_second_login_approves(client, marketing_admin, approver, plan):
    moment = plan.moments.get()
    client.force_login(marketing_admin)
    assert client.get(reverse("admin:campaigns_moment_submit", args=[moment.pk])).status_code == 200
    client.post(reverse("admin:campaigns_moment_submit", args=[moment.pk]), {"note": "请审核"})
    moment.refresh_from_db()
    assert moment.state == State.IN_REVIEW
    assert client.post(reverse("admin:campaigns_moment_approve", args=[moment.pk])).status_code == 403
    client.force_login(approver)
    page = client.get(reverse("admin:campaigns_moment_change", args=[moment.pk]))
    assert page.status_code == 200 and "moment-preview" in page.content.decode()
    client.post(reverse("admin:campaigns_moment_approve", args=[moment.pk]), {"note": "OK"})
    moment.refresh_from_db()
    assert moment.state == State.APPROVED
    # The approver may look, not edit.
    assert client.post(reverse("admin:campaigns_moment_change", args=[moment.pk]), {"title": "x"}).status_code == 403


def test_submitting_an_incomplete_moment_lists_the_problems(client, marketing_admin, plan):
    moment = plan.moments.get()
    moment.variants.get().target_departments.clear()
    client.force_login(marketing_admin)
    response = client.post(reverse("admin:campaigns_moment_submit", args=[moment.pk]), follow=True)
    assert "departments or associates" in response.content.decode()
    moment.refresh_from_db()
    assert moment.state == State.DRAFT


def test_the_whole_plan_is_approved_at_once(client, marketing_admin, approver, plan, directory):
    cf.variant(cf.moment(plan, day=1), departments=[directory.east])
    client.force_login(marketing_admin)
    client.post(reverse("admin:campaigns_campaign_submit_plan", args=[plan.pk]))
    client.force_login(approver)
    client.post(reverse("admin:campaigns_campaign_approve_plan", args=[plan.pk]), {"note": "整体通过"})
    plan.refresh_from_db()
    assert plan.state == State.APPROVED
    assert set(plan.moments.values_list("state", flat=True)) == {State.APPROVED}


def test_an_edit_after_approval_sends_the_moment_back_to_draft(client, marketing_admin, approver, plan, directory):
    moment = plan.moments.get()
    client.force_login(marketing_admin)
    client.post(reverse("admin:campaigns_moment_submit", args=[moment.pk]))
    client.force_login(approver)
    client.post(reverse("admin:campaigns_moment_approve", args=[moment.pk]))
    client.force_login(marketing_admin)
    variant = moment.variants.get()
    response = client.post(reverse("admin:campaigns_variant_change", args=[variant.pk]),
                           _variant_data(moment, directory, copy="改过的文案"))  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    moment.refresh_from_db()
    assert moment.state == State.DRAFT


def test_a_manager_sees_nothing_of_campaigns(client, east_manager, plan):
    client.force_login(east_manager)
    assert client.get(reverse("admin:campaigns_campaign_changelist")).status_code == 403
    assert client.get(reverse("admin:campaigns_moment_calendar")).status_code == 403
    assert client.get(reverse("admin:campaigns_campaign_change", args=[plan.pk])).status_code == 403


def test_the_calendar_shows_moments_by_local_day(client, marketing_admin, plan):
    moment = plan.moments.get()
    client.force_login(marketing_admin)
    day = timezone.localtime(moment.publish_at).date()
    month = client.get(reverse("admin:campaigns_moment_calendar"), {"month": day.strftime("%Y-%m")})
    assert month.status_code == 200 and moment.title in month.content.decode()
    week = client.get(reverse("admin:campaigns_moment_calendar"), {"week": day.isoformat()})
    assert 'data-calendar="week"' in week.content.decode() and moment.title in week.content.decode()
    other = client.get(reverse("admin:campaigns_moment_calendar"), {"month": "2001-01"})
    assert moment.title not in other.content.decode()
    bad = client.get(reverse("admin:campaigns_moment_calendar"), {"month": "nope"}, follow=True)
    assert bad.status_code == 200


def test_clone_from_the_admin_confirms_first(client, marketing_admin, plan):
    client.force_login(marketing_admin)
    url = reverse("admin:campaigns_campaign_clone_plan", args=[plan.pk])
    confirm = client.get(url)  # a GET (a link, an image on another site) only asks
    assert confirm.status_code == 200 and Campaign.objects.count() == 1
    response = client.post(url, {})
    copy = Campaign.objects.exclude(pk=plan.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:campaigns_campaign_change",
                                                                            args=[copy.pk])  # fmt: skip
    moment = plan.moments.first()
    url = reverse("admin:campaigns_moment_clone", args=[moment.pk])
    before = Moment.objects.count()
    assert client.get(url).status_code == 200 and Moment.objects.count() == before
    response = client.post(url, {})
    assert Moment.objects.count() == before + 1
    assert response["Location"] == reverse("admin:campaigns_moment_change", args=[Moment.objects.latest("pk").pk])


def test_list_pages_do_not_grow_in_queries(client, marketing_admin, directory, django_assert_max_num_queries):
    for i in range(3):
        for day in range(3):
            cf.variant(cf.moment(cf.campaign(marketing_admin, name=f"c{i}"), day=day), departments=[directory.east])
    client.force_login(marketing_admin)
    for name in ("campaign", "moment", "variant", "mediaasset"):
        with django_assert_max_num_queries(14):
            assert client.get(reverse(f"admin:campaigns_{name}_changelist")).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("admin:campaigns_moment_calendar")).status_code == 200
    assert Moment.objects.count() == 9


def test_the_media_library_takes_a_video_and_refuses_a_fake(client, marketing_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(marketing_admin)
    clip = SimpleUploadedFile("clip.mp4", cf.mp4_for_tests(seconds=10), content_type="video/mp4")
    response = client.post(reverse("admin:campaigns_mediaasset_add"), {"upload": clip, "title": "花艺视频"})
    assert response.status_code == 302
    assert MediaAsset.objects.get().kind == MediaAsset.Kind.VIDEO
    long = SimpleUploadedFile("long.mp4", cf.mp4_for_tests(seconds=45), content_type="video/mp4")
    refused = client.post(reverse("admin:campaigns_mediaasset_add"), {"upload": long})
    assert "45 seconds" in refused.content.decode() and MediaAsset.objects.count() == 1


def test_a_photo_chosen_as_the_video_is_an_error(client, marketing_admin, plan, directory):
    client.force_login(marketing_admin)
    photo = cf.photo_asset()
    response = client.post(reverse("admin:campaigns_variant_add"),
                           _variant_data(plan.moments.get(), directory, video=photo.pk))  # fmt: skip
    assert response.context["adminform"].form.errors["video"]  # only videos are choices here
    assert not Variant.objects.filter(name="金卡会员").exists()


def test_the_media_library_takes_a_photo(client, marketing_admin):
    client.force_login(marketing_admin)
    response = client.post(reverse("admin:campaigns_mediaasset_add"), {"upload": _jpeg(), "title": "玫瑰"})
    assert response.status_code == 302
    asset = MediaAsset.objects.get()
    assert asset.kind == MediaAsset.Kind.IMAGE and asset.title == "玫瑰" and asset.uploaded_by == marketing_admin
