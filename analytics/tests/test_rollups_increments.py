"""Roll-ups by increment equal a rebuild: random batches of facts (deliveries, likes and
comments, clicks, publications, a late post's moment), each batch followed by a refresh —
some interrupted half-way and resumed by the next — give exactly the roll-ups a rebuild
from scratch gives (every table the dashboards read)."""

from __future__ import annotations

import contextlib
import datetime as dt
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics import rollups, sync
from analytics.models import (
    AssociateDay,
    CampaignAssociate,
    CampaignCustomer,
    CampaignReach,
    Delivery,
    DepartmentDay,
    DepartmentReach,
    Post,
    RollupMark,
)
from analytics.tests import worlds
from analytics.tests.worlds import DAY, NEXT
from campaigns import links
from campaigns.confirmation import publish_tasks_confirm
from campaigns.models import LinkClick, PublishTask
from staff.models import Contact, Customer
from staff.tests import factories

DAYS = (DAY - dt.timedelta(days=1), DAY, NEXT)
COUNTS = ["deliveries", "customers", "cap_loss", "verification_loss", "likes", "comments", "clicks"]
FUNNEL = ["assigned", "tasks", "notified", "opened", "requested", "published", "failed"]


def snapshot() -> dict:
    return {
        "associate": sorted(AssociateDay.objects.values_list("day", "associate_id", "campaign_id", *COUNTS)),
        "department": sorted(DepartmentDay.objects.values_list("day", "department_id", "campaign_id", *COUNTS)),
        "campaign": sorted(CampaignReach.objects.values_list("campaign_id", "contacts", *COUNTS)),
        "customers": sorted(
            CampaignCustomer.objects.values_list("campaign_id", "customer_id", "first_day", "deliveries")
        ),  # fmt: skip
        "reach": sorted(
            DepartmentReach.objects.values_list("department_id", "campaign_id", "day", "customers"), key=str
        ),  # fmt: skip
        "associates": sorted(
            CampaignAssociate.objects.values_list("campaign_id", "associate_id", *FUNNEL, *COUNTS[:1], *COUNTS[2:])
        ),  # fmt: skip
    }


def rebuilt() -> dict:
    """The roll-ups recomputed from nothing (inside a savepoint, rolled back)."""
    with transaction.atomic():
        for model in (AssociateDay, DepartmentDay, CampaignReach, CampaignCustomer, DepartmentReach,
                      CampaignAssociate, RollupMark):  # fmt: skip
            model.objects.all().delete()
        rollups.mark_everything()
        rollups.rollups_refresh()
        found = snapshot()
        transaction.set_rollback(True)
    return found


@pytest.fixture
def brand(world):
    """The shared world, plus Zoe in a second store of the region (she has a task of the
    first moment) and two more customers, contacts of Ken and Zoe; rolled up."""
    second = factories.department("苏州店", parent=world["region"])
    zoe = factories.associate("zoe", departments=[second])
    dora, eve = Customer.objects.bulk_create([Customer(external_userid=f"wm-{n}", name=n) for n in ("dora", "eve")])
    added = worlds.at(DAY - dt.timedelta(days=40), 9)
    for customer in (world["anna"], dora, eve):
        Contact.objects.create(associate=zoe, customer=customer, added_at=added)
    Contact.objects.create(associate=world["ken"], customer=dora, added_at=added)
    first = world["moments"][0]
    PublishTask.objects.create(moment=first, variant=first.variants.first(), associate=zoe,
                               state=PublishTask.State.NOTIFIED, wecom_moment_id=f"wm-{first.pk}")  # fmt: skip
    world.update(zoe=zoe, dora=dora, eve=eve, second=second)
    world["associates"] = [world["lily"], world["ken"], zoe]
    world["customers"] = [world["anna"], world["bo"], world["cai"], dora, eve]
    # the fixture's tasks were published without the publish flow (which marks): count them once
    rollups.mark_everything()
    rollups.rollups_refresh()
    return world


delivery = st.tuples(st.just("delivery"), st.integers(0, 3), st.integers(0, 2), st.lists(st.integers(0, 4),
                     min_size=1, max_size=4), st.integers(0, 2))  # fmt: skip
like = st.tuples(st.just("like"), st.integers(0, 1), st.integers(0, 2), st.integers(0, 4), st.integers(0, 1))
click = st.tuples(st.just("click"), st.integers(0, 1), st.sampled_from([0, 1, None]), st.integers(0, 2))
publish = st.tuples(st.just("publish"))
late = st.tuples(st.just("late"), st.integers(0, 1))
batches = st.lists(
    st.tuples(st.lists(st.one_of(delivery, delivery, like, click, publish, late), min_size=1, max_size=6),
              st.sampled_from([None, None, 1, 2, 4])),  # refresh dies before its n-th bucket, or not
    min_size=1, max_size=4,
)  # fmt: skip


