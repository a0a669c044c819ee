#!/usr/bin/env python
"""Directory sync from the sandbox over real HTTP, at WeCom's pace, against the floor
that WeCom's documented rate imposes and a plain COPY of the rows it wrote (PostgreSQL).

1. ``sandbox_seed`` a brand (not timed; in a subprocess, so the peak memory printed is
   the sync's), start gunicorn serving the sandbox on loopback, enforcing WeCom's base
   frequency (``--calls-per-minute`` per API, 10,000 by default: 45009 beyond), and time
   ``staff.sync.directory_sync`` through the real client with its rate limiter (the
   documented budget, scaled to ``--calls-per-minute``). The floor is the calls made at
   that rate: no client can do better against WeCom.
2. The sandbox's own speed: the same pages fetched again, at the same concurrency, with
   nothing written (``--no-fetch-baseline`` skips it). On a small machine the sandbox,
   sharing the cores with the sync and PostgreSQL, may serve fewer than WeCom's rate:
   then this, not WeCom's rate, is what the sync can reach.
3. The app rows the sync wrote are copied out, the tables emptied, and the same rows
   COPYed back into the same tables with the same indexes.

Fails when the sync fails or the sandbox refused a call (our limiter let too many through).

    python bench/bench_directory_sync.py [--associates 10000] [--contacts-per-associate 500] [--smoke]
        [--calls-per-minute 10000] [--concurrency N] [--no-fetch-baseline]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (
    ROOT,
    apply_smoke,
    copy_baseline,
    free_port,
    fresh_postgres_django,
    report,
    serve_sandbox,
    size_arguments,
)

WECOM_CALLS_PER_MINUTE = 10_000  # wecom-api.md §3.3: per enterprise, per API
PAGED = "externalcontact/batch/get_by_user"


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    parser.add_argument("--calls-per-minute", type=int, default=WECOM_CALLS_PER_MINUTE,
                        help="the rate the sandbox enforces per API (WeCom: 10,000)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=None, help="chunks fetched at once (WECOM_SYNC_CONCURRENCY)")
    parser.add_argument("--no-fetch-baseline", action="store_true", help="skip the fetch-only pass")
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    apply_smoke(args)
    rate = args.calls_per_minute
    os.environ["WECOM_SANDBOX_CALLS_PER_WINDOW"] = str(rate)  # the sandbox's gunicorn reads it
    os.environ["WECOM_SANDBOX_WINDOW_SECONDS"] = "60"

    url = fresh_postgres_django()
    from django.conf import settings

    from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Customer
    from staff.sync import directory_sync
    from wecom.client import client_from_settings
    from wecom.ratelimit import DEFAULT_BUDGET, Budget, LocalTokenBucket
    from wecom.sandbox.models import RateWindow
    from wecom.sandbox.protocol import frequency_name

    subprocess.run(
        [sys.executable, "manage.py", "sandbox_seed", "--associates", str(args.associates),
         "--contacts-per-associate", str(args.contacts_per_associate), "--no-progress"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True,
    )  # fmt: skip
    concurrency = args.concurrency if args.concurrency is not None else settings.WECOM_SYNC_CONCURRENCY
    scale = rate / WECOM_CALLS_PER_MINUTE
    budget = Budget(rate=DEFAULT_BUDGET.rate * scale, burst=max(1.0, DEFAULT_BUDGET.burst * scale))
    limiter = LocalTokenBucket()
    port = free_port()
    threads = max(2, -(-concurrency // 2))  # 2 workers: a thread per fetcher
    server = serve_sandbox(url, port, threads=threads)
    calls = {"n": 0}

    def count_calls(request):
        calls["n"] += 1

    def client():
        wecom = client_from_settings(base_url=f"http://127.0.0.1:{port}/wecom-sandbox/cgi-bin/", limiter=limiter,
                                     budgets={PAGED: budget})  # fmt: skip
        wecom._http.event_hooks["request"].append(count_calls)
        return wecom

    fetch_s = fetch_calls = None
    try:
        wecom = client()
        started = time.perf_counter()
        run = directory_sync(client=wecom, prefetch=concurrency)
        sync_s = time.perf_counter() - started
        sync_calls = calls["n"]
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.no_fetch_baseline:
            fetch_s, fetch_calls = fetch_only(wecom, concurrency, calls)
        wecom.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    windows = list(RateWindow.objects.filter(name=frequency_name(PAGED)).values_list("used", flat=True))
    refused = sum(max(0, used - rate) for used in windows)
    models = [Associate, AssociateDepartment, Customer, Contact, ContactTag]  # load order (foreign keys)
    copy_s, counts = copy_baseline(models)

    rows = sum(counts.values())
    print(f"sync run: {run.status}, {sync_calls:,} HTTP calls to the sandbox, {concurrency} chunks at once "
          f"(the sandbox: gunicorn, 2 workers × {threads} threads)")  # fmt: skip
    print("rows: " + ", ".join(f"{table.removeprefix('staff_')} {count:,}" for table, count in counts.items()))
    report("directory sync over HTTP", sync_s, "plain COPY of the same rows", copy_s, rows)
    floor = sync_calls / rate * 60
    print(f"WeCom-rate floor: {sync_calls:,} calls at {rate:,}/min take ≥ {floor:.1f} s")
    print(f"ratio to the WeCom-rate floor (target ≤ 1.3): {sync_s / floor:.2f}×")
    if fetch_s is not None:
        print(f"the sandbox's own speed: the same {fetch_calls:,} pages, nothing written, {fetch_s:.1f} s "
              f"({fetch_calls / fetch_s:.0f} calls/s; WeCom's rate is {rate / 60:.0f}/s); "
              f"sync ÷ fetch only: {sync_s / fetch_s:.2f}×")  # fmt: skip
    print(f"busiest minute at the sandbox on {PAGED}: {max(windows, default=0):,} calls (limit {rate:,}); "
          f"refused: {refused:,}")  # fmt: skip
    print(f"peak memory of the worker (max RSS): {peak_mib:,.0f} MiB (target ≤ 1,024)")
    if run.status != "succeeded" or refused:
        sys.exit("FAILED: " + ("the sync did not succeed" if run.status != "succeeded" else "calls were refused"))


def fetch_only(wecom, concurrency: int, calls: dict) -> tuple[float, int]:
    """Every member chunk's pages, ``concurrency`` chunks at once, through the same client
    and limiter, nothing written: how fast the sandbox serves on this machine."""
    from staff.sync import PAGE_FOLLOWS, chunk_size

    userids = sorted(u.lower() for u in wecom.follow_user_list())
    size = chunk_size(len(userids), concurrency)
    chunks = [userids[i : i + size] for i in range(0, len(userids), size)]

    def pages(chunk):
        return sum(1 for _page in wecom.batch_get_by_user_pages(chunk, limit=PAGE_FOLLOWS))

    before = calls["n"]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(pages, chunks))
    return time.perf_counter() - started, calls["n"] - before


if __name__ == "__main__":
    main()
