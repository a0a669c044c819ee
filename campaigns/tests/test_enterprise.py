"""Enterprise mode against the sandbox over real HTTP: one WeCom task per variant at
dispatch, its moment_id polled, the associates who publish it in WeCom confirmed;
a crash after WeCom took the task never makes a second one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import dispatch, enterprise, services
from campaigns.models import EnterpriseTask, Moment, PublishTask
from wecom.ratelimit import Unlimited
from wecom.sandbox import models as sm
from wecom.sandbox import publishing


@pytest.fixture
def enterprise_moment(scheduled):
    Moment.objects.filter(pk=scheduled.pk).update(mode=Moment.Mode.ENTERPRISE)
    dispatch.dispatch_due(enqueue=False)
    return Moment.objects.get(pk=scheduled.pk)


def test_one_wecom_task_for_every_associate_of_the_variant(enterprise_moment, wecom):
    (task,) = EnterpriseTask.objects.all()
    assert task.state == EnterpriseTask.State.PENDING
    assert enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom) == 1
    assert enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom) == 0  # claimed once
    (job,) = sm.MomentJob.objects.all()
    assert sorted(job.request["visible_range"]["sender_list"]["user_list"]) == ["ken", "lily", "mia"]
    assert "#情人节" in job.request["text"]["content"]
    assert set(PublishTask.objects.values_list("wecom_jobid", flat=True)) == {job.jobid}

    summary = enterprise.enterprise_tasks_poll(client=wecom)
    assert summary["done"] == 1
    task.refresh_from_db()
    assert task.state == EnterpriseTask.State.DONE and task.wecom_moment_id
    assert set(PublishTask.objects.values_list("wecom_moment_id", flat=True)) == {task.wecom_moment_id}


def test_those_who_publish_in_wecom_are_confirmed_without_opening_the_page(enterprise_moment, wecom):
    for userid in ("lily", "ken", "mia"):
        task_id = PublishTask.objects.get(associate__userid=userid).pk
        dispatch.publish_task_notify(task_id=task_id, client=wecom, limiter=Unlimited())
    enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    enterprise.enterprise_tasks_poll(client=wecom)
    moment_id = EnterpriseTask.objects.get().wecom_moment_id
    publishing.publish_enterprise(sm.Moment.objects.get(moment_id=moment_id), sm.Member.objects.get(userid="lily"))
    summary = dispatch.publish_confirm(client=wecom)
    assert summary["published"] == 1
    states = dict(PublishTask.objects.values_list("associate__userid", "state"))
    assert states["lily"] == "published" and states["ken"] == "notified"
    assert dispatch.publish_confirm(client=wecom)["published"] == 0


def test_the_page_says_where_to_publish_and_a_post_creates_nothing(enterprise_moment, wecom, settings,
                                                                   wecom_base_url):  # fmt: skip
    settings.WECOM_BASE_URL = wecom_base_url
    task = PublishTask.objects.get(associate__userid="lily")
    url = dispatch.publish_link(task).replace(settings.MOMENTS_PUBLIC_URL, "")
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(url).content.decode()
    assert "Waiting for you in WeCom" in page and 'id="publish"' not in page
    browser.post(url, {"copy": "x"})
    assert not sm.MomentJob.objects.exists()
    with pytest.raises(dispatch.PublishRefused):
        dispatch.publish_task_request(task=task, copy=None, client=wecom)


def test_a_crash_after_wecom_took_the_task_is_recovered_not_repeated(enterprise_moment, wecom, settings):
    """The worker died between add_moment_task and storing the jobid: the claim goes stale,
    the poll finds the moment WeCom made (same text, since the claim) and adopts it."""
    enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    task = EnterpriseTask.objects.get()
    # Forget what the worker would have stored, as if it had died before: a stale claim.
    long_ago = timezone.now() - dt.timedelta(seconds=settings.MOMENTS_STALE_CLAIM_SECONDS + 5)
    EnterpriseTask.objects.filter(pk=task.pk).update(state=EnterpriseTask.State.CREATING, wecom_jobid="",
                                                     claimed_at=long_ago)  # fmt: skip
    sm.MomentJob.objects.update(created_at=long_ago)
    summary = enterprise.enterprise_tasks_poll(client=wecom)
    assert summary["recovered"] == 1
    task.refresh_from_db()
    assert task.state == EnterpriseTask.State.DONE
    assert task.wecom_moment_id == sm.Moment.objects.get().moment_id
    assert sm.MomentJob.objects.count() == 1


def test_a_stale_claim_wecom_never_took_is_created_again(enterprise_moment, wecom, settings):
    task = EnterpriseTask.objects.get()
    long_ago = timezone.now() - dt.timedelta(seconds=settings.MOMENTS_STALE_CLAIM_SECONDS + 5)
    EnterpriseTask.objects.filter(pk=task.pk).update(state=EnterpriseTask.State.CREATING, claimed_at=long_ago,
                                                     text="玫瑰系列上新")  # fmt: skip
    assert enterprise.enterprise_tasks_poll(client=wecom)["retried"] == 1
    assert enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom) == 1
    assert sm.MomentJob.objects.count() == 1


def test_a_refused_task_fails_its_associates_with_the_reason(enterprise_moment, wecom):
    sm.Fault.objects.create(endpoint="externalcontact/add_moment_task", errcode=41064)
    enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    task = EnterpriseTask.objects.get()
    assert task.state == EnterpriseTask.State.FAILED and task.errcode == 41064
    assert set(PublishTask.objects.values_list("state", flat=True)) == {"failed"}
    assert "enterprise task" in PublishTask.objects.first().error


def test_a_transient_error_leaves_the_task_pending_for_a_retry(enterprise_moment, wecom):
    sm.Fault.objects.create(endpoint="externalcontact/add_moment_task", errcode=45009, remaining=1)
    with pytest.raises(enterprise.EnterpriseRetry):
        enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    assert EnterpriseTask.objects.get().state == EnterpriseTask.State.PENDING
    assert enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom) == 1


def test_cancelling_cancels_the_wecom_task(enterprise_moment, wecom, marketing_admin, settings, wecom_base_url):
    from campaigns.tasks import wecom_cancel_task

    settings.WECOM_BASE_URL = wecom_base_url
    enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    enterprise.enterprise_tasks_poll(client=wecom)
    services.moment_cancel(moment=enterprise_moment, by=marketing_admin, note="")
    moment_id = EnterpriseTask.objects.get().wecom_moment_id
    assert wecom_cancel_task.run([moment_id]) == 1
    assert sm.Moment.objects.get(moment_id=moment_id).cancelled
    assert set(PublishTask.objects.values_list("state", flat=True)) == {"cancelled"}


def test_one_who_published_before_our_notification_is_not_notified(enterprise_moment, wecom):
    """At night our notification waits for the morning, but WeCom pushed its task at once."""
    enterprise.enterprise_tasks_create(moment_id=enterprise_moment.pk, client=wecom)
    enterprise.enterprise_tasks_poll(client=wecom)
    moment_id = EnterpriseTask.objects.get().wecom_moment_id
    publishing.publish_enterprise(sm.Moment.objects.get(moment_id=moment_id), sm.Member.objects.get(userid="lily"))
    assert dispatch.publish_confirm(client=wecom)["published"] == 1
    lily = PublishTask.objects.get(associate__userid="lily")
    assert dispatch.publish_task_notify(task_id=lily.pk, client=wecom, limiter=Unlimited()) == "published"
    assert not sm.Message.objects.filter(userid="lily").exists()
