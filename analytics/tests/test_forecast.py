"""The forecast at each rule's edge (DESIGN.md §4): the 3rd vs the 4th moment of a day,
the 200th vs the 201st contact by added time, the day boundary at local midnight,
deliveries already in the feed (personal posts included), other campaigns' planned
moments, rules as dated data, and an empty audience."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics import forecast
from analytics.models import Delivery, PlatformRules, Post
from analytics.rules import rules_for
from campaigns.models import Moment, State
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

DAY = dt.date(2027, 2, 10)


@pytest.fixture
def shop(db):
    store = factories.department("上海店")
    return {
        "store": store,
        "owner": factories.user("planner", role=MARKETING_ADMIN),
        "lily": factories.associate("lily", departments=[store]),
        "ken": factories.associate("ken", departments=[store]),
    }


def _at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=timezone.get_current_timezone())


def _customers(associate, count: int, *, start: dt.datetime | None = None, tags=()) -> list[Customer]:
    start = start or _at(DAY - dt.timedelta(days=100), 9)
    customers = Customer.objects.bulk_create(
        [Customer(external_userid=f"wm-{associate.userid}-{i}", name=f"c{i}") for i in range(count)]
    )
    Contact.objects.bulk_create([Contact(associate=associate, customer=c, added_at=start + dt.timedelta(minutes=i))
                                 for i, c in enumerate(customers)])  # fmt: skip
    if tags:
        for contact in Contact.objects.filter(associate=associate):
            contact.tags.add(*tags)
    return customers


def _moment(campaign, at: dt.datetime, *, associates=(), departments=(), tags=(), state=State.DRAFT) -> Moment:
    moment = Moment.objects.create(campaign=campaign, title=f"at {at:%H:%M}", publish_at=at,
                                   expires_at=at + dt.timedelta(hours=6), state=state)  # fmt: skip
    cf.variant(moment, associates=associates, departments=departments, tags=tags)
    return moment


def _delivered(rows) -> dict[int, set]:
    """moment → {(associate, customer)} delivered."""
    out: dict[int, set] = {}
    from campaigns.models import Variant

    moment_of = dict(Variant.objects.values_list("pk", "moment_id"))
    for variant, associate, customer, _, outcome in rows:
        if outcome == forecast.DELIVERED:
            out.setdefault(moment_of[variant], set()).add((associate, customer))
    return out


def test_the_fourth_moment_of_a_day_is_hidden_and_says_by_whom(shop):
    (anna,) = _customers(shop["lily"], 1)
    campaign = cf.campaign(shop["owner"])
    moments = [_moment(campaign, _at(DAY, hour), associates=[shop["lily"]]) for hour in (9, 11, 13, 15)]
    rows = forecast.forecast_rows(moments)
    assert [o for *_, o in sorted(rows, key=lambda r: r[0])] == [forecast.DELIVERED] * 3 + [forecast.CAPPED]
    result = forecast.forecast_moments(moments)
    last = result.variants[-1]
    assert (last.audience, last.deliveries, last.cap_loss, last.reach) == (1, 0, 1, 0)
    assert {c.moment_id for c in result.collisions} == {m.pk for m in moments[:3]}
    assert result.cap_loss_by_associate_day == [{"associate_id": shop["lily"].pk, "day": DAY, "cap_loss": 1}]
    assert result.reach == 1 and result.deliveries == 3


def test_the_cap_is_per_associate_a_customer_of_two_sees_both(shop):
    (anna,) = _customers(shop["lily"], 1)
    Contact.objects.create(associate=shop["ken"], customer=anna, added_at=_at(DAY - dt.timedelta(days=3), 9))
    campaign = cf.campaign(shop["owner"])
    moments = [_moment(campaign, _at(DAY, h), departments=[shop["store"]]) for h in (9, 11, 13, 15)]
    result = forecast.forecast_moments(moments)
    assert result.deliveries == 6 and result.cap_loss == 2  # 3 from each associate
    assert result.duplicate_exposure == 1 and result.reach == 1 and result.contacts == 1


def test_the_200th_contact_is_reached_the_201st_is_not(shop):
    lily = shop["lily"]
    lily.is_verified = False
    lily.save(update_fields=["is_verified"])
    customers = _customers(lily, 201)
    moment = _moment(cf.campaign(shop["owner"]), _at(DAY, 10), associates=[lily])
    rows = {customer: outcome for _, _, customer, _, outcome in forecast.forecast_rows([moment])}
    assert rows[customers[199].pk] == forecast.DELIVERED and rows[customers[200].pk] == forecast.UNREACHABLE
    result = forecast.forecast_moments([moment])
    assert (result.variants[0].deliveries, result.variants[0].verification_loss) == (200, 1)
    assert result.verification == [{"associate_id": lily.pk, "customers": 1}]
    assert (result.verify_accounts, result.verify_gain) == (1, 1)  # "verify 1 account to reach 1 more customer"
    lily.is_verified = True
    lily.save(update_fields=["is_verified"])
    assert forecast.forecast_moments([moment]).variants[0].deliveries == 201


def test_the_earliest_added_count_not_the_first_created(shop):
    lily = shop["lily"]
    lily.is_verified = False
    lily.save(update_fields=["is_verified"])
    customers = _customers(lily, 201)
    Contact.objects.filter(associate=lily, customer=customers[0]).update(added_at=_at(DAY, 8))  # added last
    moment = _moment(cf.campaign(shop["owner"]), _at(DAY, 10), associates=[lily])
    rows = {customer: outcome for _, _, customer, _, outcome in forecast.forecast_rows([moment])}
    assert rows[customers[0].pk] == forecast.UNREACHABLE and rows[customers[200].pk] == forecast.DELIVERED


def test_the_day_ends_at_local_midnight(shop):
    (anna,) = _customers(shop["lily"], 1)
    campaign = cf.campaign(shop["owner"])
    late = [_moment(campaign, _at(DAY, h, m, s), associates=[shop["lily"]]) for h, m, s in ((21, 0, 0), (22, 0, 0),
                                                                                             (23, 59, 30))]  # fmt: skip
    after = _moment(campaign, _at(DAY + dt.timedelta(days=1), 0, 0, 30), associates=[shop["lily"]])
    result = forecast.forecast_moments([*late, after])
    assert result.cap_loss == 0 and result.deliveries == 4
    assert [v.day for v in result.variants] == [DAY, DAY, DAY, DAY + dt.timedelta(days=1)]


def test_what_is_already_in_the_feed_counts_first_personal_posts_too(shop):
    (anna,) = _customers(shop["lily"], 1)
    for n in range(2):  # Lily's own posts this morning, seen by results sync
        post = Post.objects.create(wecom_moment_id=f"personal-{n}", kind=Post.Kind.PERSONAL, creator=shop["lily"],
                                   created_at=_at(DAY, 7))  # fmt: skip
        Delivery.objects.create(post=post, associate=shop["lily"], customer=anna, day=DAY)
    campaign = cf.campaign(shop["owner"])
    moments = [_moment(campaign, _at(DAY, h), associates=[shop["lily"]]) for h in (9, 11)]
    result = forecast.forecast_moments(moments)
    assert [v.deliveries for v in result.variants] == [1, 0]
    # The 9:00 moment and "personal posts" took the 11:00 one's slot.
    assert {(c.moment_id, c.planned) for c in result.collisions} == {(moments[0].pk, True), (None, False)}
    Delivery.objects.update(day=DAY - dt.timedelta(days=1))  # yesterday's feed does not count
    assert forecast.forecast_moments(moments).cap_loss == 0


def test_other_campaigns_planned_moments_take_their_slots_in_order(shop):
    (anna,) = _customers(shop["lily"], 1)
    other = cf.campaign(shop["owner"], name="会员日")
    early = [_moment(other, _at(DAY, h), associates=[shop["lily"]], state=State.SCHEDULED) for h in (8, 9)]
    _moment(other, _at(DAY, 10), associates=[shop["lily"]], state=State.DRAFT)  # not planned yet: ignored
    later = _moment(other, _at(DAY, 20), associates=[shop["lily"]], state=State.APPROVED)
    ours = _moment(cf.campaign(shop["owner"]), _at(DAY, 12), associates=[shop["lily"]])
    mine = [_moment(ours.campaign, _at(DAY, 14), associates=[shop["lily"]]), ours]
    result = forecast.forecast_moments(mine)
    assert [(v.moment_id, v.deliveries, v.cap_loss) for v in result.variants] == [(ours.pk, 1, 0), (mine[0].pk, 0, 1)]
    assert {c.moment_id for c in result.collisions} == {early[0].pk, early[1].pk, ours.pk}
    assert later.pk not in {c.moment_id for c in result.collisions}  # after ours: it loses, not us


def test_tags_narrow_the_audience(shop):
    gold = factories.tag("gold")
    golden = _customers(shop["lily"], 2, tags=[gold])
    _customers(shop["ken"], 3)
    moment = _moment(cf.campaign(shop["owner"]), _at(DAY, 10), departments=[shop["store"]], tags=[gold])
    result = forecast.forecast_moments([moment])
    assert (result.variants[0].audience, result.variants[0].associates) == (2, 1)
    assert result.contacts == 5 and result.reach == 2 and result.reach_rate == pytest.approx(0.4)
    assert {c for _, _, c, _, _ in forecast.forecast_rows([moment])} == {c.pk for c in golden}


def test_rules_are_dated_data(shop):
    (anna,) = _customers(shop["lily"], 1)
    PlatformRules.objects.create(effective_from=DAY + dt.timedelta(days=1), feed_cap=2, unverified_reach_limit=200)
    assert rules_for(DAY).feed_cap == 3 and rules_for(DAY + dt.timedelta(days=5)).feed_cap == 2
    campaign = cf.campaign(shop["owner"])
    moments = [_moment(campaign, _at(day, h), associates=[shop["lily"]])
               for day in (DAY, DAY + dt.timedelta(days=1)) for h in (9, 11, 13)]  # fmt: skip
    result = forecast.forecast_moments(moments)
    assert [v.deliveries for v in result.variants] == [1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("values,field", [
    ({"feed_cap": 0}, "feed_cap"), ({"unverified_reach_limit": 0}, "unverified_reach_limit"),
    ({"enterprise_monthly_cap": 0}, "enterprise_monthly_cap"), ({"time_zone": "Mars/Olympus"}, "time_zone"),
])  # fmt: skip
def test_nonsense_rules_are_refused_with_a_message(db, values, field):
    rules = PlatformRules(effective_from=DAY, **values)
    with pytest.raises(ValidationError) as refused:
        rules.full_clean()
    assert field in refused.value.message_dict
    if field != "time_zone":
        with pytest.raises(IntegrityError), transaction.atomic():
            rules.save()  # and the database refuses it too


def test_an_empty_audience_forecasts_zeros(shop):
    moment = _moment(cf.campaign(shop["owner"]), _at(DAY, 10), associates=[shop["lily"]])  # no contacts
    result = forecast.forecast_moments([moment])
    assert (result.reach, result.contacts, result.deliveries, result.reach_rate) == (0, 0, 0, 0.0)
    assert result.variants[0].audience == 0
    assert forecast.forecast_moments([]).variants == []


def test_the_enterprise_monthly_cap_when_the_rules_turn_it_on(shop):
    """Off by default. On (4 a month): a customer's 5th enterprise moment of the month is
    hidden, counting the enterprise moments already delivered that month (not personal
    posts, not associate-shared moments); a new month starts again."""
    (anna,) = _customers(shop["lily"], 1)
    campaign = cf.campaign(shop["owner"])
    days = [DAY + dt.timedelta(days=n) for n in range(4)]  # Feb 10-13
    moments = [_moment(campaign, _at(day, 10), associates=[shop["lily"]]) for day in days]
    shared = _moment(campaign, _at(DAY, 12), associates=[shop["lily"]])  # associate-shared: a personal post
    march = _moment(campaign, _at(dt.date(2027, 3, 1), 10), associates=[shop["lily"]])
    Moment.objects.filter(pk__in=[m.pk for m in (*moments, march)]).update(mode=Moment.Mode.ENTERPRISE)
    moments = list(Moment.objects.filter(pk__in=[m.pk for m in moments]).order_by("publish_at"))
    march.refresh_from_db()
    planned = [*moments, shared, march]
    assert forecast.forecast_moments(planned).monthly_cap_loss == 0  # off
    PlatformRules.objects.create(effective_from=dt.date(2027, 1, 1), enterprise_monthly_cap=4)
    result = forecast.forecast_moments(planned)
    assert result.monthly_cap_loss == 0 and result.deliveries == 6  # 4 enterprise in February, 1 shared, 1 in March
    # An enterprise moment already delivered on Feb 2 and a personal post: the 4th planned one is now the 5th.
    for n, kind in enumerate((Post.Kind.ENTERPRISE, Post.Kind.PERSONAL)):
        post = Post.objects.create(wecom_moment_id=f"earlier-{n}", kind=kind, created_at=_at(dt.date(2027, 2, 2), 9))
        Delivery.objects.create(post=post, associate=shop["lily"], customer=anna, day=dt.date(2027, 2, 2))
    result = forecast.forecast_moments(planned)
    lost = {line.moment_id: line.monthly_cap_loss for line in result.variants}
    assert lost == {moments[0].pk: 0, moments[1].pk: 0, moments[2].pk: 0, moments[3].pk: 1, shared.pk: 0, march.pk: 0}
    assert result.deliveries == 5
