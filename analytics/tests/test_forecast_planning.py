"""The forecast counts only what can be published, and overlapping variants as two slots
(DESIGN.md §4): a moment nobody can publish in time (campaigns.planning: quiet hours against its
expiry) delivers nothing and takes no slot, its audience reported as unpublishable; a customer
in two variants' audiences of one moment gets both."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import forecast
from campaigns.models import Moment
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

DAY = dt.date(2027, 2, 10)


@pytest.fixture
def shop(db):
    store = factories.department("上海店")
    return {"store": store, "owner": factories.user("planner", role=MARKETING_ADMIN),
            "lily": factories.associate("lily", departments=[store]),
            "ken": factories.associate("ken", departments=[store])}  # fmt: skip


@pytest.fixture
def quiet_nights(settings):
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = 22, 8


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def _customers(associate, count: int, *, tags=()) -> list[Customer]:
    start = _at(DAY - dt.timedelta(days=100), 9)
    customers = Customer.objects.bulk_create(
        [Customer(external_userid=f"wm-{associate.userid}-{i}", name=f"c{i}") for i in range(count)]
    )
    contacts = Contact.objects.bulk_create([Contact(associate=associate, customer=c,
                                                    added_at=start + dt.timedelta(minutes=i))
                                            for i, c in enumerate(customers)])  # fmt: skip
    for contact in contacts:
        contact.tags.add(*tags)
    return customers


def _moment(campaign, at: dt.datetime, *, hours: float = 6, associates=(), mode=Moment.Mode.ASSOCIATE) -> Moment:
    moment = Moment.objects.create(campaign=campaign, title=f"at {at:%H:%M}", publish_at=at,
                                   expires_at=at + dt.timedelta(hours=hours), mode=mode)  # fmt: skip
    cf.variant(moment, associates=associates)
    return moment


def test_a_moment_nobody_can_publish_in_time_delivers_nothing_and_says_so(shop, quiet_nights):
    _customers(shop["lily"], 2)
    _customers(shop["ken"], 3)
    late = _moment(cf.campaign(shop["owner"]), _at(DAY, 23, 50), associates=[shop["lily"], shop["ken"]])
    result = forecast.forecast_moments([late])
    (line,) = result.variants
    assert (line.associates, line.audience, line.audience_contacts) == (2, 5, 5)  # the audience is still shown
    assert (line.deliveries, line.reach, line.unpublishable, line.cap_loss, line.verification_loss) == (0, 0, 5, 0, 0)
    assert (result.deliveries, result.reach, result.unpublishable) == (0, 0, 5)
    assert result.unpublishable_moments == [late.pk]
    assert {outcome for *_, outcome in forecast.forecast_rows([late])} == {forecast.UNPUBLISHABLE}


def test_an_unpublishable_moment_takes_no_feed_slot(shop, quiet_nights):
    (anna,) = _customers(shop["lily"], 1)
    campaign = cf.campaign(shop["owner"])
    dawn = _moment(campaign, _at(DAY, 7), hours=0.5, associates=[shop["lily"]])  # expires before 08:00
    day = [_moment(campaign, _at(DAY, h), associates=[shop["lily"]]) for h in (9, 11, 13)]
    result = forecast.forecast_moments([dawn, *day])
    assert [(v.moment_id, v.deliveries, v.unpublishable) for v in result.variants] == [
        (dawn.pk, 0, 1), (day[0].pk, 1, 0), (day[1].pk, 1, 0), (day[2].pk, 1, 0)]  # fmt: skip
    assert result.cap_loss == 0 and result.unpublishable_moments == [dawn.pk]


def test_what_is_left_after_the_quiet_hours_or_an_enterprise_moment_is_forecast_as_usual(shop, quiet_nights):
    _customers(shop["lily"], 2)
    campaign = cf.campaign(shop["owner"])
    partly = _moment(campaign, _at(DAY, 23), hours=11, associates=[shop["lily"]])  # notified at 08:00, until 10:00
    pushed = _moment(campaign, _at(DAY, 23, 50), associates=[shop["lily"]], mode=Moment.Mode.ENTERPRISE)
    result = forecast.forecast_moments([partly, pushed])
    assert [(v.deliveries, v.unpublishable) for v in result.variants] == [(2, 0), (2, 0)]
    assert result.unpublishable == 0 and result.unpublishable_moments == []


def test_another_campaigns_unpublishable_moment_takes_no_slot_either(shop, quiet_nights):
    (anna,) = _customers(shop["lily"], 1)
    other = cf.campaign(shop["owner"], name="会员日")
    for hour in (7, 7):  # scheduled, but expiring before the morning's notifications
        moment = _moment(other, _at(DAY, hour), hours=0.5, associates=[shop["lily"]])
        Moment.objects.filter(pk=moment.pk).update(state="scheduled")
    ours = [_moment(cf.campaign(shop["owner"]), _at(DAY, h), associates=[shop["lily"]]) for h in (9, 11, 13)]
    result = forecast.forecast_moments(ours)
    assert result.deliveries == 3 and result.cap_loss == 0 and not result.collisions


def test_a_customer_in_two_variants_of_a_moment_takes_two_slots(shop):
    """Overlapping variants are double exposure: the gold customer gets the gold variant and the
    all-contacts one (two slots of her feed that day), so the day's third moment is hidden for her."""
    gold = factories.tag("金卡会员", group_name="会员等级")
    (anna,) = _customers(shop["lily"], 1, tags=[gold])
    bob = Customer.objects.create(external_userid="wm-bob", name="bob")
    Contact.objects.create(associate=shop["lily"], customer=bob, added_at=_at(DAY - dt.timedelta(days=1), 9))
    campaign = cf.campaign(shop["owner"])
    valentine = Moment.objects.create(campaign=campaign, title="情人节", publish_at=_at(DAY, 10),
                                      expires_at=_at(DAY, 20))  # fmt: skip
    cf.variant(valentine, associates=[shop["lily"]], tags=[gold], name="金卡会员")
    cf.variant(valentine, associates=[shop["lily"]], name="其他客户")
    later = [_moment(campaign, _at(DAY, h), associates=[shop["lily"]]) for h in (12, 14)]
    result = forecast.forecast_moments([valentine, *later])
    delivered = [(v, c) for v, _, c, _, outcome in forecast.forecast_rows([valentine, *later])
                 if outcome == forecast.DELIVERED and c == anna.pk]  # fmt: skip
    assert len(delivered) == 3  # both variants of the valentine, then the 12:00 one
    assert [(v.deliveries, v.cap_loss) for v in result.variants] == [(1, 0), (2, 0), (2, 0), (1, 1)]
    assert result.variant_overlap == 1  # anna, through one associate: not duplicate exposure across associates
    assert result.duplicate_exposure == 0
