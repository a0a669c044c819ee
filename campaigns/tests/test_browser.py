"""Drafting in a real browser (headless Chromium): a writer drafts a campaign with
two variants, uploads photos, picks a hashtag and a call to action, sees the
preview and submits; a second login approves. Screenshots go to test-results/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from campaigns.models import Campaign, Hashtag, Moment, State, Variant
from campaigns.tests import factories as cf
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories

pytestmark = pytest.mark.browser
ARTIFACTS = Path("test-results")
PASSWORD = "a-long-test-password"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US", "viewport": {"width": 1366, "height": 1000}}


def _login(page, live_server, username):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def _user(name, role):
    user = factories.user(name, role=role)
    user.set_password(PASSWORD)
    user.save()
    return user


def _photo(tmp_path, name, color):
    path = tmp_path / name
    Image.new("RGB", (1600, 1200), color).save(path, format="JPEG")
    return str(path)


def _pick(page, field_id, text):
    """Choose ``text`` in the select2 autocomplete of ``field_id``."""
    page.locator(f"#{field_id}").locator("xpath=following-sibling::span[contains(@class,'select2')]").first.click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def test_a_writer_drafts_and_submits_and_another_login_approves(page, live_server, directory, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    _user("writer", MARKETING_ADMIN)
    _user("checker", APPROVER)
    Hashtag.objects.create(text="情人节", kind=Hashtag.Kind.CAMPAIGN)
    start = timezone.localdate() + dt.timedelta(days=30)
    cta = cf.discount(dt.datetime.combine(start, dt.time(20), tzinfo=timezone.get_current_timezone()))

    _login(page, live_server, "writer")
    # 1. The campaign and its moment.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "情人节 2027")
    page.fill("#id_goal", "85% 会员触达")
    page.fill("#id_starts_on", start.isoformat())
    page.fill("#id_ends_on", (start + dt.timedelta(days=4)).isoformat())
    page.locator("#moments-group a.add-row").click()
    page.fill("#id_moments-0-title", "第一天：预热")
    page.fill("#id_moments-0-publish_at_0", start.isoformat())
    page.fill("#id_moments-0-publish_at_1", "10:00:00")
    page.fill("#id_moments-0-expires_at_0", start.isoformat())
    page.fill("#id_moments-0-expires_at_1", "22:00:00")
    page.click("button[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/campaigns/campaign/")
    moment = Moment.objects.get(title="第一天：预热")

    # 2. Two variants: gold members with photos, hashtag and CTA; everyone else with copy only.
    for name, tags, photos in (("金卡会员", [directory.gold], ["pink", "red"]), ("其他客户", [], [])):
        query = f"moment={moment.pk}&target_departments={directory.east.pk}"
        page.goto(f"{live_server.url}/admin/campaigns/variant/add/?{query}")
        page.fill("#id_name", name)
        page.select_option("#id_tone", label="亲切温暖")
        page.fill("#id_copy", "玫瑰系列上新，情人节限时九折 🌹")
        if tags:
            page.uncheck("#id_audience_all")
            _pick(page, "id_audience_tags", "Gold")
            _pick(page, "id_cta", "限时九折")
            page.set_input_files("#id_upload_photos", [_photo(tmp_path, f"{c}.jpg", c) for c in photos])
            page.locator("#varianthashtag_set-group a.add-row").click()
            _pick(page, "id_varianthashtag_set-0-hashtag", "情人节")
        page.click("button[name=_continue]")
        page.wait_for_load_state()
        errors = page.locator(".errorlist, .errornote").all_inner_texts()
        assert "/change/" in page.url, errors
        assert page.locator(".moment-preview").is_visible()
    gold = Variant.objects.get(name="金卡会员")
    assert gold.images.count() == 2 and [h.text for h in gold.hashtags.all()] == ["情人节"] and gold.cta == cta
    page.goto(f"{live_server.url}/admin/campaigns/variant/{gold.pk}/change/")
    preview = page.locator(".moment-preview")
    assert preview.locator(".mp-grid img").count() == 2
    assert "#情人节" in preview.inner_text() and "限时九折" in preview.inner_text()
    page.fill("#id_copy", "live 预览")  # the card follows the typing
    assert "live 预览" in preview.inner_text()
    preview.screenshot(path=str(ARTIFACTS / "variant-preview.png"))

    # 3. Submit the moment.
    page.goto(f"{live_server.url}/admin/campaigns/moment/{moment.pk}/submit/")
    page.click("#confirm-transition")
    page.wait_for_url(f"{live_server.url}/admin/campaigns/moment/{moment.pk}/change/")
    moment.refresh_from_db()
    assert moment.state == State.IN_REVIEW

    # 4. Another login approves.
    _login(page, live_server, "checker")
    page.goto(f"{live_server.url}/admin/campaigns/moment/{moment.pk}/change/")
    assert page.locator(".moment-preview").count() == 2
    page.goto(f"{live_server.url}/admin/campaigns/moment/{moment.pk}/approve/")
    page.fill("#id_note", "可以发布")
    page.click("#confirm-transition")
    page.wait_for_url(f"{live_server.url}/admin/campaigns/moment/{moment.pk}/change/")
    moment.refresh_from_db()
    assert moment.state == State.APPROVED and Campaign.objects.get().state == State.APPROVED

    page.goto(f"{live_server.url}/admin/campaigns/moment/calendar/?month={start.strftime('%Y-%m')}")
    assert page.get_by_text("第一天：预热").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "calendar.png"), full_page=True)
