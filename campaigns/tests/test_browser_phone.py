"""The associate's page on a phone (headless Chromium at a phone viewport): open
the link from the notification, add a personal touch, publish, see the
confirmation. Screenshots go to test-results/."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import dispatch
from campaigns.models import PublishTask
from campaigns.tests import factories as cf
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm

pytestmark = pytest.mark.browser
ARTIFACTS = Path("test-results")


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 390, "height": 844},
            "is_mobile": True, "has_touch": True, "device_scale_factor": 2}  # fmt: skip


def _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url):
    """The moment is dispatched and Lily notified: her task and the link she taps in WeCom."""
    ARTIFACTS.mkdir(exist_ok=True)
    settings.WECOM_BASE_URL = wecom_base_url
    settings.MOMENTS_PUBLIC_URL = live_server.url
    scheduled.variants.update(personal_touch="edit")
    cf.approved_again(scheduled)
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    return task, sm.Message.objects.get(userid="lily").content["textcard"]["url"]


def test_an_associate_opens_the_link_edits_and_publishes(page, live_server, scheduled, wecom, settings,
                                                         wecom_base_url):  # fmt: skip
    task, link = _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url)

    page.goto(link)
    assert page.locator(".moment-preview").is_visible()
    assert "今天你还可以再发" in page.inner_text("body")
    page.fill("#id_copy", "我亲自试过，真的很香 🌹")
    assert "我亲自试过" in page.locator("[data-preview-copy]").inner_text()  # the card follows the typing
    page.screenshot(path=str(ARTIFACTS / "phone-publish.png"), full_page=True)
    page.click("#publish")
    page.wait_for_selector("[data-state=publish_requested]")
    page.screenshot(path=str(ARTIFACTS / "phone-published.png"), full_page=True)

    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISH_REQUESTED and task.edited_copy.startswith("我亲自试过")
    job = sm.MomentJob.objects.get()
    assert job.request["text"]["content"].startswith("我亲自试过") and "#情人节" in job.request["text"]["content"]


@pytest.fixture
def in_wecom(browser_context_args):
    """The WeCom client on a phone, signed in as Lily (the sandbox's JS-SDK reads who)."""
    return {
        **browser_context_args,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh "
        "wxwork-sandbox-user/lily",
    }


def test_inside_wecom_publish_goes_through_the_js_sdk(browser, in_wecom, live_server, scheduled, wecom, settings,
                                                      wecom_base_url):  # fmt: skip
    """wx.agentConfig signed from the app's ticket, then shareToExternalMoments: the post is
    Lily's own; the task is published when get_moment_list shows it, not on the click."""
    task, link = _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url)

    context = browser.new_context(**in_wecom)
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector("form[data-wecom=ready]")  # the sandbox accepted the signature
    page.fill("#id_copy", "店里刚到的玫瑰礼盒")
    page.click("#publish")
    page.wait_for_selector("[data-state=publish_requested]")
    page.screenshot(path=str(ARTIFACTS / "phone-wecom-shared.png"), full_page=True)
    context.close()

    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISH_REQUESTED and task.via == PublishTask.Via.JSSDK
    post = sm.Moment.objects.get(creator__userid="lily")  # a personal post, not a WeCom task
    assert post.text.startswith("店里刚到的玫瑰礼盒") and "#情人节" in post.text
    assert not sm.MomentJob.objects.exists()
    assert dispatch.publish_confirm(client=wecom)["published"] == 1
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISHED and task.wecom_moment_id == post.moment_id


def test_inside_wecom_a_bad_signature_falls_back_to_the_server(browser, in_wecom, live_server, scheduled, wecom,
                                                               settings, wecom_base_url):  # fmt: skip
    settings.WECOM_BASE_URL = wecom_base_url
    settings.MOMENTS_PUBLIC_URL = live_server.url
    from django.core.cache import cache

    # A ticket WeCom never issued (say, one that outlived a secret rotation): agentConfig fails.
    cache.set(f"wecom:agent-ticket:{settings.WECOM_CORP_ID}:{settings.WECOM_AGENT_ID}", "forged-ticket", 600)
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    context = browser.new_context(**in_wecom)
    page = context.new_page()
    page.goto(live_server.url + dispatch.publish_link(task).replace(settings.MOMENTS_PUBLIC_URL, ""))
    page.wait_for_selector("form[data-wecom=unavailable]")
    page.click("#publish")  # the server path: a WeCom task for Lily
    page.wait_for_selector("[data-state=publish_requested]")
    context.close()
    cache.delete(f"wecom:agent-ticket:{settings.WECOM_CORP_ID}:{settings.WECOM_AGENT_ID}")
    task.refresh_from_db()
    assert task.via == PublishTask.Via.SERVER and sm.MomentJob.objects.count() == 1


