"""Set-based loading of many rows: ``COPY … FROM STDIN`` on PostgreSQL, batched
``executemany`` INSERTs on SQLite.

Rows stream through in batches of ``BATCH_ROWS`` so memory stays flat whatever
the size. Values are written as given: the caller supplies every column
(primary keys included), and the database checks the constraints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
from collections.abc import Callable, Iterable, Sequence

from django.db import DatabaseError, connection
from django.db.models import Model

# 20k rows is a few MB of COPY text: large enough that per-statement overhead
# vanishes, small enough to keep memory flat and the progress bar moving.
BATCH_ROWS = 20_000


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_text_lines(rows: Iterable[Sequence]) -> Iterable[str]:
    for row in rows:
        yield "\t".join([_copy_text(value) for value in row]) + "\n"


# Bytes handed to the driver per read: large enough to amortise the Python calls.
_STREAM_CHUNK = 1 << 20


class _CopyStream(io.RawIOBase):
    """A file-like object psycopg2's ``copy_expert`` reads COPY text from, built
    lazily from a row iterator, ``BATCH_ROWS`` rows at a time."""

    def __init__(self, rows, on_batch):
        self._rows = rows
        self._on_batch = on_batch
        self._buffer = b""
        self.rows = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            batch = list(itertools.islice(self._rows, BATCH_ROWS))
            if not batch:
                break
            self._buffer += "".join(copy_text_lines(batch)).encode()
            self.rows += len(batch)
            if self._on_batch:
                self._on_batch(len(batch))
        if size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk


def _columns(model: type[Model], fields: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


def copy_sql(model: type[Model], fields: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _columns(model, fields))
    return f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"


def bulk_load(
    *,
    model: type[Model],
    fields: Sequence[str],
    rows: Iterable[Sequence],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``fields`` order) into ``model``'s table; returns the count."""
    total = 0
    rows = iter(rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One COPY per table, fed as the rows are generated: the server inserts
            # while Python produces the next rows (a COPY per batch would wait for
            # the server to finish each batch before generating the next).
            stream = _CopyStream(rows, on_batch)
            # copy_expert is psycopg2's own: wrap it so a refused row raises Django's
            # IntegrityError like every other query. Positional: under DEBUG,
            # Django's CursorDebugWrapper takes no keywords here.
            with connection.wrap_database_errors:
                cursor.copy_expert(copy_sql(model, fields), stream, _STREAM_CHUNK)
            total = stream.rows
        else:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(column) for column in _columns(model, fields))
            placeholders = ", ".join(["%s"] * len(fields))
            sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
            adapt = _adapters(model, fields)
            while batch := list(itertools.islice(rows, BATCH_ROWS)):
                cursor.executemany(sql, [tuple(a(v) for a, v in zip(adapt, row, strict=True)) for row in batch])
                total += len(batch)
                if on_batch:
                    on_batch(len(batch))
    return total


def insert_missing(*, model: type[Model], fields: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Insert the rows whose unique keys are not in the table yet; returns how many
    were inserted. The database assigns primary keys.

    On PostgreSQL the rows are COPYed into a temporary table, then moved with one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING``: the speed of COPY, and a row a
    concurrent writer inserted meanwhile is skipped instead of failing the load.
    Elsewhere, batched ``INSERT … ON CONFLICT DO NOTHING``.
    """
    if not rows:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(column) for column in _columns(model, fields))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = quote(f"stage_{model._meta.db_table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {stage} AS SELECT {columns} FROM {table} WITH NO DATA")
            try:
                stream = _CopyStream(iter(rows), None)
                with connection.wrap_database_errors:
                    cursor.copy_expert(f"COPY {stage} ({columns}) FROM STDIN", stream, _STREAM_CHUNK)
                cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} ON CONFLICT DO NOTHING")
                inserted = cursor.rowcount
            except BaseException:
                # In a failed transaction the DROP fails too (and the rollback drops
                # the table anyway): keep the first error.
                with contextlib.suppress(DatabaseError):
                    cursor.execute(f"DROP TABLE {stage}")
                raise
            cursor.execute(f"DROP TABLE {stage}")
            return inserted
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"
        adapt = _adapters(model, fields)
        inserted = 0
        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows[start : start + BATCH_ROWS]
            cursor.executemany(sql, [tuple(a(v) for a, v in zip(adapt, row, strict=True)) for row in batch])
            inserted += cursor.rowcount
        return inserted


def _adapters(model: type[Model], fields: Sequence[str]) -> list[Callable]:
    """Per-column conversion to what the (non-PostgreSQL) driver stores; only
    date-times need it (SQLite keeps them as naive UTC text)."""
    ops = connection.ops
    adapters = []
    for name in fields:
        internal_type = model._meta.get_field(name).get_internal_type()
        adapters.append(ops.adapt_datetimefield_value if internal_type == "DateTimeField" else _identity)
    return adapters


def _identity(value):
    return value


def next_primary_key(model: type[Model]) -> int:
    """The first free primary key, for loads that assign keys themselves."""
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def reset_sequences(models: Sequence[type[Model]]) -> None:
    """After loading explicit primary keys, move the id sequences past them."""
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def analyze(models: Sequence[type[Model]]) -> None:
    """Refresh planner statistics after a large load (PostgreSQL); a no-op elsewhere."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def truncate(models: Sequence[type[Model]]) -> None:
    """Empty these tables: TRUNCATE on PostgreSQL (a DELETE of 10M rows takes
    minutes), DELETE elsewhere. List children before parents."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Inside a transaction with deferred foreign-key checks pending, TRUNCATE is refused.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(quote(m._meta.db_table) for m in models)} RESTART IDENTITY CASCADE")
        else:
            for model in models:
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")
