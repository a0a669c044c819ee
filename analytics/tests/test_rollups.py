"""Roll-ups: what each bucket counts (deliveries, distinct customers, actual cap and
verification loss, likes and comments), distinct reach never summed across days or
associates, and a run interrupted half-way that the next run finishes."""

from __future__ import annotations

import pytest

from analytics import rollups
from analytics.models import (
    AssociateDay,
    CampaignCustomer,
    CampaignReach,
    DepartmentDay,
    RollupMark,
)
from analytics.tests import worlds
from analytics.tests.worlds import DAY, NEXT


def _snapshot() -> dict:
    fields = ["deliveries", "customers", "cap_loss", "verification_loss", "likes", "comments"]
    return {
        "associate": sorted(AssociateDay.objects.values_list("day", "associate__userid", *fields)),
        "department": sorted(DepartmentDay.objects.values_list("day", "department__name", *fields)),
        "campaign": sorted(CampaignReach.objects.values_list("campaign_id", *fields)),
        "customers": sorted(CampaignCustomer.objects.values_list("customer__name", "first_day", "deliveries")),
    }


def test_each_bucket_counts_what_happened(world):
    worlds.facts(world)
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
    worlds.facts(world)
    assert not RollupMark.objects.exists()


def test_an_interrupted_run_is_finished_by_the_next(world, monkeypatch):
    worlds.facts(world)
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
    worlds.facts(world)
    real = rollups._compute

    def meanwhile(stat, bucket):
        real(stat, bucket)
        if stat == rollups.ASSOCIATE_DAY and bucket == DAY.isoformat():
            rollups.mark(days=[DAY])  # an ingest commits for DAY while its bucket is computed

    monkeypatch.setattr(rollups, "_compute", meanwhile)
    rollups.rollups_refresh()
    assert set(RollupMark.objects.values_list("stat", "bucket")) == {("associate_day", DAY.isoformat())}
