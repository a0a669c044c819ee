"""Every number says what really happened (issue 17, "true numbers"), against the sandbox
over real HTTP where WeCom is involved:

- a delivery counts on the local day WeCom says the post went out — a 23:50 enterprise
  moment published at 00:20 counts on the next day.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import sync
from analytics.models import Delivery
from campaigns.models import EnterpriseTask, Moment, PublishTask, State
from campaigns.tests import factories as cf
from staff.models import Associate
from staff.roles import MARKETING_ADMIN
from staff.sync import directory_sync
from staff.tests import factories
from wecom.sandbox import models as sm
from wecom.sandbox import publishing


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def _wecom_moment(jobid: str, *, text: str, senders: list[str], at: dt.datetime) -> sm.Moment:
    """An enterprise moment WeCom made at ``at`` from an add_moment_task job."""
    body = {"text": {"content": text}, "visible_range": {"sender_list": {"user_list": senders}}}
    job = sm.MomentJob.objects.create(jobid=jobid, created_at=at, ready_at=at, request=body)
    return sm.Moment.objects.get(moment_id=publishing.job_resolve(job, at=at).result["moment_id"])


def _planner():
    from staff.models import User

    return User.objects.filter(username="planner").first() or factories.user("planner", role=MARKETING_ADMIN)


def _member(userid: str) -> sm.Member:
    return sm.Member.objects.get(userid=userid)


def _ours(theirs: sm.Moment, *, associates: list[Associate], at: dt.datetime) -> Moment:
    """Our live enterprise moment behind WeCom moment ``theirs``: its tasks notified."""
    campaign = cf.campaign(_planner(), days_ahead=0)
    moment = Moment.objects.create(campaign=campaign, title="深夜上新", publish_at=at,
                                   expires_at=at + dt.timedelta(hours=6), mode=Moment.Mode.ENTERPRISE,
                                   state=State.LIVE)  # fmt: skip
    variant = cf.variant(moment, associates=associates)
    EnterpriseTask.objects.create(variant=variant, wecom_moment_id=theirs.moment_id, state=EnterpriseTask.State.DONE)
    for associate in associates:
        PublishTask.objects.create(moment=moment, variant=variant, associate=associate, notified_at=at,
                                   state=PublishTask.State.NOTIFIED, wecom_moment_id=theirs.moment_id)  # fmt: skip
    return moment


def _days() -> dict[str, set[dt.date]]:
    """Per associate, the days of their deliveries in the app."""
    days: dict[str, set[dt.date]] = {}
    for userid, day in Delivery.objects.values_list("associate__userid", "day"):
        days.setdefault(userid, set()).add(day)
    return days


def _sandbox_days() -> dict[str, set[dt.date]]:
    days: dict[str, set[dt.date]] = {}
    for userid, day in sm.MomentDelivery.objects.values_list("member__userid", "day"):
        days.setdefault(userid, set()).add(day)
    return days


# --- the day of a delivery ------------------------------------------------------------------------
@pytest.fixture
def late_night(sandbox_corp, wecom_client):
    """The sandbox corp's people as associates; WeCom made an enterprise moment for Lily and
    Ken at 23:50, three days ago."""
    directory_sync(client=wecom_client)
    day = timezone.localdate() - dt.timedelta(days=3)
    created = _local(day, 23, 50)
    theirs = _wecom_moment("job-late", text="深夜上新", senders=["lily", "ken"], at=created)
    return {"day": day, "next": day + dt.timedelta(days=1), "theirs": theirs, "created": created,
            "span": (created - dt.timedelta(hours=1), _local(day + dt.timedelta(days=4), 0))}  # fmt: skip


def test_it_counts_our_moment_published_after_midnight_on_the_next_day(late_night, wecom_client):
    """Lily publishes our 23:50 moment at 00:20; results sync runs at 00:30 and is the first
    to see it: her task is confirmed then, and her deliveries count on the next day, as
    WeCom counts them."""
    lily = Associate.objects.get(userid="lily")
    _ours(late_night["theirs"], associates=[lily], at=late_night["created"])
    publishing.publish_enterprise(late_night["theirs"], _member("lily"), at=_local(late_night["next"], 0, 20))
    start, end = late_night["span"]
    now = _local(late_night["next"], 0, 30)
    counts = sync.results_sync(client=wecom_client, start=start, end=end, now=now)
    assert counts["published"] == 1 and counts["deliveries"] > 0
    task = PublishTask.objects.get(associate=lily)
    assert task.state == PublishTask.State.PUBLISHED and task.published_at == now
    assert _days() == {"lily": {late_night["next"]}} == _sandbox_days()


def test_it_dates_another_enterprise_moment_by_when_results_sync_first_saw_it_published(late_night, wecom_client):
    """An enterprise moment that is not ours (no task to confirm): each member's deliveries
    count on the day results sync first saw them published — a later run that finishes a
    half-stored page keeps that day; a member who publishes later gets the later day."""
    theirs, following = late_night["theirs"], late_night["next"]
    publishing.publish_enterprise(theirs, _member("lily"), at=_local(following, 0, 20))
    start, end = late_night["span"]
    sync.results_sync(client=wecom_client, start=start, end=end, now=_local(following, 0, 30))
    assert _days() == {"lily": {following}}
    Delivery.objects.filter(associate__userid="lily").order_by("pk").first().delete()  # a page cut short
    later = following + dt.timedelta(days=2)
    publishing.publish_enterprise(theirs, _member("ken"), at=_local(later, 8))
    counts = sync.results_sync(client=wecom_client, start=start, end=end, now=_local(later, 9))
    assert counts["deliveries"] == 1 + sm.MomentDelivery.objects.filter(member__userid="ken").count()
    assert _days() == {"lily": {following}, "ken": {later}} == _sandbox_days()
