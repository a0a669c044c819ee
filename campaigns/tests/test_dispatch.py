"""Dispatch and notification against the WeCom sandbox over real HTTP: tasks
created once, each associate notified once (faults, retries, crashed claims),
and the associate's link page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Moment, PublishTask, State
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm


def _notify(task, wecom):
    return dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())


def test_dispatch_creates_each_task_once_and_queues_after_commit(scheduled, django_capture_on_commit_callbacks):
    from django.db import transaction

    with transaction.atomic():  # so the after-commit callback can be looked at, then dropped
        with django_capture_on_commit_callbacks(execute=False) as queued:
            assert dispatch.dispatch_due() == [scheduled.pk]
        assert len(queued) == 1
        transaction.set_rollback(True)
    assert dispatch.dispatch_due(enqueue=False) == [scheduled.pk]
    assert dispatch.dispatch_due(enqueue=False) == []  # claimed already
    scheduled.refresh_from_db()
    assert scheduled.state == State.DISPATCHING and scheduled.dispatched_at
    assert sorted(PublishTask.objects.values_list("associate__userid", flat=True)) == ["ken", "lily", "mia"]
    assert dispatch.moment_tasks_create(scheduled) == 0  # a second run inserts nothing


def test_a_moment_not_yet_due_waits(scheduled):
    Moment.objects.filter(pk=scheduled.pk).update(publish_at=timezone.now() + dt.timedelta(minutes=1))
    assert dispatch.dispatch_due() == []


def test_each_associate_is_notified_once_with_their_link(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    lily = PublishTask.objects.get(associate__userid="lily")
    assert _notify(lily, wecom) == PublishTask.State.NOTIFIED
    assert _notify(lily, wecom) == PublishTask.State.NOTIFIED  # claimed once: no second send
    message = sm.Message.objects.get(userid="lily")
    assert message.outcome == "delivered"
    assert message.content["textcard"]["url"].startswith("https://moments.example.com/p/")
    lily.refresh_from_db()
    assert lily.msgid == message.msgid and lily.notified_at


def test_permanent_errors_fail_the_task_with_a_reason(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    mia = PublishTask.objects.get(associate__userid="mia")
    assert _notify(mia, wecom) == PublishTask.State.FAILED
    mia.refresh_from_db()
    assert "license" in mia.error


def test_a_transient_fault_is_retried_until_delivered_once(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    ken = PublishTask.objects.get(associate__userid="ken")
    sm.Fault.objects.create(endpoint="message/send", errcode=-1, remaining=1)
    with pytest.raises(dispatch.NotifyRetry) as retry:
        _notify(ken, wecom)
    assert 2.5 <= retry.value.countdown <= 5
    ken.refresh_from_db()
    assert ken.state == PublishTask.State.PENDING and ken.attempts == 1
    assert _notify(ken, wecom) == PublishTask.State.NOTIFIED
    assert list(sm.Message.objects.filter(userid="ken").values_list("outcome", flat=True)) == ["delivered"]


def test_a_crashed_claim_is_reconciled_and_the_resend_is_suppressed(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    lily = PublishTask.objects.get(associate__userid="lily")
    _notify(lily, wecom)
    # The worker sent the card and died before recording it: the task still says "notifying".
    PublishTask.objects.filter(pk=lily.pk).update(state=PublishTask.State.NOTIFYING, notified_at=None, msgid="",
                                                  claimed_at=timezone.now() - dt.timedelta(hours=1))  # fmt: skip
    Moment.objects.filter(pk=scheduled.pk).update(dispatched_at=timezone.now() - dt.timedelta(hours=1))
    summary = dispatch.reconcile()
    assert summary["stale_claims"] == 1
    assert _notify(lily, wecom) == PublishTask.State.NOTIFIED
    outcomes = list(sm.Message.objects.filter(userid="lily").values_list("outcome", flat=True))
    assert outcomes == ["delivered", "duplicate"]  # WeCom's duplicate check: Lily saw it once


def test_the_moment_goes_live_when_every_task_is_settled(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        _notify(task, wecom)
    assert dispatch.reconcile()["live"] == 1
    scheduled.refresh_from_db()
    assert scheduled.state == State.LIVE


def test_a_live_moment_closes_at_its_expiry_and_open_tasks_expire(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        _notify(task, wecom)
    tasks = list(PublishTask.objects.filter(state=PublishTask.State.NOTIFIED).order_by("pk"))
    assert len(tasks) >= 2
    PublishTask.objects.filter(pk=tasks[0].pk).update(state=PublishTask.State.PUBLISHED, published_at=timezone.now())
    dispatch.reconcile()
    scheduled.refresh_from_db()
    assert dispatch.reconcile(now=scheduled.expires_at - dt.timedelta(seconds=1))["closed"] == 0
    assert dispatch.reconcile(now=scheduled.expires_at)["closed"] == 1
    scheduled.refresh_from_db()
    assert scheduled.state == State.CLOSED and scheduled.campaign.state == State.CLOSED
    states = dict(PublishTask.objects.values_list("pk", "state"))
    assert states[tasks[0].pk] == PublishTask.State.PUBLISHED
    assert {states[t.pk] for t in tasks[1:]} == {PublishTask.State.EXPIRED}
    assert dispatch.reconcile(now=scheduled.expires_at)["closed"] == 0  # once


def test_a_cancelled_moment_notifies_nobody(scheduled, wecom, marketing_admin):
    dispatch.dispatch_due(enqueue=False)
    Moment.objects.filter(pk=scheduled.pk).update(state=State.CANCELLED)
    lily = PublishTask.objects.get(associate__userid="lily")
    assert _notify(lily, wecom) == PublishTask.State.CANCELLED
    assert not sm.Message.objects.exists()


# --- the associate's page ------------------------------------------------------------------------------
@pytest.fixture
def lily_link(scheduled, wecom):
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    _notify(task, wecom)
    return task, "/p/" + dispatch.publish_link_token(task) + "/"


def test_the_link_opens_the_preview_and_one_click_creates_one_wecom_task(lily_link, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    task, url = lily_link
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(url)
    assert (
        page.status_code == 200
        and "moment-preview" in page.content.decode()
        and 'id="publish"' in page.content.decode()
    )
    task.refresh_from_db()
    assert task.state == PublishTask.State.OPENED
    assert browser.post(url, {"copy": "x"}).status_code == 403  # no CSRF token
    token = page.cookies["csrftoken"].value
    done = browser.post(url, {"copy": "我的推荐 🌹", "csrfmiddlewaretoken": token})
    assert done.status_code == 200 and 'data-state="publish_requested"' in done.content.decode()
    again = browser.post(url, {"csrfmiddlewaretoken": token})
    assert again.status_code == 200
    job = sm.MomentJob.objects.get()  # one task in WeCom, however often the button is pressed
    assert job.request["visible_range"]["sender_list"]["user_list"] == ["lily"]
    assert job.request["text"]["content"].endswith("#情人节")
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISH_REQUESTED and task.wecom_jobid == job.jobid


def test_the_page_runs_a_handful_of_queries(lily_link, django_assert_max_num_queries):
    """The task with its moment, variant and associate; the open mark; forbidden words; hashtags; photos;
    the short link; today's feed slots. The page is opened by thousands in the minute after a dispatch."""
    task, url = lily_link
    browser = Client()
    assert browser.get(url).status_code == 200  # the first opening creates the associate's short links
    with django_assert_max_num_queries(7):
        assert browser.get(url).status_code == 200


