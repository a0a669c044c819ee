#!/usr/bin/env python
"""The managers' dashboards on a campaign with 10M+ delivery facts, against a trivial view
served in the same run (PostgreSQL).

1. Build, not timed: the brand set-based (``_support.world_build``: N associates × M
   contacts in stores under regions) and the campaign (``_support.campaign_build``: 5 days
   × 2 moments for the whole brand, a gold-tier variant next to everybody's in the evening,
   another campaign's rose-tagged moment for the first region), then, all set-based in
   SQL, the campaign as it stands once over:
   - a PublishTask for every (variant, active associate of its target subtree), in a mix
     of states with their timestamps: published, publish requested, opened, expired,
     failed, the rest notified. Which ones are published is a hash of (associate, variant)
     below a threshold chosen so that the published tasks' audiences add up to at least
     ``--deliveries`` rows (the lowest hashes first): ~21% of the tasks at 10M;
   - per published task, the associate's own post (a personal Post linked to the moment,
     as shared from the WeCom client) and its Delivery rows: the associate's reachable
     contacts in the variant's audience (all active contacts of a verified associate, the
     200 earliest-added of an unverified one; the tagged ones for a tagged variant), on
     the local day it was published;
   - likes (2%) and comments (0.5%) of the deliveries, one tracked CTA link per (moment, associate)
     who published it and a click for one delivery in 300.
   Then the roll-ups the production way, timed and printed (the background cost, not the
   pages'): ``rollups.mark_everything()`` and ``rollups.rollups_refresh()``; then VACUUM
   ANALYZE, as autovacuum would have left the tables.
2. Two users: a marketing admin (the whole brand) and a manager of the first region
   (``ManagerAssignment``), each logged in to a Django test ``Client`` (in process).
3. Timed: the campaign overview and the leaderboard by associate (default sort and
   ``sort=-deliveries``) for both users, the leaderboard by store for both, and the
   baseline, a trivial view (``HttpResponse("ok")`` at ``/bench-trivial/``, added by a
   URLconf over the real one: same middleware, no query). ``/healthz`` is not the
   baseline: it opens a broker connection and writes the cache. Three warm-up requests
   per page first, then ``--requests`` rounds; each round requests every page once, so
   background noise spreads over all of them. Printed per page: median and p95, the
   median's ratio to the trivial view's, SQL queries per request and their time.
4. Checks (non-zero exit when one fails): every page answers 200; each page runs the
   same number of queries on every request, at most ``MAX_QUERIES``, the same for both
   sorts and for the leaderboard's last page as for its first (not one query per row);
   a manager's page runs at most ``SCOPE_QUERIES`` (1) more than the admin's: the
   ManagerAssignment lookup, which reads the managed departments too (``directory_scope``,
   once per request; ``units_for`` and ``campaigns_for_user`` reuse them); the
   overview's deliveries and published tasks equal the facts; the leaderboards show a
   full page (or all rows) of the expected size.

5. A results-sync cycle of the live campaign, the roll-ups' share (``sync_cycle``): the
   campaign's last day of deliveries taken out (and the roll-ups rebuilt without it, not
   timed), then timed: a plain COPY of those rows back (the baseline), the roll-ups by
   increment as the sync's marks ask, and the same buckets recomputed whole (what every
   cycle paid before); printed as ratios to the COPY. Fails unless both leave the same
   roll-ups.

``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of every query of a page slower than
``--explain-ms`` (5 ms) in its last request.

    python bench/dashboard.py [--associates 10000] [--contacts-per-associate 500]
        [--deliveries 10000000] [--requests 50] [--explain] [--cycle-every 1] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import apply_smoke, campaign_build, fresh_postgres_django, size_arguments, step, world_build

MAX_QUERIES = 12  # a page's bound, whatever the number of facts (DESIGN: "bounded query counts")
SCOPE_QUERIES = 1  # a manager's page runs more (resolving the scope): see the module's docstring
WARM_UPS = 3
HASH = "(('x' || substr(md5({a} || ':' || {v}), 1, 7))::bit(28)::int % 1000)"  # 0..999 per (associate, variant)


def tables() -> dict[str, str]:
    from django.db import connection

    from analytics.models import Delivery, Engagement, Post
    from campaigns.models import LinkClick, Moment, PublishTask, TrackedLink, Variant
    from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Customer, Department

    models = {"delivery": Delivery, "engagement": Engagement, "post": Post, "click": LinkClick, "moment": Moment,
              "task": PublishTask, "link": TrackedLink, "variant": Variant, "associate": Associate,
              "membership": AssociateDepartment, "contact": Contact, "contact_tag": ContactTag,
              "customer": Customer, "department": Department}  # fmt: skip
    names = {key: connection.ops.quote_name(model._meta.db_table) for key, model in models.items()}
    names["variant_department"] = connection.ops.quote_name(Variant.target_departments.through._meta.db_table)
    names["variant_tag"] = connection.ops.quote_name(Variant.audience_tags.through._meta.db_table)
    return names


def results_build(moment_ids: list[int], deliveries: int, day) -> dict:
    """Tasks, posts, deliveries, engagement and clicks of the moments (see the module's
    docstring). Returns the published share and the row counts."""
    from django.db import connection

    from analytics.rules import ranked_contacts_sql, rules_for

    t = tables()
    rules = rules_for(day)
    zone = rules.zone.key
    ids = ", ".join(str(pk) for pk in moment_ids)
    with connection.cursor() as cursor:
        with step("results: reachable contacts and audiences"):
            senders = f"SELECT id FROM {t['associate']} WHERE is_active"
            cursor.execute(
                f"CREATE TEMP TABLE bench_reach AS SELECT r.id AS contact_id, r.associate_id, r.customer_id "
                f"FROM ({ranked_contacts_sql(senders)}) r WHERE r.n <= %s",
                [rules.unverified_reach_limit],
            )
            cursor.execute("CREATE INDEX ON bench_reach (associate_id)")
            cursor.execute("ANALYZE bench_reach")
            # per (variant, associate of its target subtree): the audience's size and the hash
            pair_hash = HASH.format(a="p.associate_id", v="p.variant_id")
            cursor.execute(f"""
                CREATE TEMP TABLE bench_pair AS
                WITH pair AS (
                    SELECT DISTINCT v.id AS variant_id, v.moment_id, v.audience_all, a.id AS associate_id
                    FROM {t["variant"]} v
                    JOIN {t["variant_department"]} vd ON vd.variant_id = v.id
                    JOIN {t["department"]} top ON top.id = vd.department_id
                    JOIN {t["department"]} d ON d.path LIKE top.path || '%'  -- no parameters: a bare %
                    JOIN {t["membership"]} m ON m.department_id = d.id
                    JOIN {t["associate"]} a ON a.id = m.associate_id AND a.is_active
                    WHERE v.moment_id IN ({ids})
                ),
                everyone AS (SELECT associate_id, COUNT(*) AS n FROM bench_reach GROUP BY associate_id),
                tagged AS (
                    SELECT vt.variant_id, r.associate_id, COUNT(DISTINCT r.contact_id) AS n
                    FROM bench_reach r JOIN {t["contact_tag"]} ct ON ct.contact_id = r.contact_id
                    JOIN {t["variant_tag"]} vt ON vt.customertag_id = ct.tag_id
                    GROUP BY vt.variant_id, r.associate_id
                )
                SELECT p.variant_id, p.moment_id, p.associate_id, {pair_hash} AS h,
                       CASE WHEN p.audience_all THEN COALESCE(e.n, 0) ELSE COALESCE(g.n, 0) END AS audience
                FROM pair p LEFT JOIN everyone e ON e.associate_id = p.associate_id
                LEFT JOIN tagged g ON g.variant_id = p.variant_id AND g.associate_id = p.associate_id
            """)  # fmt: skip
            cursor.execute("SELECT h, SUM(audience) FROM bench_pair GROUP BY h ORDER BY h")
            by_hash = cursor.fetchall()
        # the published tasks: the lowest hashes, until their audiences add up to the target
        published_below, total = 1000, 0
        for h, audience in by_hash:
            total += audience
            if total >= deliveries:
                published_below = h + 1
                break
        p = published_below
        states = (
            f"CASE WHEN h < {p} THEN 'published' WHEN h < {p + 60} THEN 'publish_requested' "
            f"WHEN h < {p + 260} THEN 'opened' WHEN h < {p + 310} THEN 'expired' WHEN h < {p + 330} THEN 'failed' "
            f"ELSE 'notified' END"
        )
        with step("results: publish tasks"):
            cursor.execute(f"""
                INSERT INTO {t["task"]} (public_id, moment_id, variant_id, associate_id, state, attempts, msgid,
                    notified_at, opened_at, publish_requested_at, published_at, edited_copy, posted_text, via,
                    wecom_jobid, wecom_moment_id, errcode, error, reminders_sent, created_at)
                SELECT gen_random_uuid(), x.moment_id, x.variant_id, x.associate_id, x.state, 1,
                    CASE WHEN x.state <> 'failed' THEN 'msg-' || x.variant_id || '-' || x.associate_id ELSE '' END,
                    CASE WHEN x.state <> 'failed' THEN x.at + make_interval(mins => 1 + x.h % 5) END,
                    CASE WHEN x.state IN ('opened', 'publish_requested', 'published')
                         THEN x.at + make_interval(mins => 10 + x.h % 50) END,
                    CASE WHEN x.state IN ('publish_requested', 'published')
                         THEN x.at + make_interval(mins => 15 + x.h % 50) END,
                    CASE WHEN x.state = 'published' THEN x.at + make_interval(mins => 16 + x.h % 50) END,
                    '', '', CASE WHEN x.state = 'published' THEN 'jssdk' ELSE '' END, '',
                    CASE WHEN x.state = 'published' THEN 'bench-' || x.variant_id || '-' || x.associate_id ELSE '' END,
                    CASE WHEN x.state = 'failed' THEN 40003 END, CASE WHEN x.state = 'failed' THEN 'bench' ELSE '' END,
                    CASE WHEN x.state IN ('notified', 'expired') THEN 1 ELSE 0 END, x.at
                FROM (SELECT p.*, m.publish_at AS at, {states} AS state
                      FROM bench_pair p JOIN {t["moment"]} m ON m.id = p.moment_id) x
            """)  # fmt: skip
            cursor.execute(f"UPDATE {t['moment']} SET state = 'closed' WHERE id IN ({ids})")
        with step("results: posts"):
            cursor.execute(f"""
                INSERT INTO {t["post"]} (wecom_moment_id, kind, created_at, text, synced_at, creator_id, moment_id)
                SELECT tk.wecom_moment_id, 1, tk.published_at, v.copy, tk.published_at + interval '1 day',
                       tk.associate_id, tk.moment_id
                FROM {t["task"]} tk JOIN {t["variant"]} v ON v.id = tk.variant_id
                WHERE tk.state = 'published' AND tk.moment_id IN ({ids})
            """)  # fmt: skip
            cursor.execute(f"ANALYZE {t['task']}")
            cursor.execute(f"ANALYZE {t['post']}")
            cursor.execute(f"SELECT id FROM {t['variant']} WHERE moment_id IN ({ids}) ORDER BY id")
            variant_ids = [row[0] for row in cursor.fetchall()]
        with step(f"results: deliveries ({len(variant_ids)} variants, one statement each)"):
            for variant_id in variant_ids:
                cursor.execute(
                    f"""
                    INSERT INTO {t["delivery"]} (post_id, moment_id, associate_id, customer_id, day)
                    SELECT po.id, po.moment_id, po.creator_id, r.customer_id, (tk.published_at AT TIME ZONE %s)::date
                    FROM {t["task"]} tk JOIN {t["variant"]} v ON v.id = tk.variant_id
                    JOIN {t["post"]} po ON po.wecom_moment_id = tk.wecom_moment_id
                    JOIN bench_reach r ON r.associate_id = tk.associate_id
                    WHERE tk.variant_id = %s AND tk.state = 'published' AND (v.audience_all OR EXISTS (
                        SELECT 1 FROM {t["contact_tag"]} ct JOIN {t["variant_tag"]} vt ON vt.customertag_id = ct.tag_id
                        WHERE vt.variant_id = v.id AND ct.contact_id = r.contact_id))
                    """,
                    [zone, variant_id],
                )  # fmt: skip
            cursor.execute(f"ANALYZE {t['delivery']}")
        with step("results: likes, comments, links, clicks"):
            cursor.execute(
                f"""
                INSERT INTO {t["engagement"]} (post_id, moment_id, associate_id, kind, customer_id, actor, created_at,
                                               day)
                SELECT d.post_id, d.moment_id, d.associate_id, CASE WHEN d.id %% 200 = 0 THEN 1 ELSE 0 END,
                       d.customer_id, cu.external_userid, e.at, (e.at AT TIME ZONE %s)::date
                FROM {t["delivery"]} d JOIN {t["post"]} po ON po.id = d.post_id
                JOIN {t["customer"]} cu ON cu.id = d.customer_id,
                LATERAL (SELECT po.created_at + make_interval(secs => 600 + d.id %% 7200) AS at) e
                WHERE d.id %% 40 = 0 AND d.moment_id IN ({ids})
                """,
                [zone],
            )  # fmt: skip
            cursor.execute(f"""
                INSERT INTO {t["link"]} (code, moment_id, associate_id, target_url, purpose, created_at)
                SELECT DISTINCT ON (tk.moment_id, tk.associate_id) substr(md5('bench-link-' || tk.id), 1, 12),
                       tk.moment_id, tk.associate_id, 'https://shop.example.com/valentine', 'cta', tk.created_at
                FROM {t["task"]} tk WHERE tk.state = 'published' AND tk.moment_id IN ({ids})
                ORDER BY tk.moment_id, tk.associate_id, tk.id
            """)  # fmt: skip
            cursor.execute(
                f"""
                INSERT INTO {t["click"]} (link_id, campaign_id, moment_id, associate_id, clicked_at, day, device)
                SELECT l.id, m.campaign_id, d.moment_id, d.associate_id, c.at, (c.at AT TIME ZONE %s)::date,
                       (ARRAY['wecom', 'wechat', 'phone', 'desktop'])[1 + d.id %% 4]
                FROM {t["delivery"]} d JOIN {t["moment"]} m ON m.id = d.moment_id
                JOIN {t["link"]} l ON l.moment_id = d.moment_id AND l.associate_id = d.associate_id,
                LATERAL (SELECT m.publish_at + make_interval(secs => 1800 + d.id %% 14400) AS at) c
                WHERE d.id %% 300 = 7 AND d.moment_id IN ({ids})
                """,
                [zone],
            )  # fmt: skip
        counts = {}
        for key in ("task", "post", "delivery", "engagement", "link", "click"):
            cursor.execute(f"SELECT COUNT(*) FROM {t[key]}")
            counts[key] = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_reach, bench_pair")
    return {"published_share": published_below / 1000, "counts": counts}


def users_build(region):
    from django.contrib.auth.models import Group

    from staff.models import ManagerAssignment, User
    from staff.roles import MANAGER, MARKETING_ADMIN

    admin = User.objects.create_user("bench-admin", is_staff=True)
    admin.groups.add(Group.objects.get(name=MARKETING_ADMIN))
    manager = User.objects.create_user("bench-manager", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER))
    ManagerAssignment.objects.create(user=manager, department=region)
    return admin, manager


def trivial_urlconf() -> str:
    """A URLconf module: the real patterns plus ``/bench-trivial/`` answering "ok"."""
    import types

    from django.http import HttpResponse
    from django.urls import path

    import moments_admin.urls

    def trivial(request):
        return HttpResponse("ok")

    module = types.ModuleType("bench_dashboard_urls")
    module.urlpatterns = [path("bench-trivial/", trivial), *moments_admin.urls.urlpatterns]
    sys.modules[module.__name__] = module
    return module.__name__


class QueryLog:
    """A database execute wrapper: every query of a request as sent, with its duration."""

    def __init__(self):
        self.queries: list[tuple[str, float]] = []

    def __call__(self, execute, sql, params, many, context):
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - begun
            cursor = context["cursor"]
            self.queries.append((cursor.db.ops.last_executed_query(cursor, sql, params), elapsed))


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    parser.add_argument("--deliveries", type=int, default=10_000_000, help="delivery rows, at least (default 10M)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slow queries of each page")
    parser.add_argument("--explain-ms", type=float, default=5.0)
    parser.add_argument("--cycle-every", type=int, default=1,
                        help="sync cycle: one customer in N of the last day's rows (default 1: all)")  # fmt: skip
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    apply_smoke(args)
    if args.smoke:
        args.deliveries, args.requests = 20_000, 5

    os.environ.setdefault("DEBUG", "0")  # as in production: no query log, no debug pages
    fresh_postgres_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    from analytics import dashboards, rollups
    from analytics.models import AssociateDay, CampaignCustomer, Delivery, DepartmentDay, DepartmentReach
    from campaigns.models import PublishTask
    from staff.models import Associate, Department

    print(f"size: {args.associates:,} associates × {args.contacts_per_associate} contacts, "
          f"≥ {args.deliveries:,} deliveries; {args.requests} timed requests a page")  # fmt: skip
    started = time.perf_counter()
    world_build(args.associates, args.contacts_per_associate)
    with step("campaign"):
        world = campaign_build()
    campaign, days = world["campaign"], world["days"]
    built = results_build([m.pk for m in world["moments"]] + [world["other"].pk], args.deliveries, days[0])
    counts = built["counts"]
    print("  rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items())
          + f"; published share {built['published_share']:.1%}")  # fmt: skip
    print(f"build: {time.perf_counter() - started:.0f} s")

    timings = {}

    def progress(stat, _bucket):
        timings[stat] = time.perf_counter()

    with step("roll-ups: mark_everything"):
        marked = rollups.mark_everything()
    started = time.perf_counter()
    done = rollups.rollups_refresh(progress=progress)
    rollup_s = time.perf_counter() - started
    previous, parts = started, []
    for stat in rollups.STATS:
        if stat in timings:
            parts.append(f"{stat} {done[stat]} buckets {timings[stat] - previous:.1f} s")
            previous = timings[stat]
    print(f"roll-ups (background): {marked} marks, rollups_refresh {rollup_s:.1f} s ({', '.join(parts)})")
    with step("VACUUM ANALYZE"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print("  roll-up rows: " + ", ".join(f"{m.__name__} {m.objects.count():,}" for m in
          (AssociateDay, DepartmentDay, DepartmentReach, CampaignCustomer)))  # fmt: skip

    top = Department.objects.get(parent__isnull=True)
    region = Department.objects.filter(parent=top).order_by("id").first()
    admin, manager = users_build(region)
    clients = {}
    for name, person in (("admin", admin), ("manager", manager)):
        clients[name] = Client()
        clients[name].force_login(person)

    # Expected sizes of the tables the pages show.
    ours = PublishTask.objects.filter(moment__campaign=campaign)
    in_region = Associate.objects.filter(main_department__path__startswith=region.path)
    expected_rows = {
        ("associate", "admin"): ours.values("associate_id").distinct().count(),
        ("associate", "manager"): ours.filter(associate__in=in_region).values("associate_id").distinct().count(),
        ("store", "admin"): ours.values("associate__main_department_id").distinct().count(),
        ("store", "manager"): ours.filter(associate__in=in_region).values("associate__main_department_id")
        .distinct().count(),
    }  # fmt: skip
    overview_url = reverse("dashboards:campaign", args=[campaign.public_id])
    board_url = reverse("dashboards:leaderboard", args=[campaign.public_id])
    pages = [("trivial view", "admin", "/bench-trivial/")]
    for who in ("admin", "manager"):
        pages += [
            ("campaign overview", who, overview_url),
            ("leaderboard by associate", who, f"{board_url}?by=associate"),
            ("leaderboard by associate, sort=-deliveries", who, f"{board_url}?by=associate&sort=-deliveries"),
            ("leaderboard by store", who, f"{board_url}?by=store"),
        ]

    problems = []
    seconds = {page: [] for page in pages}
    sql_ms = {page: [] for page in pages}
    queries = {page: set() for page in pages}
    last_sql = {}

    def get(page, timed: bool) -> str:
        _label, who, url = page
        seen = QueryLog()
        with connection.execute_wrapper(seen):
            begun = time.perf_counter()
            response = clients[who].get(url)
            elapsed = time.perf_counter() - begun
        if response.status_code != 200:
            problems.append(f"{page[0]} ({who}): HTTP {response.status_code}")
        queries[page].add(len(seen.queries))
        last_sql[page] = seen.queries
        if timed:
            seconds[page].append(elapsed)
            sql_ms[page].append(sum(s for _sql, s in seen.queries) * 1000)
        return response.content.decode()

    with override_settings(ROOT_URLCONF=trivial_urlconf(), ALLOWED_HOSTS=["testserver"]):
        html = {}
        for page in pages:
            for _ in range(WARM_UPS):
                html[page] = get(page, timed=False)
        for _ in range(args.requests):
            for page in pages:
                get(page, timed=True)
        # not one query per row: the leaderboard's last page runs the queries of its first
        for who in ("admin", "manager"):
            total = expected_rows["associate", who]
            last = max(1, -(-total // dashboards.PAGE_SIZE))
            page = ("leaderboard by associate", who, f"{board_url}?by=associate")
            seen = QueryLog()
            with connection.execute_wrapper(seen):
                response = clients[who].get(f"{board_url}?by=associate&page={last}&sort=name")
            rows = response.content.decode().count('data-col="deliveries"')
            if rows != total - (last - 1) * dashboards.PAGE_SIZE:
                problems.append(f"leaderboard ({who}), last page {last}: {rows} rows of {total}")
            if {len(seen.queries)} != queries[page]:
                problems.append(f"leaderboard ({who}): {len(seen.queries)} queries on the last page, "
                                f"{queries[page]} on the first")  # fmt: skip

    baseline = statistics.median(seconds[pages[0]])
    print(f"{'page':45} {'user':8} {'median':>9} {'p95':>9} {'ratio':>7} {'queries':>8} {'SQL (median)':>13}")
    for page in pages:
        label, who, _url = page
        median, p95 = statistics.median(seconds[page]), nearest_rank(seconds[page], 0.95)
        n = "/".join(str(q) for q in sorted(queries[page]))
        print(f"{label:45} {who:8} {median * 1000:7.1f} ms {p95 * 1000:6.1f} ms {median / baseline:6.1f}× {n:>8} "
              f"{statistics.median(sql_ms[page]):10.1f} ms")  # fmt: skip

    # --- checks ---
    for page in pages[1:]:
        label, who, _url = page
        if len(queries[page]) != 1:
            problems.append(f"{label} ({who}): the query count varies between requests: {sorted(queries[page])}")
        if max(queries[page]) > MAX_QUERIES:
            problems.append(f"{label} ({who}): {max(queries[page])} queries, more than {MAX_QUERIES}")
    by_label = {}
    for page in pages[1:]:
        by_label.setdefault(page[0], {})[page[1]] = max(queries[page])
    for label, per_user in by_label.items():
        if not 0 <= per_user["manager"] - per_user["admin"] <= SCOPE_QUERIES:
            problems.append(f"{label}: admin {per_user['admin']} queries, manager {per_user['manager']}")
    for who in ("admin", "manager"):
        if by_label["leaderboard by associate"][who] != by_label["leaderboard by associate, sort=-deliveries"][who]:
            problems.append(f"leaderboard ({who}): the sort changes the number of queries")
    for (by, who), total in expected_rows.items():
        label = f"leaderboard by {by}"
        rows = html[label, who, f"{board_url}?by={by}"].count('data-col="deliveries"')
        if rows != min(total, dashboards.PAGE_SIZE) or not total:
            problems.append(f"{label} ({who}): {rows} rows on the first page, {total} expected in all")
    overview = dashboards.campaign_overview(user=admin, campaign=campaign, filters=dashboards.Filters())
    facts = Delivery.objects.filter(moment__campaign=campaign).count()
    published = ours.filter(state=PublishTask.State.PUBLISHED).count()
    print(f"campaign: {facts:,} deliveries, {overview.customers:,} customers reached of {overview.contacts:,}, "
          f"{published:,} of {ours.count():,} tasks published, {overview.likes + overview.comments:,} likes and "
          f"comments, {overview.clicks:,} clicks")  # fmt: skip
    if overview.deliveries != facts or overview.funnel["published"] != published or not facts:
        problems.append(f"overview: {overview.deliveries:,} deliveries and {overview.funnel['published']:,} published "
                        f"shown, the facts have {facts:,} and {published:,}")  # fmt: skip
    if counts["delivery"] < args.deliveries:
        problems.append(f"{counts['delivery']:,} deliveries built, fewer than {args.deliveries:,}")

    if args.explain:
        explain(pages[1:], last_sql, args.explain_ms)
    sync_cycle(campaign, problems, every=args.cycle_every)
    for problem in problems:
        print("  ", problem)
    if problems:
        sys.exit(f"dashboard bench: {len(problems)} problems")


def rollup_tables() -> dict:
    """Every roll-up table's rows, for comparing the increments with a rebuild."""
    from analytics.models import (
        AssociateDay,
        CampaignAssociate,
        CampaignCustomer,
        CampaignReach,
        DepartmentDay,
        DepartmentReach,
    )

    counts = ["deliveries", "customers", "cap_loss", "verification_loss", "likes", "comments", "clicks"]
    return {
        "associate": set(AssociateDay.objects.values_list("day", "associate_id", "campaign_id", *counts)),
        "department": set(DepartmentDay.objects.values_list("day", "department_id", "campaign_id", *counts)),
        "campaign": set(CampaignReach.objects.values_list("campaign_id", "contacts", *counts)),
        "customers": set(CampaignCustomer.objects.values_list("campaign_id", "customer_id", "first_day", "deliveries")),
        "reach": set(DepartmentReach.objects.values_list("department_id", "campaign_id", "day", "customers")),
        "associates": set(
            CampaignAssociate.objects.values_list("campaign_id", "associate_id", "published", *counts)
        ),  # fmt: skip
    }


