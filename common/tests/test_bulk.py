"""The bulk loader writes exactly what it is given, on SQLite and PostgreSQL (COPY)."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from common import bulk
from staff.models import Associate, Customer

ASSOCIATE_FIELDS = ["id", "userid", "name", "avatar", "position", "main_department", "is_verified", "is_active",
                    "deactivated_at", "created_at", "updated_at"]  # fmt: skip


def _associate_row(pk, userid, *, verified=True):
    now = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)
    return (pk, userid, userid.title(), "", "", None, verified, True, None, now, now)


def test_it_loads_awkward_text_exactly(db):
    names = ["tab\there", "new\nline", "back\\slash", "\\N", "carriage\rreturn", "emoji 🌹 情人节", ""]
    first = bulk.next_primary_key(Customer)
    rows = [(first + i, f"wm-bulk-{i}", name, 1, 0, "", "", dt.datetime(2026, 2, 14, 9, tzinfo=dt.UTC))
            for i, name in enumerate(names)]  # fmt: skip
    loaded = bulk.bulk_load(
        model=Customer,
        fields=["id", "external_userid", "name", "type", "gender", "avatar", "corp_name", "created_at"],
        rows=iter(rows),
    )
    assert loaded == len(names)
    stored = dict(
        Customer.objects.filter(external_userid__startswith="wm-bulk-").values_list("external_userid", "name")
    )
    assert stored == {f"wm-bulk-{i}": name for i, name in enumerate(names)}
    assert Customer.objects.get(external_userid="wm-bulk-0").created_at == rows[0][7]


def test_it_loads_more_rows_than_a_batch_and_reports_progress(db, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_ROWS", 7)
    seen = []
    first = bulk.next_primary_key(Associate)
    rows = (_associate_row(first + i, f"bulk{i}", verified=i % 2 == 0) for i in range(30))
    loaded = bulk.bulk_load(model=Associate, fields=ASSOCIATE_FIELDS, rows=rows, on_batch=seen.append)
    assert loaded == 30 == sum(seen)
    assert seen == [7, 7, 7, 7, 2]
    assert Associate.objects.filter(userid__startswith="bulk", is_verified=True).count() == 15
    bulk.reset_sequences([Associate])
    assert Associate.objects.create(userid="after-bulk", name="After").pk > first + 29


def test_the_database_still_refuses_bad_rows(db):
    first = bulk.next_primary_key(Associate)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.bulk_load(model=Associate, fields=ASSOCIATE_FIELDS, rows=[_associate_row(first, "UPPER")])


def test_a_failure_while_producing_rows_aborts_the_load_with_that_error(db):
    first = bulk.next_primary_key(Associate)

    def rows():
        yield _associate_row(first, "before-failure")
        raise RuntimeError("the producer failed")

    with pytest.raises(RuntimeError, match="the producer failed"), transaction.atomic():
        bulk.bulk_load(model=Associate, fields=ASSOCIATE_FIELDS, rows=rows())
    assert not Associate.objects.filter(userid="before-failure").exists()  # and the connection still works


CUSTOMER_FIELDS = ["external_userid", "name", "type", "gender", "avatar", "corp_name", "created_at"]


def _customer_row(external_userid, name="客户"):
    return (external_userid, name, 1, 0, "", "", dt.datetime(2026, 2, 14, 9, tzinfo=dt.UTC))


def test_insert_missing_skips_rows_already_there_and_counts_the_rest(db, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_ROWS", 3)
    Customer.objects.create(external_userid="wm-have", name="kept as is")
    rows = [_customer_row(f"wm-new-{i}") for i in range(5)] + [_customer_row("wm-have", "not this")]
    assert bulk.insert_missing(model=Customer, fields=CUSTOMER_FIELDS, rows=rows) == 5
    assert Customer.objects.get(external_userid="wm-have").name == "kept as is"
    assert Customer.objects.filter(external_userid__startswith="wm-new-").count() == 5
    assert bulk.insert_missing(model=Customer, fields=CUSTOMER_FIELDS, rows=rows) == 0
    assert bulk.insert_missing(model=Customer, fields=CUSTOMER_FIELDS, rows=[]) == 0


def test_insert_missing_still_refuses_rows_that_break_other_rules(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert_missing(model=Associate, fields=["userid", "name", "avatar", "position", "is_verified",
                                                     "is_active", "created_at", "updated_at"],
                            rows=[("UPPER", "x", "", "", True, True, dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                                   dt.datetime(2026, 1, 1, tzinfo=dt.UTC))])  # fmt: skip
    assert not Associate.objects.filter(name="x").exists()