@pytest.mark.parametrize("change,status,words", [
    ("forged", 404, "not valid"), ("cancelled", 410, "withdrawn"), ("expired", 410, "expired"),
])  # fmt: skip
def test_bad_links_get_a_clear_page(lily_link, change, status, words):
    task, url = lily_link
    if change == "forged":
        url = url[:-6] + "abcde/"
    elif change == "cancelled":
        Moment.objects.filter(pk=task.moment_id).update(state=State.CANCELLED)
    else:
        past = timezone.now() - dt.timedelta(minutes=1)
        Moment.objects.filter(pk=task.moment_id).update(publish_at=past - dt.timedelta(hours=1), expires_at=past)
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(url)
    assert page.status_code == status and words in page.content.decode()


def test_feed_slots_count_what_was_published_today(lily_link):
    from analytics.selectors import feed_slots_left

    task, url = lily_link
    assert feed_slots_left(associate_id=task.associate_id) == 3
    PublishTask.objects.filter(pk=task.pk).update(state=PublishTask.State.PUBLISH_REQUESTED,
                                                  publish_requested_at=timezone.now())  # fmt: skip
    assert feed_slots_left(associate_id=task.associate_id) == 2
    mine = reverse("campaigns:my-tasks", args=[dispatch.my_tasks_token(task.associate)])
    assert "2 feed slots left today" in Client(HTTP_ACCEPT_LANGUAGE="en").get(mine).content.decode()  # the same


def test_the_moment_page_shows_the_funnel_and_the_task_list(scheduled, wecom):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        _notify(task, wecom)
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    admin.force_login(get_user_model().objects.get(username="writer"))
    page = admin.get(reverse("admin:campaigns_moment_change", args=[scheduled.pk])).content.decode()
    assert "targeted 3 → Notified 2" in page and "Failed 1" in page
    listing = admin.get(reverse("admin:campaigns_publishtask_changelist"), {"state__exact": "failed"})
    assert "license" in listing.content.decode()


def test_the_task_is_published_once_wecom_says_the_member_published(lily_link, settings, wecom_base_url, wecom):
    from wecom.sandbox import publishing

    settings.WECOM_BASE_URL = wecom_base_url
    task, url = lily_link
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.get(url)
    browser.post(url, {"copy": "我的推荐"})
    assert dispatch.publish_confirm(client=wecom) == {"jobs_done": 1, "published": 0, "failed": 0}
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISH_REQUESTED and task.wecom_moment_id  # clicked, not yet confirmed
    wecom_moment = sm.Moment.objects.get(moment_id=task.wecom_moment_id)
    publishing.publish_enterprise(wecom_moment, sm.Member.objects.get(userid="lily"))  # Lily confirms in WeCom
    assert dispatch.publish_confirm(client=wecom)["published"] == 1
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISHED and task.published_at
    assert dispatch.publish_confirm(client=wecom)["published"] == 0


