"""The platform rules the sandbox applies when a member publishes (DESIGN.md §4):
the feed cap per (customer, member, local day), the unverified 200, tag-filtered
visibility, and the cap holding under concurrent publishes."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import connections
from django.utils import timezone

from wecom.sandbox import behaviour, publishing
from wecom.sandbox import models as sm

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 2, day, hour, minute, tzinfo=SHANGHAI)


def _delivered(moment) -> set[str]:
    return set(sm.MomentDelivery.objects.filter(moment=moment).values_list("customer__external_userid", flat=True))


def _enterprise(*members, tag_ids=(), at=None) -> sm.Moment:
    moment = sm.Moment.objects.create(
        moment_id=publishing.new_moment_id(), create_type=0, create_time=at or timezone.now(), text="品牌",
        tag_ids=list(tag_ids),
    )  # fmt: skip
    sm.MomentTask.objects.bulk_create([sm.MomentTask(moment=moment, member=m) for m in members])
    return moment


def test_a_customer_sees_at_most_three_moments_per_member_per_local_day(sandbox_corp):
    lily = sandbox_corp["lily"]
    counts = [publishing.publish_personal(lily, text=f"第 {i} 条", at=_at(14, 9 + i))[1] for i in range(4)]
    assert counts == [3, 3, 3, 0]
    # The next local day starts at 00:00 in Shanghai (16:00 UTC the day before).
    assert publishing.publish_personal(lily, text="次日", at=_at(15, 0, 1))[1] == 3
    assert (
        sm.FeedCount.objects.filter(member=lily, day=dt.date(2026, 2, 14)).values_list("shown", flat=True).distinct()[0]
        == 3
    )


def test_the_day_is_the_local_day_not_utc(sandbox_corp):
    lily = sandbox_corp["lily"]
    late = dt.datetime(2026, 2, 14, 15, 59, tzinfo=dt.UTC)  # 23:59 in Shanghai
    early = dt.datetime(2026, 2, 14, 16, 1, tzinfo=dt.UTC)  # 00:01 on the 15th
    for i in range(3):
        publishing.publish_personal(lily, text=f"{i}", at=late)
    assert publishing.publish_personal(lily, text="after midnight", at=early)[1] == 3


def test_enterprise_and_personal_moments_share_the_cap_first_published_first_served(sandbox_corp):
    lily = sandbox_corp["lily"]
    for i in range(2):
        publishing.publish_personal(lily, text=f"{i}", at=_at(14, 9))
    first, second = _enterprise(lily), _enterprise(lily)
    assert publishing.publish_enterprise(first, lily, at=_at(14, 10)) == 3
    assert publishing.publish_enterprise(second, lily, at=_at(14, 11)) == 0
    assert _delivered(second) == set()
    # The visible list still names who it was chosen for: the cap hid it.
    assert sm.MomentVisible.objects.filter(moment=second).count() == 3


def test_the_cap_is_per_member(sandbox_corp):
    lily, ken = sandbox_corp["lily"], sandbox_corp["ken"]
    for i in range(3):
        publishing.publish_personal(lily, text=f"{i}", at=_at(14, 9))
    _, delivered = publishing.publish_personal(ken, text="ken", at=_at(14, 10))
    assert delivered == 2  # wm0 has had three of Lily's today, but none of Ken's


def test_an_unverified_member_reaches_only_the_200_earliest_added_contacts(transactional_db, sandbox_corp):
    ken = sandbox_corp["ken"]  # unverified, with two follows (createtime 1_700_000_100 and _200)
    customers = sm.Customer.objects.bulk_create(
        [sm.Customer(external_userid=f"late{i}", name=f"late {i}") for i in range(199)]
    )
    # Added later than Ken's first two, but one of them earlier than all: id order is not add order.
    sm.Follow.objects.bulk_create(
        [sm.Follow(member=ken, customer=c, createtime=1_700_001_000 + i) for i, c in enumerate(customers)]
    )
    sm.Follow.objects.filter(member=ken, customer=customers[-1]).update(createtime=1_600_000_000)
    moment, delivered = publishing.publish_personal(ken, text="hello", at=_at(14, 9))
    assert delivered == 200
    missed = set(sm.Follow.objects.filter(member=ken).values_list("customer__external_userid", flat=True)) - _delivered(
        moment
    )
    assert missed == {"late197"}  # the latest-added one; late198 was moved to the front
    assert sm.MomentVisible.objects.filter(moment=moment).count() == 201


def test_a_tagged_moment_is_visible_only_to_tagged_contacts(sandbox_corp):
    lily = sandbox_corp["lily"]
    moment = _enterprise(lily, tag_ids=["etGold"])
    assert publishing.publish_enterprise(moment, lily, at=_at(14, 9)) == 1
    assert _delivered(moment) == {"wm0"}
    assert sm.MomentVisible.objects.filter(moment=moment).count() == 1


def test_only_executors_publish_and_only_once(sandbox_corp):
    lily, ken = sandbox_corp["lily"], sandbox_corp["ken"]
    moment = _enterprise(lily)
    with pytest.raises(publishing.PublishError) as caught:
        publishing.publish_enterprise(moment, ken)
    assert caught.value.errcode == 41061
    assert publishing.publish_enterprise(moment, lily) == 3
    assert publishing.publish_enterprise(moment, lily) == 0
    assert sm.MomentDelivery.objects.count() == 3


@pytest.mark.skipif(
    connections["default"].vendor == "sqlite",
    reason="the in-memory SQLite test database locks whole tables across threads; this runs on PostgreSQL in CI",
)
def test_concurrent_publishes_never_overfill_a_feed(transactional_db, sandbox_corp):
    """Six moments published at once by one member: every customer gets exactly three."""
    lily = sandbox_corp["lily"]
    moments = [_enterprise(lily) for _ in range(6)]
    barrier = threading.Barrier(len(moments))
    errors = []

    def publish(moment):
        try:
            barrier.wait(timeout=10)
            publishing.publish_enterprise(moment, lily, at=_at(14, 9))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish, args=(m,)) for m in moments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    per_customer = {}
    for customer_id in sm.MomentDelivery.objects.values_list("customer_id", flat=True):
        per_customer[customer_id] = per_customer.get(customer_id, 0) + 1
    assert per_customer and set(per_customer.values()) == {3}, per_customer
    assert set(sm.FeedCount.objects.values_list("shown", flat=True)) == {3}


def test_rate_windows_admit_exactly_the_limit(db):
    at = timezone.now()
    admitted = [publishing.rate_claim("t", per_seconds=60, limit=10, at=at) for _ in range(12)]
    assert admitted.count(True) == 10 and admitted[-2:] == [False, False]
    assert publishing.rate_claim("t", per_seconds=60, limit=10, at=at + dt.timedelta(seconds=60))


# --- the behaviour model --------------------------------------------------------------------
def test_the_behaviour_model_publishes_what_its_draws_say_once(sandbox_corp, django_assert_max_num_queries):
    lily, ken = sandbox_corp["lily"], sandbox_corp["ken"]
    created = timezone.now() - dt.timedelta(hours=47)  # every draw (mean 90 min) is due by now
    moment = _enterprise(lily, ken, at=created)
    expected = {m.userid for m in (lily, ken) if behaviour.publish_delay(moment.moment_id, m.userid) is not None}
    summary = behaviour.behaviour_tick(personal=False)
    published = set(
        sm.MomentTask.objects.filter(moment=moment, published_at__isnull=False).values_list("member__userid", flat=True)
    )
    assert published == expected and summary["published"] == len(expected)
    assert behaviour.behaviour_tick(personal=False)["published"] == 0


def test_a_due_job_is_resolved_by_the_tick(sandbox_corp):
    now = timezone.now()
    job = sm.MomentJob.objects.create(jobid="j1", request={"text": {"content": "hi"}}, created_at=now, ready_at=now)
    assert behaviour.behaviour_tick(personal=False)["jobs"] == 1
    job.refresh_from_db()
    assert job.status == 3 and sm.Moment.objects.filter(moment_id=job.result["moment_id"]).exists()


def test_personal_posts_follow_the_draws_once_a_day(sandbox_corp):
    evening = timezone.localtime().replace(hour=21, minute=30)
    members = sm.Member.objects.filter(status=sm.Member.Status.ACTIVE)
    expected = {
        m.userid
        for m in members
        if behaviour.unit("personal", evening.date(), m.userid) < behaviour.PERSONAL_POST_SHARE
    }
    first = behaviour.behaviour_tick(evening)
    posted = set(sm.Moment.objects.filter(create_type=1).values_list("creator__userid", flat=True))
    assert posted == expected and first["personal"] == len(expected)
    assert behaviour.behaviour_tick(evening)["personal"] == 0


def test_reactions_come_only_from_customers_who_got_the_post(transactional_db):
    from wecom.sandbox.brand import BrandSize, brand_create

    brand_create(size=BrandSize(members=4, follows_per_member=150, unverified_share=0))
    members = list(sm.Member.objects.all())
    at = timezone.now() - dt.timedelta(days=1)
    for member in members:
        moment, _ = publishing.publish_personal(member, text="react", at=at)
        behaviour._react(moment, member, at)
    reactions = list(sm.MomentInteraction.objects.all())
    delivered = set(sm.MomentDelivery.objects.values_list("moment_id", "member_id", "customer__external_userid"))
    assert reactions, "about 7% of some 600 deliveries react"
    assert all((r.moment_id, r.member_id, r.external_userid) in delivered for r in reactions)
    assert all(at <= r.create_time <= at + dt.timedelta(hours=6) for r in reactions)