def sync_cycle(campaign, problems: list[str], every: int = 1) -> None:
    """A results-sync cycle of the live campaign, its roll-ups' share: the campaign's last
    day of deliveries is taken out (copied to a side table, deleted, the roll-ups rebuilt
    without it; not timed), then timed: (1) the baseline, a plain COPY of those rows back
    into ``analytics_delivery``; (2) the roll-ups by increment, as the sync's marks ask
    (``rollups.mark`` of the day and the campaign, then ``rollups_refresh``); (3) the same
    buckets recomputed whole (``mark(rebuild=True)``, what every cycle paid before); the
    two must leave the same roll-ups. ``every`` N > 1: only the rows of one customer in N
    come back (a cycle of a live day, when the day's results arrive over several syncs)."""
    from django.db import connection

    from analytics import rollups
    from analytics.models import Delivery, RollupMark

    t = tables()
    day = Delivery.objects.filter(moment__campaign=campaign).order_by("-day").values_list("day", flat=True).first()
    columns = "post_id, moment_id, associate_id, customer_id, day"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE bench_day AS SELECT {columns} FROM {t['delivery']} d "
                       f"WHERE d.day = %s AND d.moment_id IN (SELECT id FROM {t['moment']} WHERE campaign_id = %s)",
                       [day, campaign.pk])  # fmt: skip
        rows = cursor.rowcount
        cursor.execute(f"DELETE FROM {t['delivery']} WHERE (post_id, associate_id, customer_id) IN "
                       f"(SELECT post_id, associate_id, customer_id FROM bench_day)")  # fmt: skip
        cursor.execute(f"ANALYZE {t['delivery']}")
        back = f"(SELECT {columns} FROM bench_day WHERE customer_id % {every} = 0)"  # no parameters: a bare %
        with cursor.copy(f"COPY {back} TO STDOUT") as copy:  # psycopg 3
            chunks = [bytes(data) for data in copy]
    with step(f"sync cycle: the roll-ups without {day} ({rows:,} deliveries)"):
        rollups.mark(days=[day], campaign_ids=[campaign.pk], rebuild=True)
        rollups.rollups_refresh()
    RollupMark.objects.all().delete()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(f"COPY {t['delivery']} ({columns}) FROM STDIN") as copy:
            for data in chunks:
                copy.write(data)
        copy_s = time.perf_counter() - started
    started = time.perf_counter()
    rollups.mark(days=[day], campaign_ids=[campaign.pk])  # what the sync's ingest marks
    done = rollups.rollups_refresh()
    increment_s = time.perf_counter() - started
    incremental = rollup_tables()
    started = time.perf_counter()
    rollups.mark(days=[day], campaign_ids=[campaign.pk], rebuild=True)
    rollups.rollups_refresh()
    rebuild_s = time.perf_counter() - started
    print(f"sync cycle, the day {day} ({rows:,} deliveries), one customer in {every}: "
          f"{Delivery.objects.filter(day=day).count():,} rows back; buckets {done}")  # fmt: skip
    print(f"  plain COPY of the day's rows (baseline): {copy_s:.2f} s")
    print(
        f"  roll-ups by increment: {increment_s:.2f} s = {increment_s / copy_s:.2f}× the COPY; "
        f"COPY + roll-ups {(copy_s + increment_s) / copy_s:.2f}× (target ≤ 1.5× with ingest at COPY speed)"
    )
    print(f"  the same buckets recomputed whole (before): {rebuild_s:.2f} s = {rebuild_s / copy_s:.2f}× the COPY; "
          f"increment {rebuild_s / increment_s:.1f}× faster")  # fmt: skip
    if rollup_tables() != incremental:
        problems.append("sync cycle: the roll-ups by increment differ from a rebuild")


def explain(pages, last_sql: dict, slower_than_ms: float) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the queries of each page slower than the threshold in
    the last request (the SQL as it was sent)."""
    from django.db import connection

    for page in pages:
        for sql, seconds in last_sql[page]:
            if seconds * 1000 < slower_than_ms:
                continue
            print(f"\n--- {page[0]} ({page[1]}): {seconds * 1000:.1f} ms\n{sql}")
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
