#!/usr/bin/env python
"""Seeding the WeCom sandbox against a plain COPY of the same rows, in the same run (PostgreSQL).

1. ``sandbox_seed --associates A --contacts-per-associate C`` into an empty database
   (generation in Python + COPY + constraint/index maintenance + ANALYZE). This is
   the bulk part of ``seed_demo``; the directory sync that follows it has its own
   benchmark (bench_directory_sync.py).
2. The rows it wrote are copied out to files, the tables emptied, and the same
   rows COPYed back in, into the same tables with the same indexes: the floor.

    python bench/bench_seed_directory.py [--associates 10000] [--contacts-per-associate 500] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import fresh_postgres_django, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associates", type=int, default=10_000)
    parser.add_argument("--contacts-per-associate", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="tiny size (200 × 50), for CI")
    args = parser.parse_args()
    if args.smoke:
        args.associates, args.contacts_per_associate = 200, 50

    fresh_postgres_django()
    from django.core.management import call_command
    from django.db import connection

    from wecom.sandbox.models import Customer, Follow, FollowTag, Member

    print(f"sandbox_seed --associates {args.associates} --contacts-per-associate {args.contacts_per_associate}")
    started = time.perf_counter()
    call_command(
        "sandbox_seed",
        associates=args.associates,
        contacts_per_associate=args.contacts_per_associate,
        no_progress=args.smoke,
    )
    seed_s = time.perf_counter() - started

    models = [Member, Customer, Follow, FollowTag]  # load order (foreign keys)
    tables = [model._meta.db_table for model in models]
    counts = {}
    with tempfile.TemporaryDirectory() as folder, connection.cursor() as cursor:
        for table in tables:
            with open(Path(folder) / table, "w") as out:
                cursor.copy_expert(f'COPY "{table}" TO STDOUT', out)
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in reversed(tables)))
        started = time.perf_counter()
        for table in tables:
            with open(Path(folder) / table) as source:
                cursor.copy_expert(f'COPY "{table}" FROM STDIN', source)
        copy_s = time.perf_counter() - started

    rows = sum(counts.values())
    print("rows: " + ", ".join(f"{table.removeprefix('wecom_sandbox_')} {count:,}" for table, count in counts.items()))
    report("sandbox_seed", seed_s, "plain COPY of the same rows", copy_s, rows)


if __name__ == "__main__":
    main()
