"""The associate's page on a phone (headless Chromium at a phone viewport): open
the link from the notification, add a personal touch, publish, see the
confirmation. Screenshots go to test-results/."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import dispatch
from campaigns.models import PublishTask
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm

pytestmark = pytest.mark.browser
ARTIFACTS = Path("test-results")


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 390, "height": 844},
            "is_mobile": True, "has_touch": True, "device_scale_factor": 2}  # fmt: skip


def test_an_associate_opens_the_link_edits_and_publishes(page, live_server, scheduled, wecom, settings,
                                                         wecom_base_url):  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    settings.WECOM_BASE_URL = wecom_base_url
    settings.MOMENTS_PUBLIC_URL = live_server.url
    scheduled.variants.update(allow_personal_touch=True)
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    link = sm.Message.objects.get(userid="lily").content["textcard"]["url"]  # what Lily taps in WeCom

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
