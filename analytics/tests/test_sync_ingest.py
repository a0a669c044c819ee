"""Results ingest near COPY: a post's send-result pages stored together (one transaction,
one customer lookup across the pages), through the connection's one staging table."""

from __future__ import annotations

import pytest
from django.db import connection

from analytics import sync
from analytics.models import Delivery, RollupMark
from analytics.tests.worlds import DAY, NEXT, post


def _pages(w, first):
    lily, ken = w["lily"], w["ken"]
    return [
        (first.pk, first.moment_id, lily.pk, DAY, ["wm-anna", "wm-bo", "wm-bo", "wm-nobody"]),
        (first.pk, first.moment_id, ken.pk, DAY, ["wm-anna"]),
        (first.pk, first.moment_id, ken.pk, NEXT, ["wm-bo", "wm-cai"]),
        (first.pk, first.moment_id, ken.pk, NEXT, []),
    ]


def test_pages_are_stored_together_once_with_unknown_customers_counted(world):
    first = post("p-1", moment=world["moments"][0])
    assert sync.deliveries_store_pages(_pages(world, first)) == (5, 1)  # bo twice counts once; nobody is unknown
    lily, ken = world["lily"].pk, world["ken"].pk
    assert sorted(Delivery.objects.values_list("associate_id", "customer__external_userid", "day")) == sorted([
        (ken, "wm-anna", DAY), (ken, "wm-bo", NEXT), (ken, "wm-cai", NEXT),
        (lily, "wm-anna", DAY), (lily, "wm-bo", DAY),
    ])  # fmt: skip
    assert set(Delivery.objects.values_list("moment_id", flat=True)) == {first.moment_id}
    marked = set(RollupMark.objects.values_list("stat", "bucket"))
    assert {bucket for _stat, bucket in marked} >= {DAY.isoformat(), NEXT.isoformat(), str(world["campaign"].pk)}
    assert sync.deliveries_store_pages(_pages(world, first)) == (0, 1)  # a re-run adds nothing
    assert sync.deliveries_store_pages([]) == (0, 0)


def test_a_failed_store_keeps_nothing_of_its_pages(world, monkeypatch):
    first = post("p-1", moment=world["moments"][0])

    def fail(**kwargs):
        raise RuntimeError("the roll-up mark failed")

    monkeypatch.setattr(sync.rollups, "mark", fail)
    with pytest.raises(RuntimeError):
        sync.deliveries_store_pages(_pages(world, first))
    assert not Delivery.objects.exists()  # one transaction: the pages go in together or not at all
    monkeypatch.undo()
    assert sync.deliveries_store_pages(_pages(world, first)) == (5, 1)  # and the staging table still works


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the staging table is PostgreSQL's (COPY)")
def test_the_staging_table_is_made_once_per_connection_and_reused(world):
    first, second = post("p-1", moment=world["moments"][0]), post("p-2", moment=world["moments"][1])

    def temporary_tables() -> tuple[int, list[str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid::int, relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'")
            rows = cursor.fetchall()
        return sorted(oid for oid, _name in rows), sorted(name for _oid, name in rows)

    sync.deliveries_store_pages(_pages(world, first))
    made = temporary_tables()
    assert made[1] == ["stage_delivery_send_result"]
    sync.deliveries_store_pages(_pages(world, second))
    assert temporary_tables() == made  # the same table (same oid): no CREATE or DROP per store
    assert Delivery.objects.count() == 10