def apply(w: dict, fact: tuple) -> None:
    """One fact as results sync, the CTA redirect or the publish flow would store it."""
    kind, *args = fact
    moments = w["moments"]
    if kind == "delivery":
        which, who, customers, day = args
        # posts: the two moments' WeCom moments, a personal post of the associate, a post not ours (yet)
        if which < 2:
            post = worlds.post(f"wm-{moments[which].pk}", moment=moments[which])
        elif which == 2:
            post = worlds.post(f"own-{who}", creator=w["associates"][who], kind=Post.Kind.PERSONAL)
        else:
            post = worlds.post("wm-late")
        worlds.deliver(post, w["associates"][who], [w["customers"][c] for c in customers], DAYS[day])
    elif kind == "like":
        which, who, customer, comment = args
        post = worlds.post(f"wm-{moments[which].pk}", moment=moments[which])
        at = int(worlds.at(DAYS[1 + which], 12 + customer).timestamp())
        item = {"external_userid": w["customers"][customer].external_userid, "create_time": at}
        sync.engagements_store(post=post, associate_id=w["associates"][who].pk,
                               comments={"comment_list" if comment else "like_list": [item]})  # fmt: skip
    elif kind == "click":
        which, who, day = args
        associate = None if who is None else w["associates"][who]
        link = links.tracked_link_for(moment=moments[which], associate=associate, url="https://shop.example/r",
                                      purpose="cta")  # fmt: skip
        LinkClick.objects.create(link=link, campaign_id=moments[which].campaign_id, moment=moments[which],
                                 associate=associate, clicked_at=timezone.now(), day=DAYS[day],
                                 device="phone")  # fmt: skip
    elif kind == "publish":  # Zoe's task confirmed by WeCom (the publish flow)
        publish_tasks_confirm(wecom_moment_id=f"wm-{moments[0].pk}", userids=[w["zoe"].userid],
                              at=worlds.at(DAY, 15))  # fmt: skip
    else:  # the post not ours turns out to be a moment of ours: its stored facts change campaign
        post = worlds.post("wm-late")
        if post.moment_id is None:
            task = PublishTask.objects.filter(moment=moments[args[0]]).first()
            PublishTask.objects.filter(pk=task.pk).update(wecom_moment_id="wm-late")
            sync._posts_upsert([{"moment_id": "wm-late", "create_time": int(post.created_at.timestamp()),
                                 "create_type": 0}])  # fmt: skip


def refresh(dies_before: int | None) -> None:
    """A refresh; with ``dies_before`` n, the worker dies as it starts its n-th bucket."""
    if dies_before is None:
        rollups.rollups_refresh()
        return
    real, calls = rollups._compute, []

    def dying(stat, bucket):
        calls.append(bucket)
        if len(calls) == dies_before:
            raise KeyboardInterrupt
        real(stat, bucket)

    with mock.patch.object(rollups, "_compute", dying), contextlib.suppress(KeyboardInterrupt):
        rollups.rollups_refresh()


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_increments_equal_a_rebuild(brand, batches):
    with transaction.atomic():
        for facts, dies_before in batches:
            for fact in facts:
                apply(brand, fact)
            refresh(dies_before)
        rollups.rollups_refresh()  # what an interrupted run left
        assert not RollupMark.objects.exists()
        assert snapshot() == rebuilt()
        transaction.set_rollback(True)


def test_a_refresh_adds_only_the_new_rows(brand):
    """A cycle after the first reads the facts above each bucket's position: the counts
    grow by what was added, a customer seen before is not counted twice."""
    w = brand
    first = worlds.post(f"wm-{w['moments'][0].pk}", moment=w["moments"][0])
    worlds.deliver(first, w["ken"], [w["anna"], w["bo"]], DAY)
    rollups.rollups_refresh()
    reach = CampaignReach.objects.get(campaign=w["campaign"])
    assert (reach.deliveries, reach.customers) == (2, 2)
    second = worlds.post(f"wm-{w['moments'][1].pk}", moment=w["moments"][1])
    worlds.deliver(second, w["ken"], [w["anna"], w["dora"]], DAY)  # Anna again, Dora new
    worlds.deliver(first, w["zoe"], [w["anna"]], DAY)
    rollups.rollups_refresh()
    ken = AssociateDay.objects.get(associate=w["ken"], day=DAY, campaign=w["campaign"])
    assert (ken.deliveries, ken.customers) == (4, 3)
    region = DepartmentDay.objects.get(department=w["region"], day=DAY, campaign=w["campaign"])
    assert (region.deliveries, region.customers) == (5, 3)
    reach.refresh_from_db()
    assert (reach.deliveries, reach.customers) == (5, 3)
    assert Delivery.objects.count() == 5
    assert snapshot() == rebuilt()
