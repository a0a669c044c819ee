"""The forecast decides groups (issue #19): one decision per contact *key* — the associate's planned
slots, the planned tag sets the contact carries, how far past the reach limits it ranks, what is already
in its feed — and the customer-level figures from the keys' patterns. Over random small worlds it must
give exactly what the pair path gives (one row per planned (variant, associate, customer), the reference
``forecast_rows`` reads), every figure: the feed cap with deliveries already in the feed (personal posts,
other moments, our own moments' results that must not count), other campaigns' scheduled moments, tags,
overlapping variants, unverified associates around a small reach limit, rules that change between the
days, moments nobody can publish in time, inactive contacts and associates, customers shared by several
associates; and the snapshot's per (associate, day) rows are the rows' sums."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import asdict

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics import forecast
from analytics.models import Delivery, ForecastAssociateDay, ForecastSnapshot, PlatformRules, Post
from campaigns.models import Campaign, Moment, State, Variant
from campaigns.tests import factories as cf
from staff.models import Associate, Contact, ContactTag, Customer, CustomerTag, Department
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

DAY = dt.date(2027, 2, 10)
HOURS = [0.5, 9, 12, 20, 23.9]  # 23:54 with a short expiry: nobody can publish it before the quiet hours end


@pytest.fixture
def quiet_nights(settings):
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = 22, 8


def _at(day: int, hour: float) -> dt.datetime:
    local = dt.datetime.combine(DAY + dt.timedelta(days=day), dt.time(0), tzinfo=timezone.get_current_timezone())
    return local + dt.timedelta(minutes=round(hour * 60))


variants = st.fixed_dictionaries({
    "targets": st.lists(st.integers(0, 3), max_size=3, unique=True),  # associates by index; [] = the store
    "tags": st.none() | st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True),
})  # fmt: skip
moments = st.fixed_dictionaries({
    "day": st.integers(0, 1), "hour": st.sampled_from(HOURS), "short": st.booleans(),
    "variants": st.lists(variants, min_size=1, max_size=2),
})  # fmt: skip
worlds = st.fixed_dictionaries({
    "associates": st.lists(st.fixed_dictionaries({"verified": st.booleans(), "active": st.booleans() | st.just(True)}),
                           min_size=1, max_size=4),
    # per associate: (customer index in a pool of 8, added minute, active, tag indexes)
    "contacts": st.lists(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 50), st.booleans() | st.just(True),
                                            st.lists(st.integers(0, 2), max_size=2, unique=True)),
                                  max_size=6, unique_by=lambda c: c[0]), min_size=4, max_size=4),
    "feed_cap": st.integers(1, 3), "reach_limit": st.integers(1, 4),
    "second_day_rules": st.none() | st.tuples(st.integers(1, 3), st.integers(1, 4)),
    "ours": st.lists(moments, min_size=1, max_size=5),
    "others": st.lists(moments, max_size=2),
    # already in the feed: (associate, day, kind) — a personal post, another moment's, one of ours' results
    "feed": st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.sampled_from(["personal", "other", "ours"])),
                     max_size=4),
})  # fmt: skip


def _wipe() -> None:
    for model in (Delivery, Post, ForecastSnapshot, Moment, Campaign, ContactTag, Contact, Customer, CustomerTag,
                  Associate, Department, PlatformRules):  # fmt: skip
        model.objects.all().delete()


def _moment(campaign, spec, associates, store, tags, state) -> Moment:
    at = _at(spec["day"], spec["hour"])
    moment = Moment.objects.create(campaign=campaign, title="m", publish_at=at, state=state,
                                   expires_at=at + dt.timedelta(hours=0.1 if spec["short"] else 6))  # fmt: skip
    for position, v in enumerate(spec["variants"]):
        targets = [associates[i] for i in v["targets"] if i < len(associates)]
        variant = cf.variant(moment, associates=targets, departments=[] if targets else [store],
                             tags=[tags[t] for t in v["tags"] or []], name=f"v{position}")  # fmt: skip
        Variant.objects.filter(pk=variant.pk).update(position=position)
    return moment


def _build(world) -> tuple[Campaign, list[Moment]]:
    _wipe()
    get_user_model().objects.filter(username="planner").delete()
    owner = factories.user("planner", role=MARKETING_ADMIN)
    PlatformRules.objects.create(effective_from=DAY - dt.timedelta(days=30), feed_cap=world["feed_cap"],
                                 unverified_reach_limit=world["reach_limit"])  # fmt: skip
    if world["second_day_rules"]:
        cap, limit = world["second_day_rules"]
        PlatformRules.objects.create(effective_from=DAY + dt.timedelta(days=1), feed_cap=cap,
                                     unverified_reach_limit=limit)  # fmt: skip
    store = factories.department("store")
    tags = [factories.tag(name) for name in ("gold", "silver", "rose")]
    customers = Customer.objects.bulk_create([Customer(external_userid=f"wm{i}", name=f"c{i}") for i in range(8)])
    associates = []
    start = _at(-100, 9)
    for index, spec in enumerate(world["associates"]):
        associate = factories.associate(f"a{index}", departments=[store], verified=spec["verified"])
        Associate.objects.filter(pk=associate.pk).update(is_active=spec["active"])
        associates.append(associate)
        for customer, minute, active, tagged in world["contacts"][index]:
            # Same-minute adds are ordered by external_userid (rules.boundary_order_sql).
            contact = Contact.objects.create(associate=associate, customer=customers[customer], is_active=active,
                                             added_at=start + dt.timedelta(minutes=minute))  # fmt: skip
            contact.tags.add(*[tags[t] for t in tagged])
    campaign = cf.campaign(owner)
    other_campaign = cf.campaign(owner, name="会员日")
    ours = [_moment(campaign, spec, associates, store, tags, State.DRAFT) for spec in world["ours"]]
    others = [_moment(other_campaign, spec, associates, store, tags, State.SCHEDULED) for spec in world["others"]]
    for n, (index, day, kind) in enumerate(world["feed"]):
        if index >= len(associates):
            continue
        moment = {"personal": None, "other": others[0] if others else None, "ours": ours[0]}[kind]
        post = Post.objects.create(wecom_moment_id=f"feed-{n}", kind=Post.Kind.PERSONAL if moment is None else
                                   Post.Kind.ENTERPRISE, creator=associates[index], moment=moment,
                                   created_at=_at(day, 0.1))  # fmt: skip
        for contact in Contact.objects.filter(associate=associates[index]):
            Delivery.objects.create(post=post, moment=moment, associate=associates[index],
                                    customer_id=contact.customer_id, day=DAY + dt.timedelta(days=day))  # fmt: skip
    return campaign, ours


def _canonical(result: forecast.Forecast) -> dict:
    data = asdict(result)
    data["collisions"] = sorted(data["collisions"], key=lambda c: sorted((k, str(v)) for k, v in c.items()))
    return data


def _from_rows(rows, moments) -> dict:
    """The figures, recounted in Python from the pair rows."""
    moment_of = dict(Variant.objects.filter(moment__in=moments).values_list("pk", "moment_id"))
    per = defaultdict(Counter)
    audience, reach, associates = defaultdict(set), defaultdict(set), defaultdict(set)
    delivered_by = defaultdict(set)
    days = defaultdict(Counter)
    for variant, associate, customer, day, outcome in rows:
        per[variant][outcome] += 1
        audience[variant].add(customer)
        associates[variant].add(associate)
        days[associate, day][outcome] += 1
        if outcome == forecast.DELIVERED:
            reach[variant].add(customer)
            delivered_by[customer].add(associate)
    lost = {c for _, _, c, _, o in rows if o == forecast.UNREACHABLE}
    twice = set()  # customers delivered two variants of one moment
    for customer in {c for _, _, c, _, _ in rows}:
        got = {v for v, _, c, _, o in rows if c == customer and o == forecast.DELIVERED}
        if len([moment_of[v] for v in got]) > len({moment_of[v] for v in got}):
            twice.add(customer)
    return {
        "variants": {v: (len(associates[v]), len(audience[v]), sum(per[v].values()), per[v][forecast.DELIVERED],
                         len(reach[v]), per[v][forecast.CAPPED], per[v][forecast.UNREACHABLE],
                         per[v][forecast.UNPUBLISHABLE]) for v in per},
        "reach": len(delivered_by), "duplicate_exposure": sum(1 for a in delivered_by.values() if len(a) > 1),
        "verify_gain": len(lost - set(delivered_by)), "variant_overlap": len(twice),
        "days": {key: (n[forecast.DELIVERED], n[forecast.CAPPED], n[forecast.UNREACHABLE]) for key, n in days.items()},
    }  # fmt: skip


@hypothesis_settings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(world=worlds)
def test_the_groups_give_every_figure_the_pairs_give(world, db, quiet_nights):
    campaign, moments = _build(world)
    grouped = forecast.forecast_moments(moments)
    assert _canonical(grouped) == _canonical(forecast.forecast_pairs(moments))

    expected = _from_rows(forecast.forecast_rows(moments), moments)
    got = {line.variant_id: (line.associates, line.audience, line.audience_contacts, line.deliveries, line.reach,
                             line.cap_loss, line.verification_loss, line.unpublishable)
           for line in grouped.variants if line.audience_contacts}  # fmt: skip
    assert got == expected["variants"]
    assert (grouped.reach, grouped.duplicate_exposure, grouped.verify_gain, grouped.variant_overlap) == (
        expected["reach"],
        expected["duplicate_exposure"],
        expected["verify_gain"],
        expected["variant_overlap"],
    )

    snapshot = forecast.forecast_snapshot_create(campaign=campaign)
    assert snapshot.deliveries == grouped.deliveries and snapshot.reach == grouped.reach
    stored = {(r.associate_id, r.day): (r.deliveries, r.cap_loss, r.verification_loss)
              for r in ForecastAssociateDay.objects.filter(snapshot=snapshot)}  # fmt: skip
    assert stored == expected["days"]


def test_the_monthly_cap_is_decided_by_pairs_and_the_same_either_way(db):
    """With the enterprise monthly cap on for a planned moment, the forecast takes the pair path (the cap
    counts per customer across associates and days): forecast_moments is forecast_pairs."""
    store = factories.department("store")
    lily = factories.associate("lily", departments=[store])
    anna = Customer.objects.create(external_userid="wm-anna", name="anna")
    Contact.objects.create(associate=lily, customer=anna, added_at=_at(-10, 9))
    PlatformRules.objects.create(effective_from=DAY - dt.timedelta(days=30), enterprise_monthly_cap=1)
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moments = []
    for day in range(3):
        moment = Moment.objects.create(campaign=campaign, title="m", publish_at=_at(day, 10),
                                       expires_at=_at(day, 16), mode=Moment.Mode.ENTERPRISE)  # fmt: skip
        cf.variant(moment, associates=[lily])
        moments.append(moment)
    result = forecast.forecast_moments(moments)
    assert (result.deliveries, result.monthly_cap_loss) == (1, 2)
    assert _canonical(result) == _canonical(forecast.forecast_pairs(moments))
    snapshot = forecast.forecast_snapshot_create(campaign=campaign)
    assert (snapshot.deliveries, snapshot.monthly_cap_loss) == (1, 2)
    stored = ForecastAssociateDay.objects.filter(snapshot=snapshot).order_by("day")
    # Days 2 and 3 are planned but hidden by the monthly cap: rows with no delivery.
    assert [(r.associate_id, r.day, r.deliveries) for r in stored] == [
        (lily.pk, DAY + dt.timedelta(days=n), 1 if n == 0 else 0) for n in range(3)
    ]


def test_keys_wider_than_one_mask_column(db, quiet_nights, monkeypatch):
    """Tag sets, feed entries and patterns beyond one BIGINT column each (62 flags; here 2): the masks
    spread over several columns and the figures do not change."""
    monkeypatch.setattr(forecast, "BITS", 2)
    world = {
        "associates": [{"verified": False, "active": True}, {"verified": True, "active": True},
                       {"verified": False, "active": True}],
        "contacts": [[(0, 1, True, [0]), (1, 2, True, [1, 2]), (2, 3, True, []), (3, 3, True, [2])],
                     [(0, 5, True, [2]), (1, 1, True, [0, 1]), (4, 2, True, [1])],
                     [(3, 0, True, [0, 2]), (4, 9, True, []), (5, 4, False, [1])], []],
        "feed_cap": 2, "reach_limit": 2, "second_day_rules": (3, 1),
        "ours": [{"day": 0, "hour": 9, "short": False, "variants": [{"targets": [], "tags": [0]},
                                                                    {"targets": [], "tags": [1, 2]}]},
                 {"day": 0, "hour": 12, "short": False, "variants": [{"targets": [0, 1], "tags": [2]}]},
                 {"day": 0, "hour": 20, "short": False, "variants": [{"targets": [], "tags": None}]},
                 {"day": 1, "hour": 9, "short": False, "variants": [{"targets": [2], "tags": [0, 1]}]},
                 {"day": 1, "hour": 23.9, "short": True, "variants": [{"targets": [], "tags": None}]}],
        "others": [{"day": 0, "hour": 0.5, "short": False, "variants": [{"targets": [1, 2], "tags": [1]}]}],
        "feed": [(0, 0, "personal"), (1, 0, "other"), (2, 1, "personal"), (0, 1, "ours"), (2, 0, "personal")],
    }  # fmt: skip
    campaign, moments = _build(world)
    grouped = forecast.forecast_moments(moments)
    assert grouped.cap_loss and grouped.verification_loss and grouped.unpublishable and grouped.collisions
    assert _canonical(grouped) == _canonical(forecast.forecast_pairs(moments))
