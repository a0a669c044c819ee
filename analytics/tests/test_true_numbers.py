"""Every number says what really happened (issue 17, "true numbers"), against the sandbox
over real HTTP where WeCom is involved:

- a delivery counts on the local day WeCom says the post went out — a 23:50 enterprise
  moment published at 00:20 counts on the next day;
- at the 200 boundary of an unverified account the forecast and WeCom rank contacts the
  same way: by added time, then the external_userid (a re-added contact is a new add; a
  same-second tie is never broken by our row ids);
- the feed slots left today count the associate's personal and enterprise posts and
  their open publish requests, under the rules in force that day;
- the funnel of a moment is the same in the admin, on the dashboards and in their API.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import forecast, rollups, sync
from analytics.models import Delivery, PlatformRules
from analytics.selectors import feed_slots_left, moment_funnel
from campaigns.models import EnterpriseTask, Moment, PublishTask, State
from campaigns.tests import factories as cf
from staff.models import Associate, Contact
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


# --- the 200 boundary -----------------------------------------------------------------------------
BOUNDARY_AT = 1_700_009_000  # after every other contact of Ken's


def _fill(ken: sm.Member, count: int) -> None:
    """``count`` more customers for Ken, each added in its own second before the boundary."""
    customers = sm.Customer.objects.bulk_create([sm.Customer(external_userid=f"wk{i:03d}", name=f"k{i}")
                                                 for i in range(count)])  # fmt: skip
    sm.Follow.objects.bulk_create([sm.Follow(member=ken, customer=c, createtime=1_700_001_000 + i)
                                   for i, c in enumerate(customers)])  # fmt: skip


def _follow(ken: sm.Member, external_userid: str, createtime: int) -> None:
    customer, _ = sm.Customer.objects.get_or_create(external_userid=external_userid,
                                                    defaults={"name": external_userid})  # fmt: skip
    sm.Follow.objects.create(member=ken, customer=customer, createtime=createtime)


def _forecast_and_wecom(client) -> tuple[set[str], set[str]]:
    """Ken's moment for all his customers, forecast; then published in WeCom as planned.
    Returns the customers each says get it."""
    ken = Associate.objects.get(userid="ken")
    Associate.objects.filter(pk=ken.pk).update(is_verified=False)  # as in WeCom (the API does not say it)
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN), days_ahead=2)
    at = _local(campaign.starts_on, 10)
    moment = Moment.objects.create(
        campaign=campaign, title="边界", publish_at=at, expires_at=at + dt.timedelta(hours=6)
    )
    variant = cf.variant(moment, associates=[ken])
    predicted = {customer for v, a, customer, _day, outcome in forecast.forecast_rows([moment])
                 if outcome == forecast.DELIVERED and a == ken.pk}  # fmt: skip
    theirs = _wecom_moment("job-boundary", text=variant.copy, senders=["ken"], at=at)
    publishing.publish_enterprise(theirs, _member("ken"), at=at)
    said = {row["external_userid"] for page in client.moment_send_result_pages(theirs.moment_id, "ken") for row in page}
    forecast_ids = set(Contact.objects.filter(customer_id__in=predicted, associate=ken)
                       .values_list("customer__external_userid", flat=True))  # fmt: skip
    return forecast_ids, said


def test_a_re_added_contact_ranks_by_its_new_add_then_its_external_userid(sandbox_corp, wecom_client):
    """Ken (unverified) has 200 contacts; wm0, his second, removes him and adds him again in
    the same second as wt-b, his 201st: a new add at the boundary (our contact row is the
    old one, WeCom's is new). wm0 sorts before wt-b: both the forecast and WeCom reach wm0
    and not wt-b."""
    ken = sandbox_corp["ken"]
    _fill(ken, 198)  # with wm3 and wm0: 200
    _follow(ken, "wt-b", BOUNDARY_AT)
    directory_sync(client=wecom_client)
    back = sm.Follow.objects.get(member=ken, customer__external_userid="wm0")
    back.delete()
    directory_sync(client=wecom_client)
    assert not Contact.objects.get(associate__userid="ken", customer__external_userid="wm0").is_active
    _follow(ken, "wm0", BOUNDARY_AT)
    directory_sync(client=wecom_client)
    again = Contact.objects.get(associate__userid="ken", customer__external_userid="wm0")
    assert again.is_active and int(again.added_at.timestamp()) == BOUNDARY_AT
    predicted, said = _forecast_and_wecom(wecom_client)
    assert predicted == said
    assert len(said) == 200 and "wm0" in said and "wt-b" not in said


def test_a_same_second_tie_at_the_boundary_goes_to_the_smaller_external_userid(sandbox_corp, wecom_client):
    """Ken's 200th and 201st contacts were added in the same second, wz-tie first: the tie
    is broken by the external_userid, so wa-tie is reached, by the forecast and by WeCom."""
    ken = sandbox_corp["ken"]
    _fill(ken, 197)  # with wm3 and wm0: 199
    _follow(ken, "wz-tie", BOUNDARY_AT)
    _follow(ken, "wa-tie", BOUNDARY_AT)
    directory_sync(client=wecom_client)
    predicted, said = _forecast_and_wecom(wecom_client)
    assert predicted == said
    assert len(said) == 200 and "wa-tie" in said and "wz-tie" not in said


# --- feed slots left --------------------------------------------------------------------------------
@pytest.fixture
def noon(sandbox_corp, wecom_client):
    """Today at noon, the sandbox corp's people as associates."""
    directory_sync(client=wecom_client)
    today = timezone.localdate()
    return {"today": today, "now": _local(today, 12), "lily": Associate.objects.get(userid="lily")}


def _sync(client, now: dt.datetime) -> None:
    sync.results_sync(client=client, start=now - dt.timedelta(days=2), end=now, now=now)


def test_the_slots_left_count_personal_posts_of_that_day(noon, wecom_client):
    lily, now = noon["lily"], noon["now"]
    assert feed_slots_left(associate_id=lily.pk, now=now) == 3
    publishing.publish_personal(_member("lily"), text="昨天的自拍", at=now - dt.timedelta(days=1))
    publishing.publish_personal(_member("lily"), text="今天到店有惊喜", at=now - dt.timedelta(hours=3))
    _sync(wecom_client, now)
    assert feed_slots_left(associate_id=lily.pk, now=now) == 2  # yesterday's post took yesterday's slot
    assert feed_slots_left(associate_id=lily.pk, now=now - dt.timedelta(days=1)) == 2


def test_the_slots_left_count_enterprise_posts_and_open_requests_once(noon, wecom_client):
    """Today Lily published an enterprise moment that is not ours and one that is ours, and
    asked for a third: no slot is left — and the one of ours is not counted twice (its
    task and its post)."""
    lily, now = noon["lily"], noon["now"]
    other = _wecom_moment("job-other", text="总部活动", senders=["lily"], at=now - dt.timedelta(hours=4))
    publishing.publish_enterprise(other, _member("lily"), at=now - dt.timedelta(hours=3))
    mine = _wecom_moment("job-mine", text="深夜上新", senders=["lily"], at=now - dt.timedelta(hours=2))
    _ours(mine, associates=[lily], at=now - dt.timedelta(hours=2))
    publishing.publish_enterprise(mine, _member("lily"), at=now - dt.timedelta(hours=1))
    _sync(wecom_client, now)
    assert PublishTask.objects.get(associate=lily).state == PublishTask.State.PUBLISHED
    assert feed_slots_left(associate_id=lily.pk, now=now) == 1
    asked = _ours(_wecom_moment("job-asked", text="x", senders=["ken"], at=now), associates=[lily], at=now)
    PublishTask.objects.filter(moment=asked).update(state=PublishTask.State.PUBLISH_REQUESTED, wecom_moment_id="",
                                                    publish_requested_at=now - dt.timedelta(minutes=5))  # fmt: skip
    assert feed_slots_left(associate_id=lily.pk, now=now) == 0


def test_the_slots_left_follow_the_rules_in_force_that_day(noon, wecom_client):
    lily, now, today = noon["lily"], noon["now"], noon["today"]
    PlatformRules.objects.create(effective_from=today, feed_cap=5, note="WeCom raised the cap")
    publishing.publish_personal(_member("lily"), text="今天到店有惊喜", at=now - dt.timedelta(hours=3))
    _sync(wecom_client, now)
    assert feed_slots_left(associate_id=lily.pk, now=now) == 4
    assert feed_slots_left(associate_id=lily.pk, now=now - dt.timedelta(days=1)) == 3  # the old rules


# --- one funnel -------------------------------------------------------------------------------------
PASSWORD = "a-long-test-password-42"


@pytest.fixture
def funnel_moment(db):
    """One moment, ten associates, one task each at every point of the way: never notified,
    notified, opened, publish requested, published through our page, published in WeCom
    without our card (two), failed, cancelled after its card, expired after it was opened."""
    store = factories.department("上海店")
    people = [factories.associate(f"a{i}", departments=[store]) for i in range(10)]
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN), days_ahead=0)
    now = timezone.now()
    moment = Moment.objects.create(campaign=campaign, title="情人节", publish_at=now - dt.timedelta(hours=2),
                                   expires_at=now + dt.timedelta(hours=4), mode=Moment.Mode.ENTERPRISE,
                                   state=State.LIVE)  # fmt: skip
    variant = cf.variant(moment, associates=people)
    s, at = PublishTask.State, now - dt.timedelta(hours=1)
    ways = [
        {"state": s.PENDING},
        {"state": s.NOTIFIED, "notified_at": at},
        {"state": s.OPENED, "notified_at": at, "opened_at": at},
        {"state": s.PUBLISH_REQUESTED, "notified_at": at, "opened_at": at, "publish_requested_at": at},
        {"state": s.PUBLISHED, "notified_at": at, "opened_at": at, "publish_requested_at": at, "published_at": at},
        {"state": s.PUBLISHED, "published_at": at},
        {"state": s.PUBLISHED, "published_at": at},
        {"state": s.FAILED, "errcode": 60111, "error": "the member has no WeCom license"},
        {"state": s.CANCELLED, "notified_at": at},
        {"state": s.EXPIRED, "notified_at": at, "opened_at": at},
    ]
    for person, values in zip(people, ways, strict=True):
        PublishTask.objects.create(moment=moment, variant=variant, associate=person, **values)
    rollups.rollups_refresh()  # the periodic run: the dashboards read a live campaign's funnel from its roll-up
    return moment


