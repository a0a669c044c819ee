"""The product's promise, as a property (issue 17): random plans, random personal touches and random
publishing orders go through the whole flow — submit, approve, schedule, dispatch, notify, the associate's
Publish, WeCom's task, the member publishing, confirmation — against the WeCom sandbox over real HTTP, and:

- every text WeCom received is an approved version's text, with at most a personal touch the variant allows
  and that passes the brand's rules (whatever was done to the variant rows after approval);
- every customer who got a variant is a contact of its associate and in the version's audience;
- the app's published tasks are exactly the sandbox's publishers, per WeCom moment.

The fourth part of the promise — the forecast equals the sandbox's deliveries when everyone publishes as
planned — is ``test_crosscheck``, over the same random worlds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics.tests.test_crosscheck import _build, _wipe, worlds
from campaigns import dispatch, rules, services, versions
from campaigns.models import ForbiddenWord, Moment, PublishTask, Variant
from staff.models import Associate
from staff.tests import factories
from wecom.client import client_from_settings
from wecom.ratelimit import Unlimited
from wecom.sandbox import models as sm
from wecom.sandbox import publishing

FORBIDDEN = "最低价"
LINE_MAX = 12
# What associates type: nothing, a good line, a forbidden word, an outside link, too long, two lines, an edit.
TOUCHES = [None, "", "我亲自试过 🌹", f"全网{FORBIDDEN}！", "看 http://evil.example/x", "这一句话写得实在是太长太长了",
           "第一行\n第二行", "整段重写的文案"]  # fmt: skip
POLICIES = [Variant.PersonalTouch.NONE, Variant.PersonalTouch.LINE, Variant.PersonalTouch.EDIT]


@pytest.fixture
def people(transactional_db):
    from staff.roles import APPROVER, MARKETING_ADMIN

    return factories.user("planner", role=MARKETING_ADMIN), factories.user("checker", role=APPROVER)


@pytest.fixture
def unlimited_client(wecom_base_url):
    """The real client against the sandbox, without our own rate buckets (the sandbox's 10 tasks a minute is
    reset between publishes instead: the test plays minutes passing)."""
    client = client_from_settings(base_url=wecom_base_url, limiter=Unlimited())
    client.forget_token()
    yield client
    client.close()


def _approve_all(moments: list[Moment], owner, approver) -> None:
    for moment in moments:
        services.moment_submit(moment=moment, by=owner)
        services.moment_decide(moment=moment, by=approver, approve=True)
        services.moment_schedule(moment=moment, by=owner)


def _publish(task: PublishTask, touch, client, at) -> bool:
    """The associate presses Publish with ``touch``; a refused touch is fixed by publishing the brand's copy.
    Returns whether the touch was refused."""
    sm.RateWindow.objects.all().delete()  # a minute passed
    try:
        dispatch.publish_task_request(task=task, copy=touch, client=client, now=at)
        return False
    except dispatch.PersonalTouchRefused:
        assert all(touch not in job.request["text"]["content"] for job in sm.MomentJob.objects.all())
        task.refresh_from_db()
        assert task.state != PublishTask.State.PUBLISH_REQUESTED and task.posted_text == ""
        dispatch.publish_task_request(task=task, copy=None, client=client, now=at)
        return True


def _run(data, world, client, owner, approver) -> None:
    _wipe()
    sm.RateWindow.objects.all().delete()
    ForbiddenWord.objects.get_or_create(word=FORBIDDEN)
    first_day = timezone.localdate() + dt.timedelta(days=3)
    moments = _build(world, first_day, owner)
    for variant in Variant.objects.filter(moment__in=moments):
        Variant.objects.filter(pk=variant.pk).update(personal_touch=data.draw(st.sampled_from(POLICIES)),
                                                     personal_line_max=LINE_MAX)  # fmt: skip
    _approve_all(moments, owner, approver)
    # Around the workflow's back: rows changed after approval must not go out.
    tampered = data.draw(st.lists(st.sampled_from(list(Variant.objects.filter(moment__in=moments))), unique=True))
    Variant.objects.filter(pk__in=[v.pk for v in tampered]).update(copy="未经批准的文案")

    members = {m.userid: m for m in sm.Member.objects.all()}
    for moment in sorted(moments, key=lambda m: (m.publish_at, m.pk)):
        at = moment.publish_at
        dispatch.dispatch_due(now=at, enqueue=False)
        for task in PublishTask.objects.filter(moment=moment).order_by("pk"):
            dispatch.publish_task_notify(task_id=task.pk, client=client, limiter=Unlimited(), now=at)
        tasks = list(PublishTask.objects.filter(moment=moment).select_related("moment__campaign", "variant",
                                                                              "associate", "version"))  # fmt: skip
        order = data.draw(st.permutations(tasks))
        publishes = [task for task in order if data.draw(st.booleans())]
        for task in publishes:
            _publish(task, data.draw(st.sampled_from(TOUCHES)), client, at)
        dispatch.publish_confirm(client=client, now=at)  # WeCom's job results: the moment ids
        for step, task in enumerate(publishes):
            task.refresh_from_db()
            wecom_moment = sm.Moment.objects.get(moment_id=task.wecom_moment_id)
            publishing.publish_enterprise(wecom_moment, members[task.associate.userid],
                                          at=at + dt.timedelta(seconds=step))  # fmt: skip
        dispatch.publish_confirm(client=client, now=at + dt.timedelta(minutes=1))

    _check_texts(tampered)
    _check_audiences()
    _check_publishers()


def _check_texts(tampered) -> None:
    """Every text WeCom received is the approved version's, with an allowed, rule-abiding personal touch."""
    forbidden = [FORBIDDEN]
    for job in sm.MomentJob.objects.all():
        task = PublishTask.objects.select_related("version").get(wecom_jobid=job.jobid)
        content = versions.frozen(task.version)
        assert content.version.approved_at is not None  # an approved version, never a draft
        touch = rules.PersonalTouch(policy=content.personal_touch, max_chars=content.personal_line_max)
        assert rules.personal_touch_errors(task.edited_copy, touch, forbidden=forbidden) == []
        if touch.policy == Variant.PersonalTouch.NONE:
            assert task.edited_copy == ""
        expected = rules.posted_text(rules.personal_text(content.copy, task.edited_copy, touch), content.hashtags)
        text = job.request["text"]["content"]
        assert text == expected == task.posted_text
        assert "未经批准的文案" not in text
        visible = job.request.get("visible_range") or {}
        assert (visible.get("external_contact_list") or {}).get("tag_list", []) == content.tag_ids


