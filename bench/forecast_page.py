#!/usr/bin/env python
"""The campaign admin page with its reach forecast panel, for a marketing admin, at the brand's size
(PostgreSQL; issue #19): the page reads the last snapshot and never forecasts.

1. Build the brand and the 5-day × 2-a-day campaign as ``bench/forecast.py`` does (``_support``). Not timed.
2. The background recomputation (``analytics.snapshots.recompute``: the campaign's snapshot, then each of
   its 10 moments alone), timed once: what a plan change costs the worker, not any request.
3. Baseline, timed: the campaign change list of the same admin (the same session, middleware, menus).
4. The campaign's change page, timed: the median of N requests after two warm-ups, and its queries; and
   the forecast panel's own share (built from the snapshot and rendered), timed apart.
5. Checks (non-zero exit when one fails): both pages answer 200; the change page runs no statement of the
   forecast nor of the drafting checks (their scratch tables), shows the snapshot's figures and is not
   stale; and it makes at most ``MAX_QUERIES`` queries (the other campaign's page, one moment and a
   handful of customers, is printed beside). The target (≤ 300 ms median at full size) is printed.

    python bench/forecast_page.py [--associates 10000] [--contacts-per-associate 500] [--smoke] [--requests 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import apply_smoke, campaign_build, fresh_postgres_django, size_arguments, step, world_build

TARGET_MS = 300
# The page's queries whatever the plan's and the brand's size (campaigns/tests/test_admin_forecast.py asserts
# that they do not grow with either): the admin's own, the panel's, the drafting warnings'.
MAX_QUERIES = 30
FORECAST_TABLES = (
    "fc_sender",
    "fc_row",
    "fc_tag",
    "fc_assoc",
    "fc_key",
    "fc_decide",
    "pl_target",
    "pl_assoc",
    "pl_ctag",
)


def timed_get(client, url: str, count: int) -> tuple[list[float], list[str], str]:
    """``count`` GETs of ``url`` after two warm-ups: their times (ms), the last one's queries and body."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            sys.exit(f"forecast page bench: {url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return times, [q["sql"] for q in captured.captured_queries], response.content.decode()


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    parser.add_argument("--requests", type=int, default=21)
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    apply_smoke(args)
    os.environ["DEBUG"] = "0"  # as in production: no query log kept per request

    fresh_postgres_django()
    from django.contrib import admin
    from django.template.loader import render_to_string
    from django.test import Client
    from django.urls import reverse

    from analytics import snapshots
    from campaigns.admin import forecast_panel
    from staff.roles import MARKETING_ADMIN
    from staff.tests import factories

    print(f"size: {args.associates:,} associates × {args.contacts_per_associate} contacts")
    counts = world_build(args.associates, args.contacts_per_associate)
    with step("campaign, personal posts"):
        world = campaign_build(personal_posters_every=50)
    print("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    campaign, other = world["campaign"], world["other"].campaign

    started = time.perf_counter()
    outcome = snapshots.recompute(campaign.pk)
    job_s = time.perf_counter() - started
    snapshots.recompute(other.pk)
    print(f"background recomputation (the worker's, after a plan change): {job_s:.2f} s ({outcome})")

    client = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="en")
    user = factories.user("bench-marketing", role=MARKETING_ADMIN)
    client.force_login(user)
    changelist = reverse("admin:campaigns_campaign_changelist")
    page = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    small_page = reverse("admin:campaigns_campaign_change", args=[other.pk])

    base_times, base_queries, _ = timed_get(client, changelist, args.requests)
    times, queries, html = timed_get(client, page, args.requests)
    _, small_queries, _ = timed_get(client, small_page, 1)
    base_ms, page_ms = statistics.median(base_times), statistics.median(times)
    status = snapshots.campaign_status(campaign.pk)
    panel_times = []
    for _ in range(args.requests):  # the panel's own share: built from the snapshot and rendered
        started = time.perf_counter()
        panel = forecast_panel.campaign_panel(campaign=campaign, user=user, admin_site=admin.site)
        render_to_string("admin/campaigns/forecast_panel.html", {"reach_forecast": panel})
        panel_times.append((time.perf_counter() - started) * 1000)

    print(f"campaign change list (baseline): median {base_ms:.1f} ms over {len(base_times)}, "
          f"{len(base_queries)} queries")  # fmt: skip
    print(f"campaign page with the forecast panel: median {page_ms:.1f} ms (p90 "
          f"{statistics.quantiles(times, n=10)[-1]:.1f} ms) over {len(times)}, {len(queries)} queries; "
          f"the one-moment campaign's page: {len(small_queries)} queries")  # fmt: skip
    print(f"  of which the forecast panel (its status, names and template): median "
          f"{statistics.median(panel_times):.1f} ms")  # fmt: skip
    print(f"ratio (lower is better): {page_ms / base_ms:.2f}× the baseline; target ≤ {TARGET_MS} ms: "
          f"{'met' if page_ms <= TARGET_MS else 'NOT met'}")  # fmt: skip

    problems = []
    if any(table in sql for sql in queries for table in FORECAST_TABLES):
        problems.append("the page ran a statement of the forecast or of the drafting checks")
    if len(queries) > MAX_QUERIES:
        problems.append(f"queries: {len(queries)}, more than {MAX_QUERIES}")
    if status.forecast is None or status.stale:
        problems.append("no fresh snapshot after the recomputation")
    elif f'data-forecast="reach">{status.forecast.reach}<' not in html:
        problems.append(f"the page does not show the snapshot's reach ({status.forecast.reach})")
    for problem in problems:
        print("  ", problem)
    if problems:
        sys.exit(f"forecast page bench: {len(problems)} problems")


if __name__ == "__main__":
    main()