def test_the_funnel_is_one_for_the_admin_the_dashboards_and_the_api(funnel_moment):
    expected = {"tasks": 9, "notified": 7, "opened": 6, "requested": 4, "published": 3, "failed": 1}
    assert moment_funnel(funnel_moment) == expected
    admin = factories.user("marketing", role=MARKETING_ADMIN)
    admin.set_password(PASSWORD)
    admin.save()

    # The admin's moment page.
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(admin)
    page = browser.get(reverse("admin:campaigns_moment_change", args=[funnel_moment.pk])).content.decode()
    assert "targeted 9 → Notified 7 → Opened 6 → Publish requested 4 → Published 3 → Failed 1" in page

    # The dashboards' campaign page (its own login).
    dashboards = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = dashboards.post(reverse("dashboards:login"), {"username": admin.username, "password": PASSWORD})
    assert response.status_code == 302
    html = dashboards.get(reverse("dashboards:campaign", args=[funnel_moment.campaign.public_id])).content.decode()
    steps = re.search(r'data-testid="funnel">(.*?)</ol>', html, re.S).group(1)
    assert [int(n) for n in re.findall(r"<b>(\d+)</b>", steps)] == [7, 6, 4, 3]
    assert "of 9 publish tasks" in html

    # The dashboards' API: the overview, and the leaderboard's rows add up to it.
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    api.force_authenticate(admin)
    base = f"/api/v1/analytics/dashboards/campaigns/{funnel_moment.campaign.public_id}"
    got = api.get(f"{base}/overview/").json()["funnel"]
    assert {name: got[name] for name in expected} == expected
    for by in ("associate", "store"):
        rows = api.get(f"{base}/leaderboard/", {"by": by}).json()["results"]
        totals = {name: sum(row[name] for row in rows) for name in ("tasks", "notified", "opened", "requested",
                                                                     "published")}  # fmt: skip
        assert totals == {name: expected[name] for name in totals}
