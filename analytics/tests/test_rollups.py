"""Roll-ups: what each bucket counts (deliveries, distinct customers, actual cap and
verification loss, likes and comments), distinct reach never summed across days or
associates, and a run interrupted half-way that the next run finishes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import rollups, sync
from analytics.models import (
    AssociateDay,
    CampaignCustomer,
    CampaignReach,
    DepartmentDay,
    PlatformRules,
    Post,
    RollupMark,
)
from campaigns.models import Moment, PublishTask, State
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

DAY = dt.date(2027, 2, 10)
NEXT = DAY + dt.timedelta(days=1)


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def world(db):
    """Lily (unverified, reach limit 2 by the rules) and Ken in one store of a region; Anna
    and Bo are contacts of both, Cai only of Lily (added last, beyond her limit). One moment
    a day for two days, published by both; Lily's own three posts filled Anna's feed on DAY."""
    PlatformRules.objects.create(effective_from=DAY - dt.timedelta(days=30), feed_cap=3, unverified_reach_limit=2)
    region = factories.department("华东")
    store = factories.department("上海店", parent=region)
    lily = factories.associate("lily", departments=[store], verified=False)
    ken = factories.associate("ken", departments=[store])
    anna, bo, cai = Customer.objects.bulk_create(
        [Customer(external_userid=f"wm-{name}", name=name) for name in ("anna", "bo", "cai")]
    )
    added = _at(DAY - dt.timedelta(days=50), 9)
    for i, customer in enumerate((anna, bo, cai)):
        Contact.objects.create(associate=lily, customer=customer, added_at=added + dt.timedelta(hours=i))
    for customer in (anna, bo):
        Contact.objects.create(associate=ken, customer=customer, added_at=added)
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moments = []
    for day in (DAY, NEXT):
        moment = Moment.objects.create(campaign=campaign, title=f"m {day}", publish_at=_at(day, 10),
                                       expires_at=_at(day, 22), state=State.LIVE)  # fmt: skip
        variant = cf.variant(moment, associates=[lily, ken])
        for associate in (lily, ken):
            PublishTask.objects.create(moment=moment, variant=variant, associate=associate,
                                       state=PublishTask.State.PUBLISHED, published_at=_at(day, 11))  # fmt: skip
        moments.append(moment)
    return {"region": region, "store": store, "lily": lily, "ken": ken, "anna": anna, "bo": bo, "cai": cai,
            "campaign": campaign, "moments": moments}  # fmt: skip


def _post(wecom_id: str, *, moment=None, creator=None, kind=Post.Kind.ENTERPRISE, day=DAY) -> Post:
    post, _ = Post.objects.get_or_create(wecom_moment_id=wecom_id, defaults={
        "kind": kind, "creator": creator, "moment": moment, "created_at": _at(day, 8)})  # fmt: skip
    return post


def _deliver(post: Post, associate, customers, day) -> None:
    sync.deliveries_store(post_id=post.pk, moment_id=post.moment_id, associate_id=associate.pk, day=day,
                          external_userids=[c.external_userid for c in customers])  # fmt: skip


def _facts(w) -> None:
    """What WeCom would report: Lily's personal posts took Anna's three slots on DAY; the
    campaign reached Bo from Lily (Cai is beyond her limit), Anna and Bo from Ken; on NEXT
    Anna from both. Two likes and a comment."""
    for n in range(3):
        _deliver(_post(f"own-{n}", creator=w["lily"], kind=Post.Kind.PERSONAL), w["lily"], [w["anna"]], DAY)
    first, second = (_post(f"wm-{m.pk}", moment=m, day=d) for m, d in zip(w["moments"], (DAY, NEXT), strict=True))
    _deliver(first, w["lily"], [w["bo"]], DAY)
    _deliver(first, w["ken"], [w["anna"], w["bo"]], DAY)
    _deliver(second, w["lily"], [w["anna"], w["bo"]], NEXT)
    _deliver(second, w["ken"], [w["anna"]], NEXT)
    ts = int(_at(DAY, 12).timestamp())
    sync.engagements_store(post=first, associate_id=w["ken"].pk, comments={
        "like_list": [{"external_userid": "wm-anna", "create_time": ts}, {"userid": "lily", "create_time": ts}],
        "comment_list": [{"external_userid": "wm-bo", "create_time": ts + 5}],
    })  # fmt: skip


def _snapshot() -> dict:
    fields = ["deliveries", "customers", "cap_loss", "verification_loss", "likes", "comments"]
    return {
        "associate": sorted(AssociateDay.objects.values_list("day", "associate__userid", *fields)),
        "department": sorted(DepartmentDay.objects.values_list("day", "department__name", *fields)),
        "campaign": sorted(CampaignReach.objects.values_list("campaign_id", *fields)),
        "customers": sorted(CampaignCustomer.objects.values_list("customer__name", "first_day", "deliveries")),
    }


def test_each_bucket_counts_what_happened(world):
    _facts(world)
    done = rollups.rollups_refresh()
    assert done == {"associate_day": 2, "department_day": 2, "campaign": 1}
    assert not RollupMark.objects.exists()
    lily_day = AssociateDay.objects.get(associate=world["lily"], day=DAY)
    # Bo delivered; Anna's slots were full of Lily's own posts (cap loss); Cai beyond the 2 earliest (verification).
    assert (lily_day.deliveries, lily_day.customers, lily_day.cap_loss, lily_day.verification_loss) == (1, 1, 1, 1)
    ken_day = AssociateDay.objects.get(associate=world["ken"], day=DAY)
    assert (ken_day.deliveries, ken_day.customers, ken_day.likes, ken_day.comments) == (2, 2, 2, 1)
    assert AssociateDay.objects.get(associate=world["lily"], day=NEXT).verification_loss == 1
    # The store's subtree and the region above it: Anna and Bo once each, though both associates reached Bo.
    for department in (world["store"], world["region"]):
        row = DepartmentDay.objects.get(department=department, day=DAY)
        assert (row.deliveries, row.customers, row.cap_loss, row.verification_loss) == (3, 2, 1, 1)
    # The campaign reached two customers over two days: not 2 + 2.
    reach = CampaignReach.objects.get(campaign=world["campaign"])
    assert (reach.customers, reach.deliveries, reach.likes, reach.comments) == (2, 6, 2, 1)
    assert sum(AssociateDay.objects.filter(associate=world["lily"]).values_list("customers", flat=True)) == 3
    first = dict(CampaignCustomer.objects.values_list("customer__name", "first_day"))
    assert first == {"anna": DAY, "bo": DAY}
    # A re-run of the same facts marks nothing.
    _facts(world)
    assert not RollupMark.objects.exists()


def test_an_interrupted_run_is_finished_by_the_next(world, monkeypatch):
    _facts(world)
    real = rollups._compute
    calls = []

    def dies_on_the_second(stat, bucket):
        calls.append(bucket)
        if len(calls) == 2:
            real(stat, bucket)  # the bucket was half-written when the worker died
            raise KeyboardInterrupt
        real(stat, bucket)

    monkeypatch.setattr(rollups, "_compute", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        rollups.rollups_refresh()
    assert RollupMark.objects.count() == 4  # the first bucket is done, the second rolled back with its mark
    monkeypatch.setattr(rollups, "_compute", real)
    rollups.rollups_refresh()
    finished = _snapshot()
    AssociateDay.objects.all().delete()
    DepartmentDay.objects.all().delete()
    CampaignReach.objects.all().delete()
    CampaignCustomer.objects.all().delete()
    rollups.mark_everything()
    rollups.rollups_refresh()
    assert _snapshot() == finished  # the same as a rebuild from scratch


def test_facts_arriving_during_a_run_leave_their_bucket_marked(world, monkeypatch):
    _facts(world)
    real = rollups._compute

    def meanwhile(stat, bucket):
        real(stat, bucket)
        if stat == rollups.ASSOCIATE_DAY and bucket == DAY.isoformat():
            rollups.mark(days=[DAY])  # an ingest commits for DAY while its bucket is computed

    monkeypatch.setattr(rollups, "_compute", meanwhile)
    rollups.rollups_refresh()
    assert set(RollupMark.objects.values_list("stat", "bucket")) == {("associate_day", DAY.isoformat())}