def _check_audiences() -> None:
    """Every customer a variant reached is a contact of its associate and in the version's audience."""
    tasks = PublishTask.objects.exclude(wecom_moment_id="").select_related("version")
    by_moment = {task.wecom_moment_id: task for task in tasks}
    for delivery in sm.MomentDelivery.objects.select_related("moment", "member", "customer"):
        task = by_moment[delivery.moment.moment_id]
        follow = sm.Follow.objects.get(member=delivery.member, customer=delivery.customer)
        tags = versions.frozen(task.version).tag_ids
        if tags:
            assert sm.FollowTag.objects.filter(follow=follow, tag__tag_id__in=tags).exists()


def _check_publishers() -> None:
    """The app's published tasks are exactly WeCom's publishers, per WeCom moment."""
    published = PublishTask.objects.filter(state=PublishTask.State.PUBLISHED)
    ours = set(published.values_list("wecom_moment_id", "associate__userid"))
    theirs = set(
        sm.MomentTask.objects.filter(published_at__isnull=False).values_list("moment__moment_id", "member__userid")
    )
    assert ours == theirs
    assert all(Associate.objects.filter(userid=userid).exists() for _moment, userid in theirs)


@hypothesis_settings(max_examples=15, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(world=worlds(), data=st.data())
def test_what_goes_out_is_what_was_approved_to_whom_it_was_planned(world, data, unlimited_client, people):
    owner, approver = people
    _run(data, world, unlimited_client, owner, approver)
