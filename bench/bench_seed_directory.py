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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import apply_smoke, copy_baseline, fresh_postgres_django, report, size_arguments


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    args = parser.parse_args()
    apply_smoke(args)

    fresh_postgres_django()
    from django.core.management import call_command

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
    copy_s, counts = copy_baseline(models)

    rows = sum(counts.values())
    print("rows: " + ", ".join(f"{table.removeprefix('wecom_sandbox_')} {count:,}" for table, count in counts.items()))
    report("sandbox_seed", seed_s, "plain COPY of the same rows", copy_s, rows)


if __name__ == "__main__":
    main()
