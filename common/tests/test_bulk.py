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


def test_copy_text_escapes_what_copy_would_misread():
    line = next(bulk.copy_text_lines([(1, None, True, False, "a\tb\\c\nd")]))
    assert line == "1\t\\N\tt\tf\ta\\tb\\\\c\\nd\n"