def test_inside_wecom_a_link_sent_to_someone_else_is_refused(browser, in_wecom, live_server, scheduled, wecom,
                                                              settings, wecom_base_url):  # fmt: skip
    """Ken's link, forwarded to Lily: WeCom's OAuth (the sandbox's page) says it is Lily."""
    _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url)
    ken = PublishTask.objects.get(associate__userid="ken")
    context = browser.new_context(**in_wecom)
    page = context.new_page()
    page.goto(live_server.url + "/p/" + dispatch.publish_link_token(ken) + "/")
    page.wait_for_selector("[data-refused=other_associate]")
    assert "/p/" in page.url and "code=" not in page.url
    page.screenshot(path=str(ARTIFACTS / "phone-wecom-other-associate.png"), full_page=True)
    context.close()
    ken.refresh_from_db()
    assert ken.state == PublishTask.State.PENDING and not sm.MomentJob.objects.exists()


def test_a_refused_personal_touch_is_explained_on_the_phone_and_nothing_is_sent(
    page, live_server, scheduled, wecom, settings, wecom_base_url
):
    from campaigns.models import ForbiddenWord

    ForbiddenWord.objects.create(word="最低价")
    task, link = _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url)
    page.goto(link)
    page.fill("#id_copy", "全网最低价！快来抢 http://evil.example/x")
    page.click("#publish")
    refusal = page.wait_for_selector("[data-refused=touch]:not([hidden])")
    text = refusal.inner_text()
    assert "最低价" in text and "http://evil.example/x" in text
    page.screenshot(path=str(ARTIFACTS / "phone-touch-refused.png"), full_page=True)
    assert not sm.MomentJob.objects.exists()
    task.refresh_from_db()
    assert task.state == PublishTask.State.OPENED


def test_inside_wecom_a_refused_touch_is_explained_without_opening_the_composer(
    browser, in_wecom, live_server, scheduled, wecom, settings, wecom_base_url
):
    from campaigns.models import ForbiddenWord

    ForbiddenWord.objects.create(word="最低价")
    task, link = _lily_notified(live_server, scheduled, wecom, settings, wecom_base_url)
    context = browser.new_context(**in_wecom)
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector("form[data-wecom=ready]")
    page.fill("#id_copy", "全网最低价")
    page.click("#publish")
    refusal = page.wait_for_selector("#touch-error:not([hidden])")
    assert "最低价" in refusal.inner_text()
    context.close()
    assert not sm.Moment.objects.filter(creator__userid="lily").exists()  # WeCom's composer never opened


def test_inside_wecom_a_tagged_variant_is_published_as_a_task_with_its_tags(
    browser, in_wecom, live_server, team, wecom, settings, wecom_base_url
):
    """No JS-SDK for a tagged variant: shareToExternalMoments would show it to whoever WeCom's composer has."""
    import datetime as dt

    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Moment
    from staff.roles import APPROVER, MARKETING_ADMIN
    from staff.tests import factories

    ARTIFACTS.mkdir(exist_ok=True)
    settings.WECOM_BASE_URL = wecom_base_url
    settings.MOMENTS_PUBLIC_URL = live_server.url
    store, _people = team
    gold = factories.tag("金卡")
    group, _created = sm.TagGroup.objects.get_or_create(group_id="g-tier", defaults={"name": "Tier"})
    sm.Tag.objects.get_or_create(tag_id=gold.tag_id, defaults={"name": "金卡", "group": group})
    writer, approver = factories.user("writer", role=MARKETING_ADMIN), factories.user("checker", role=APPROVER)
    now = timezone.now()
    moment = Moment.objects.create(
        campaign=cf.campaign(writer, days_ahead=0, length=2),
        title="金卡专享",
        publish_at=now + dt.timedelta(minutes=5),
        expires_at=now + dt.timedelta(hours=9),
    )
    cf.variant(moment, departments=[store], tags=[gold], name="金卡会员")
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    Moment.objects.filter(pk=moment.pk).update(publish_at=now - dt.timedelta(seconds=1))
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    link = sm.Message.objects.get(userid="lily").content["textcard"]["url"]

    context = browser.new_context(**in_wecom)
    page = context.new_page()
    page.goto(link)
    assert page.locator("[data-audience=tagged]").is_visible()
    assert page.locator("form[data-share-url]").count() == 0  # no JS-SDK path offered
    page.screenshot(path=str(ARTIFACTS / "phone-wecom-tagged.png"), full_page=True)
    page.click("#publish")
    page.wait_for_selector("[data-state=publish_requested]")
    context.close()
    job = sm.MomentJob.objects.get()
    assert job.request["visible_range"]["external_contact_list"] == {"tag_list": [gold.tag_id]}
    assert not sm.Moment.objects.filter(creator__userid="lily").exists()
