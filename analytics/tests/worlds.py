"""A small brand with results: two associates (one unverified), three customers, a
two-day campaign, personal posts filling a feed, likes and a comment — the facts as
results sync would store them. Shared by the roll-up and API tests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import sync
from analytics.models import PlatformRules, Post
from campaigns.models import Moment, PublishTask, State
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

DAY = dt.date(2027, 2, 10)
NEXT = DAY + dt.timedelta(days=1)


def at(day: dt.date, hour: int) -> dt.datetime:
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
    added = at(DAY - dt.timedelta(days=50), 9)
    for i, customer in enumerate((anna, bo, cai)):
        Contact.objects.create(associate=lily, customer=customer, added_at=added + dt.timedelta(hours=i))
    for customer in (anna, bo):
        Contact.objects.create(associate=ken, customer=customer, added_at=added)
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moments = []
    for day in (DAY, NEXT):
        moment = Moment.objects.create(campaign=campaign, title=f"m {day}", publish_at=at(day, 10),
                                       expires_at=at(day, 22), state=State.LIVE)  # fmt: skip
        variant = cf.variant(moment, associates=[lily, ken])
        for associate in (lily, ken):
            PublishTask.objects.create(moment=moment, variant=variant, associate=associate,
                                       state=PublishTask.State.PUBLISHED, published_at=at(day, 11))  # fmt: skip
        moments.append(moment)
    return {"region": region, "store": store, "lily": lily, "ken": ken, "anna": anna, "bo": bo, "cai": cai,
            "campaign": campaign, "moments": moments}  # fmt: skip


def post(wecom_id: str, *, moment=None, creator=None, kind=Post.Kind.ENTERPRISE, day=DAY) -> Post:
    post, _ = Post.objects.get_or_create(wecom_moment_id=wecom_id, defaults={
        "kind": kind, "creator": creator, "moment": moment, "created_at": at(day, 8)})  # fmt: skip
    return post


def deliver(post: Post, associate, customers, day) -> None:
    sync.deliveries_store(post_id=post.pk, moment_id=post.moment_id, associate_id=associate.pk, day=day,
                          external_userids=[c.external_userid for c in customers])  # fmt: skip


def facts(w) -> None:
    """What WeCom would report: Lily's personal posts took Anna's three slots on DAY; the
    campaign reached Bo from Lily (Cai is beyond her limit), Anna and Bo from Ken; on NEXT
    Anna from both. Two likes and a comment."""
    for n in range(3):
        deliver(post(f"own-{n}", creator=w["lily"], kind=Post.Kind.PERSONAL), w["lily"], [w["anna"]], DAY)
    first, second = (post(f"wm-{m.pk}", moment=m, day=d) for m, d in zip(w["moments"], (DAY, NEXT), strict=True))
    deliver(first, w["lily"], [w["bo"]], DAY)
    deliver(first, w["ken"], [w["anna"], w["bo"]], DAY)
    deliver(second, w["lily"], [w["anna"], w["bo"]], NEXT)
    deliver(second, w["ken"], [w["anna"]], NEXT)
    ts = int(at(DAY, 12).timestamp())
    sync.engagements_store(post=first, associate_id=w["ken"].pk, comments={
        "like_list": [{"external_userid": "wm-anna", "create_time": ts}, {"userid": "lily", "create_time": ts}],
        "comment_list": [{"external_userid": "wm-bo", "create_time": ts + 5}],
    })  # fmt: skip
