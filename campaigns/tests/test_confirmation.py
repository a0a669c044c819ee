"""A task is published only when WeCom names its associate for that WeCom moment
(campaigns.confirmation): in enterprise mode a moment has one WeCom moment per variant,
so an associate who published one variant is not confirmed for the other — by the
service, and by results sync against the sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import sync
from campaigns.confirmation import CONFIRMABLE, publish_tasks_confirm
from campaigns.models import EnterpriseTask, Moment, PublishTask, State
from campaigns.tests import factories as cf
from staff.models import Associate
from staff.roles import MARKETING_ADMIN
from staff.sync import directory_sync
from staff.tests import factories
from wecom.sandbox import models as sm
from wecom.sandbox import publishing

VARIANTS = ("gold", "everyone")


def _enterprise_moment(associates: list[Associate], *, at: dt.datetime, wecom_ids: dict[str, str]) -> Moment:
    """A live enterprise moment of two variants for ``associates``: one WeCom moment per
    variant (``wecom_ids``: variant name → WeCom moment id), tasks notified."""
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN), days_ahead=0)
    moment = Moment.objects.create(campaign=campaign, title="情人节", publish_at=at,
                                   expires_at=at + dt.timedelta(hours=6), mode=Moment.Mode.ENTERPRISE,
                                   state=State.LIVE)  # fmt: skip
    for name in VARIANTS:
        variant = cf.variant(moment, associates=associates, name=name, copy=f"{name} 的文案")
        EnterpriseTask.objects.create(variant=variant, wecom_moment_id=wecom_ids[name], state=EnterpriseTask.State.DONE)
        PublishTask.objects.bulk_create([PublishTask(moment=moment, variant=variant, associate=a, notified_at=at,
                                                     state=PublishTask.State.NOTIFIED, wecom_moment_id=wecom_ids[name])
                                         for a in associates])  # fmt: skip
    return moment


def _states() -> dict[tuple[str, str], str]:
    return {(userid, name): state for userid, name, state in
            PublishTask.objects.values_list("associate__userid", "variant__name", "state")}  # fmt: skip


# --- the service ---------------------------------------------------------------------------------
@pytest.fixture
def planned(db):
    store = factories.department("上海店")
    lily = factories.associate("Lily", departments=[store])
    ken = factories.associate("Ken", departments=[store])
    at = timezone.now() - dt.timedelta(hours=1)
    moment = _enterprise_moment([lily, ken], at=at, wecom_ids={"gold": "mom-gold", "everyone": "mom-all"})
    return {"lily": lily, "ken": ken, "moment": moment, "at": at}


def test_it_publishes_only_the_named_members_tasks_of_that_wecom_moment(planned):
    lily, ken = planned["lily"], planned["ken"]
    at = timezone.now()
    assert publish_tasks_confirm(wecom_moment_id="mom-gold", userids=[lily.userid.upper()], at=at) == 1
    states = _states()
    assert states[(lily.userid, "gold")] == PublishTask.State.PUBLISHED
    assert states[(lily.userid, "everyone")] == PublishTask.State.NOTIFIED  # her other variant: not published
    assert states[(ken.userid, "gold")] == PublishTask.State.NOTIFIED
    task = PublishTask.objects.get(associate=lily, variant__name="gold")
    assert task.published_at == at


def test_it_confirms_a_task_once_at_the_time_of_the_first_confirmation(planned):
    lily = planned["lily"]
    first = timezone.now()
    assert publish_tasks_confirm(wecom_moment_id="mom-gold", userids=[lily.userid], at=first) == 1
    later = first + dt.timedelta(minutes=10)
    assert publish_tasks_confirm(wecom_moment_id="mom-gold", userids=[lily.userid], at=later) == 0
    assert PublishTask.objects.get(associate=lily, variant__name="gold").published_at == first


def test_it_leaves_expired_failed_and_cancelled_tasks_alone(planned):
    lily, ken = planned["lily"], planned["ken"]
    assert PublishTask.State.PUBLISH_REQUESTED in CONFIRMABLE and PublishTask.State.PENDING in CONFIRMABLE
    closed = [PublishTask.State.EXPIRED, PublishTask.State.FAILED, PublishTask.State.CANCELLED]
    for state in closed:
        assert state not in CONFIRMABLE
        PublishTask.objects.filter(variant__name="gold").update(state=state)
        assert publish_tasks_confirm(wecom_moment_id="mom-gold", userids=[lily.userid, ken.userid],
                                     at=timezone.now()) == 0  # fmt: skip
    assert not PublishTask.objects.filter(state=PublishTask.State.PUBLISHED).exists()


def test_it_ties_known_tasks_to_the_wecom_moment_they_were_found_as(planned):
    """A post shared through the JS-SDK is found in get_moment_list: the task is tied to the
    personal moment and published in one update — only if its associate created it."""
    lily, ken = planned["lily"], planned["ken"]
    task = PublishTask.objects.get(associate=lily, variant__name="everyone")
    PublishTask.objects.filter(pk=task.pk).update(wecom_moment_id="", state=PublishTask.State.PUBLISH_REQUESTED)
    assert publish_tasks_confirm(wecom_moment_id="mom-own", userids=[ken.userid], at=timezone.now(),
                                 task_ids=[task.pk]) == 0  # fmt: skip
    assert publish_tasks_confirm(wecom_moment_id="mom-own", userids=[lily.userid], at=timezone.now(),
                                 task_ids=[task.pk]) == 1  # fmt: skip
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISHED and task.wecom_moment_id == "mom-own"


def test_it_confirms_nothing_without_a_wecom_moment(planned):
    PublishTask.objects.update(wecom_moment_id="")
    assert publish_tasks_confirm(wecom_moment_id="", userids=[planned["lily"].userid], at=timezone.now()) == 0


# --- results sync against the sandbox ------------------------------------------------------------
def _wecom_moment(jobid: str, *, text: str, senders: list[str], at: dt.datetime) -> sm.Moment:
    body = {"text": {"content": text}, "visible_range": {"sender_list": {"user_list": senders}}}
    job = sm.MomentJob.objects.create(jobid=jobid, created_at=at, ready_at=at, request=body)
    return sm.Moment.objects.get(moment_id=publishing.job_resolve(job, at=at).result["moment_id"])


@pytest.fixture
def in_wecom(sandbox_corp, wecom_client):
    """The sandbox corp's Lily and Ken as associates; an enterprise moment of two variants,
    one WeCom moment each, pushed to both an hour ago."""
    directory_sync(client=wecom_client)
    at = timezone.now() - dt.timedelta(hours=1)
    theirs = {name: _wecom_moment(f"job-{name}", text=f"{name} 的文案", senders=["lily", "ken"], at=at)
              for name in VARIANTS}  # fmt: skip
    associates = list(Associate.objects.filter(userid__in=["lily", "ken"]).order_by("userid"))
    moment = _enterprise_moment(associates, at=at, wecom_ids={n: m.moment_id for n, m in theirs.items()})
    return {"moment": moment, "theirs": theirs, "span": (at - dt.timedelta(hours=1), timezone.now())}


def test_it_does_not_confirm_a_variant_the_associate_never_published(in_wecom, wecom_client):
    """Lily publishes the gold variant in WeCom, not the one for everyone; Ken publishes
    nothing: results sync confirms Lily's gold task only."""
    publishing.publish_enterprise(in_wecom["theirs"]["gold"], sm.Member.objects.get(userid="lily"))
    start, end = in_wecom["span"]
    counts = sync.results_sync(client=wecom_client, start=start, end=end)
    assert counts["published"] == 1
    assert _states() == {
        ("lily", "gold"): PublishTask.State.PUBLISHED,
        ("lily", "everyone"): PublishTask.State.NOTIFIED,
        ("ken", "gold"): PublishTask.State.NOTIFIED,
        ("ken", "everyone"): PublishTask.State.NOTIFIED,
    }
    # What the app says was published is what WeCom says, per WeCom moment.
    for name, theirs in in_wecom["theirs"].items():
        published_there = set(sm.MomentTask.objects.filter(moment=theirs, published_at__isnull=False)
                              .values_list("member__userid", flat=True))  # fmt: skip
        published_here = set(PublishTask.objects.filter(variant__name=name, state=PublishTask.State.PUBLISHED)
                             .values_list("associate__userid", flat=True))  # fmt: skip
        assert published_here == published_there
