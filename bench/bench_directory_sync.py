#!/usr/bin/env python
"""Directory sync from the sandbox over real HTTP, against a plain COPY of the
rows it wrote, in the same run (PostgreSQL).

1. ``sandbox_seed`` a brand (not timed), start gunicorn serving the sandbox on
   loopback, and time ``staff.sync.directory_sync`` through the real client. The
   client is unthrottled here, to measure our code; the floor that WeCom's
   documented 10,000 calls/min per API would impose is printed beside it.
2. The app rows the sync wrote are copied out, the tables emptied, and the same
   rows COPYed back into the same tables with the same indexes: the floor.

    python bench/bench_directory_sync.py [--associates 10000] [--contacts-per-associate 500] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import apply_smoke, copy_baseline, free_port, fresh_postgres_django, report, serve_sandbox, size_arguments

WECOM_CALLS_PER_MINUTE = 10_000  # wecom-api.md §3.3: per enterprise, per API


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    args = parser.parse_args()
    apply_smoke(args)

    url = fresh_postgres_django()
    from django.core.management import call_command

    from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Customer
    from staff.sync import directory_sync
    from wecom.client import client_from_settings
    from wecom.ratelimit import Unlimited

    call_command("sandbox_seed", associates=args.associates, contacts_per_associate=args.contacts_per_associate,
                 no_progress=True)  # fmt: skip
    port = free_port()
    server = serve_sandbox(url, port)
    calls = {"n": 0}

    def count_calls(request):
        calls["n"] += 1

    try:
        client = client_from_settings(base_url=f"http://127.0.0.1:{port}/wecom-sandbox/cgi-bin/", limiter=Unlimited())
        client._http.event_hooks["request"].append(count_calls)
        started = time.perf_counter()
        run = directory_sync(client=client)
        sync_s = time.perf_counter() - started
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    models = [Associate, AssociateDepartment, Customer, Contact, ContactTag]  # load order (foreign keys)
    copy_s, counts = copy_baseline(models)

    rows = sum(counts.values())
    print(f"sync run: {run.status}, {calls['n']:,} HTTP calls to the sandbox")
    print("rows: " + ", ".join(f"{table.removeprefix('staff_')} {count:,}" for table, count in counts.items()))
    report("directory sync over HTTP", sync_s, "plain COPY of the same rows", copy_s, rows)
    floor = calls["n"] / WECOM_CALLS_PER_MINUTE * 60
    print(f"at WeCom's documented {WECOM_CALLS_PER_MINUTE:,} calls/min, these calls alone take ≥ {floor:.0f} s")


if __name__ == "__main__":
    main()
