"""The overlaps of ``campaigns.planning.moments_check`` (one pass over the contacts, customers counted per
set of audiences, issue #19) against their definition, counted here in Python with sets on random small
worlds: customers shared by associates, several tags on a contact, inactive contacts and associates,
variants for all contacts, for tags and for nobody, several moments checked at once."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from campaigns import planning
from campaigns.dispatch import variant_associate_ids
from campaigns.models import Moment
from campaigns.tests import factories as cf
from staff.models import Associate, Contact
from staff.roles import MARKETING_ADMIN
from staff.tests import factories


def _world(seed: int):
    rng = random.Random(seed)
    stores = [factories.department(f"店{n}") for n in range(3)]
    associates = [factories.associate(f"A{n}", departments=[rng.choice(stores)]) for n in range(6)]
    Associate.objects.filter(pk=associates[-1].pk).update(is_active=False)
    tiers = [factories.tag(name, group_name="会员等级") for name in ("金卡", "银卡", "普通")]
    interest = factories.tag("护肤", group_name="兴趣")
    customers = [factories.customer(f"c{n}") for n in range(40)]
    for customer in customers:
        for associate in rng.sample(associates, rng.choice((1, 1, 2, 3))):
            tags = [t for t in (*tiers, interest) if rng.random() < 0.3]
            link = factories.contact(associate, customer, tags=tags)
            if rng.random() < 0.1:
                Contact.objects.filter(pk=link.pk).update(is_active=False)
    owner = factories.user("planner", role=MARKETING_ADMIN)
    campaign = cf.campaign(owner)
    moments = []
    for n in range(3):
        at = dt.datetime.combine(campaign.starts_on, dt.time(9 + n), tzinfo=timezone.get_current_timezone())
        moment = Moment.objects.create(campaign=campaign, title=f"m{n}", publish_at=at,
                                       expires_at=at + dt.timedelta(hours=6))  # fmt: skip
        for k in range(rng.choice((1, 2, 3, 4))):
            tags = rng.sample([*tiers, interest], rng.choice((0, 0, 1, 2)))
            departments = rng.sample(stores, rng.choice((0, 1, 2)))
            named = rng.sample(associates, rng.choice((0, 1, 2)))
            cf.variant(moment, departments=departments, associates=named, tags=tags, name=f"v{n}{k}")
        moments.append(moment)
    return moments


def _audience(variant, proposed=None) -> set[int]:
    """The customers of ``variant``'s audience by definition: the active contacts of its targeted associates,
    all of them or those carrying one of its tags (or one of the ``proposed`` tags instead)."""
    tags = set(variant.audience_tags.values_list("pk", flat=True)) if proposed is None else proposed
    everyone = variant.audience_all and proposed is None
    contacts = Contact.objects.filter(associate_id__in=variant_associate_ids(variant), is_active=True)
    return {c.customer_id for c in contacts.prefetch_related("tags")
            if everyone or {t.pk for t in c.tags.all()} & tags}  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_the_overlaps_are_the_sets_of_their_definition(db, seed):
    moments = _world(seed)
    checks = planning.moments_check(moments)
    for moment in moments:
        overlaps = checks[moment.pk].overlaps
        variants = list(moment.variants.order_by("position", "id"))
        audiences = {v.pk: _audience(v) for v in variants}
        pairs = {(a.pk, b.pk): len(audiences[a.pk] & audiences[b.pk]) for a in variants for b in variants
                 if a.pk < b.pk}  # fmt: skip
        assert {(p.first.pk, p.second.pk): p.customers for p in overlaps.pairs} == {k: n for k, n in pairs.items()
                                                                                     if n}  # fmt: skip
        counted = [c for v in variants for c in audiences[v.pk]]
        assert overlaps.customers == len({c for c in counted if counted.count(c) > 1})
        tagged = set().union(*(audiences[v.pk] for v in variants if not v.audience_all))
        for proposal in overlaps.proposals:
            exclusive = _audience(proposal.variant, {t.pk for t in proposal.tags})
            assert proposal.falls_out == len(audiences[proposal.variant.pk] - exclusive - tagged)
            assert proposal.still_overlap == len(exclusive & tagged)
        assert checks[moment.pk].associates == {v.pk: len(variant_associate_ids(v)) for v in variants}
