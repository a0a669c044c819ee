"""The demo campaign `make run` drafts."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command
from django.utils import timezone

from campaigns import demo, planning
from campaigns.models import Campaign, MediaAsset, Moment, State, Variant
from staff.models import CustomerTagGroup
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories


def test_the_valentines_demo_has_tier_variants_and_every_state(directory):
    factories.user("admin", role=MARKETING_ADMIN)
    factories.user("approver", role=APPROVER)
    tier = factories.tag("金卡会员", group_name="会员等级")
    silver, regular = (factories.tag(name, group_name="会员等级") for name in ("银卡会员", "普通会员"))
    CustomerTagGroup.objects.filter(pk=tier.group_id).update(is_tier=True)
    call_command("seed_demo_campaign")
    campaign = Campaign.objects.get(name=demo.CAMPAIGN_NAME)
    assert (campaign.starts_on.month, campaign.starts_on.day, campaign.ends_on.day) == (2, 10, 14)
    states = list(campaign.moments.order_by("publish_at").values_list("state", flat=True))
    assert states == [State.APPROVED, State.APPROVED, State.IN_REVIEW, State.DRAFT, State.DRAFT]
    assert Variant.objects.filter(moment__campaign=campaign).count() == 10
    gold = Variant.objects.filter(name="金卡会员").first()
    assert list(gold.audience_tags.all()) == [tier] and gold.cta.tier == tier and gold.images.exists()
    assert MediaAsset.objects.count() == 6
    # The rehearsal: day 1 today, in enterprise mode, scheduled to go out within minutes.
    rehearsal = Campaign.objects.get(name=demo.REHEARSAL_NAME).moments.get()
    assert rehearsal.state == State.SCHEDULED and rehearsal.mode == Moment.Mode.ENTERPRISE
    assert timezone.now() < rehearsal.publish_at < timezone.now() + dt.timedelta(minutes=5)
    assert rehearsal.variants.count() == 2
    assert set(rehearsal.variants.get(name="其他客户").audience_tags.all()) == {silver, regular}
    call_command("seed_demo_campaign", if_empty=True)
    assert Campaign.objects.count() == 2
    call_command("seed_demo_campaign", flush_only=True)
    assert not Campaign.objects.exists()


def test_without_logins_the_demo_is_all_drafts(directory):
    call_command("seed_demo_campaign")
    assert set(Campaign.objects.get().moments.values_list("state", flat=True)) == {State.DRAFT}
    assert Variant.objects.count() == 5  # no tier group: one variant a day
    assert set(Variant.objects.values_list("name", flat=True)) == {"全部客户"}  # for everyone, and named so


def test_the_other_customers_are_the_other_tiers_so_no_gold_customer_gets_both(directory):
    """The demo's audiences are honest: 其他客户 targets the tiers other than gold (exclusive)."""
    factories.user("admin", role=MARKETING_ADMIN)
    gold = factories.tag("金卡会员", group_name="会员等级")
    silver = factories.tag("银卡会员", group_name="会员等级")
    CustomerTagGroup.objects.filter(pk=gold.group_id).update(is_tier=True)
    customers = [factories.customer(name) for name in ("Gold", "Silver")]
    for customer, tier in zip(customers, (gold, silver), strict=True):
        factories.contact(directory.east_associate, customer, tags=[tier])
    call_command("seed_demo_campaign")
    for moment in Campaign.objects.get(name=demo.CAMPAIGN_NAME).moments.all():
        others = moment.variants.get(name="其他客户")
        assert not others.audience_all and list(others.audience_tags.all()) == [silver]
        overlaps = planning.moment_overlaps(moment)
        assert overlaps.customers == 0 and overlaps.proposals == []
