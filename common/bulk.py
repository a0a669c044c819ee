"""Set-based loading of many rows: ``COPY … FROM STDIN`` on PostgreSQL, batched
``executemany`` INSERTs on SQLite.

Rows stream through in batches of ``BATCH_ROWS`` so memory stays flat whatever
the size. Values are written as given: the caller supplies every column
(primary keys included), and the database checks the constraints.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.db import connection
from django.db.models import Model

# Rows taken from the iterator at a time: a progress report per batch, and on SQLite
# one executemany each. 20k is large enough that per-batch overhead vanishes, small
# enough to keep memory flat and the progress bar moving.
BATCH_ROWS = 20_000


def _copy_rows(cursor, sql: str, rows: Iterator[Sequence], on_batch: Callable[[int], None] | None) -> int:
    """Feed ``rows`` to one ``COPY … FROM STDIN`` through psycopg 3's ``cursor.copy()``;
    returns the count. ``write_row`` formats each value in C with psycopg's own
    adapters, and the driver sends the text to the server 32 KB at a time, so the
    server inserts while Python produces the next rows (a COPY per batch would wait
    for the server to finish each batch before generating the next)."""
    total = 0
    # A refused row surfaces when the COPY ends (the ``with`` block's exit): wrap it
    # so it raises Django's IntegrityError like every other query.
    with connection.wrap_database_errors, cursor.copy(sql) as copy:
        write_row = copy.write_row
        while batch := list(itertools.islice(rows, BATCH_ROWS)):
            for row in batch:
                write_row(row)
            total += len(batch)
            if on_batch:
                on_batch(len(batch))
    return total


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
            # One COPY per table, fed as the rows are generated.
            total = _copy_rows(cursor, copy_sql(model, fields), rows, on_batch)
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


def stage(cursor, *, name: str, like: str, rows: Iterable[Sequence]) -> str:
    """COPY ``rows`` into this connection's staging table ``name`` (PostgreSQL) and return
    its quoted name. The table is made once per connection, a temporary table shaped like
    the query ``like`` (``CREATE TEMPORARY TABLE IF NOT EXISTS … AS like WITH NO DATA``),
    and emptied with TRUNCATE before each load: a load changes no catalog but that."""
    table = connection.ops.quote_name(name)
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} AS {like} WITH NO DATA")
    cursor.execute(f"TRUNCATE {table}")
    _copy_rows(cursor, f"COPY {table} FROM STDIN", iter(rows), None)
    return table


def insert_missing(*, model: type[Model], fields: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Insert the rows whose unique keys are not in the table yet; returns how many
    were inserted. The database assigns primary keys.

    On PostgreSQL the rows are COPYed into the connection's staging table for these
    columns (``stage``: made once, TRUNCATEd before each use), then moved with one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING``: the speed of COPY, and a row a
    concurrent writer inserted meanwhile is skipped instead of failing the load.
    Elsewhere, batched ``INSERT … ON CONFLICT DO NOTHING``.
    """
    if not rows:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = _columns(model, fields)
    columns = ", ".join(quote(column) for column in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One staging table per (table, columns): callers loading other columns get their own.
            digest = hashlib.blake2s(",".join(names).encode(), digest_size=4).hexdigest()
            staged = stage(cursor, name=f"stage_{model._meta.db_table}_{digest}",
                           like=f"SELECT {columns} FROM {table}", rows=rows)  # fmt: skip
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged} ON CONFLICT DO NOTHING")
            return cursor.rowcount
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