def test_cancelling_a_live_moment_stops_its_tasks_and_cancels_the_wecom_task(lily_link, settings, wecom_base_url,
                                                                              wecom, marketing_admin):  # fmt: skip
    from campaigns.tasks import wecom_cancel_task

    settings.WECOM_BASE_URL = wecom_base_url
    task, url = lily_link
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.post(url, {})
    dispatch.publish_confirm(client=wecom)
    moment = Moment.objects.get(pk=task.moment_id)
    services.moment_cancel(moment=moment, by=marketing_admin, note="活动取消")  # on_commit ran the task's delay
    states = dict(PublishTask.objects.values_list("associate__userid", "state"))
    assert states["lily"] == "cancelled" and states["ken"] == "cancelled"
    task.refresh_from_db()
    assert wecom_cancel_task.run([task.wecom_moment_id]) == 1
    assert sm.Moment.objects.get(moment_id=task.wecom_moment_id).cancelled
    assert "withdrawn" in browser.get(url).content.decode()


def _local(hour: int) -> dt.datetime:
    return timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0)


def test_nobody_is_notified_at_night_the_task_waits_for_the_morning(scheduled, wecom, settings):
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = 22, 8
    dispatch.dispatch_due(enqueue=False)
    lily = PublishTask.objects.get(associate__userid="lily")
    limiter = LocalTokenBucket()
    night = _local(23)
    assert dispatch.publish_task_notify(task_id=lily.pk, client=wecom, limiter=limiter, now=night) == "pending"
    assert dispatch.publish_task_notify(task_id=lily.pk, client=wecom, limiter=limiter, now=_local(3)) == "pending"
    assert not sm.Message.objects.exists()
    assert dispatch.reconcile(now=night)["batches"] == 0  # nothing queued at night
    assert dispatch.publish_task_notify(task_id=lily.pk, client=wecom, limiter=limiter, now=_local(9)) == "notified"


@pytest.mark.parametrize("start,end,hour,quiet", [(22, 8, 23, True), (22, 8, 7, True), (22, 8, 8, False),
                                                  (22, 8, 12, False), (0, 6, 3, True), (0, 6, 6, False),
                                                  (0, 0, 3, False)])  # fmt: skip
def test_quiet_hours_across_midnight(settings, start, end, hour, quiet):
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = start, end
    assert dispatch.in_quiet_hours(_local(hour)) is quiet


def test_reminders_go_to_those_who_have_not_published_at_most_twice(scheduled, wecom, settings):
    settings.MOMENTS_REMINDER_AFTER_HOURS, settings.MOMENTS_REMINDER_MAX = 3, 2
    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        _notify(task, wecom)
    PublishTask.objects.filter(associate__userid="ken").update(state=PublishTask.State.PUBLISHED)
    limiter = LocalTokenBucket()
    start = timezone.now()
    assert dispatch.reminders_send(client=wecom, limiter=limiter, now=start) == 0  # too early
    for hours, expected in ((3, 1), (3.5, 0), (6, 1), (9, 0)):
        now = start + dt.timedelta(hours=hours)
        if now >= scheduled.expires_at:
            break
        assert dispatch.reminders_send(client=wecom, limiter=limiter, now=now) == expected, hours
    titles = [m.content["textcard"]["title"] for m in sm.Message.objects.filter(userid="lily").order_by("id")]
    assert [t.split("：")[0] for t in titles[1:]] == ["提醒 1", "提醒 2"]
    assert not sm.Message.objects.filter(userid="ken", content__textcard__title__startswith="提醒").exists()
    after_expiry = scheduled.expires_at + dt.timedelta(minutes=1)
    PublishTask.objects.update(reminders_sent=0, reminded_at=None)
    assert dispatch.reminders_send(client=wecom, limiter=limiter, now=after_expiry) == 0


def test_my_tasks_today_lists_open_tasks_for_one_day(lily_link):
    task, url = lily_link
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(url).content.decode()
    my_url = "/p/today/" + dispatch.my_tasks_token(task.associate) + "/"
    assert my_url in page
    listing = browser.get(my_url)
    assert listing.status_code == 200 and str(task.public_id) in listing.content.decode()
    yesterday = dispatch.my_tasks_token(task.associate, day=timezone.localdate() - dt.timedelta(days=1))
    assert browser.get("/p/today/" + yesterday + "/").status_code == 410
    assert browser.get(my_url[:-4] + "xx/").status_code == 404
    PublishTask.objects.filter(pk=task.pk).update(state=PublishTask.State.PUBLISHED)
    assert "Nothing left to publish today" in browser.get(my_url).content.decode()
