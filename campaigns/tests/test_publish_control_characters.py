"""The associate's publish page and a NUL byte in what they wrote (issue #18): a 400 with a message
from the input guard (common.input_guard) before the view, nothing sent to WeCom, the task
unchanged; inside the client (``share``, which answers JSON) too."""

from __future__ import annotations

from django.test import Client

from campaigns import dispatch
from campaigns.models import PublishTask
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm


def _lily_task(wecom):
    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    return PublishTask.objects.get(associate__userid="lily")


def test_it_refuses_a_nul_byte_in_the_copy_with_a_message(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    scheduled.variants.update(personal_touch="edit")
    task = _lily_task(wecom)
    link = "/p/" + dispatch.publish_link_token(task) + "/"
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert browser.get(link).status_code == 200
    task.refresh_from_db()
    state = task.state  # opened
    answer = browser.post(link, "copy=hi%00there", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and "“copy” contains a control character" in answer.content.decode()
    shared = browser.post(link + "share", "copy=hi%00there", content_type="application/x-www-form-urlencoded",
                          HTTP_ACCEPT="application/json")  # fmt: skip
    assert shared.status_code == 400 and "control character" in shared.json()["detail"]
    task.refresh_from_db()
    assert task.state == state and not sm.MomentJob.objects.exists()
