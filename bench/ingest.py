#!/usr/bin/env python
"""Results ingest: a campaign's send results stored as Delivery rows, against a plain
COPY of the same rows (PostgreSQL).

1. Build the brand set-based (``_support.world_build``: N associates × M contacts, 10%
   unverified, customers shared by ~3 associates, tags) and the campaign
   (``_support.campaign_build``: 5 days × 2 moments for the whole brand, a gold-tier
   variant next to everybody's in the evening). One enterprise Post per variant is
   created, and every page of the send results is prepared in memory: per (post,
   associate), the ``external_userid`` of the associate's reachable contacts in the
   variant's audience (all of a verified associate's active contacts, an unverified
   one's 200 earliest-added; the gold-tagged ones for the gold variant), in pages of at
   most 5,000 as WeCom's ``get_moment_send_result`` pages them. Not timed.
2. Timed: ``analytics.sync.deliveries_store_pages`` over every page, post by post, as
   results sync stores them: a post's pages together, ``INGEST_BATCH_ROWS`` customers per
   transaction at most (one COPY into the connection's staging table, one statement that
   joins the customers and inserts). Then, timed apart, ``rollups_refresh`` of what the
   ingest marked: ingest + roll-ups is the results-sync cycle (``--no-rollups`` skips it).
3. Checks (non-zero exit when one fails): every row added and stored, no customer
   unknown, and a second store of a page adds nothing.
4. Baseline, timed: ``_support.copy_baseline([Delivery])`` — the rows ingest wrote are
   copied out, the table truncated, and the same rows COPYed back in one plain
   ``COPY … FROM STDIN`` (same indexes and constraints).

``--days``: how many of the campaign's days are ingested, from the first. The default is
the first day only (its 2 moments, 3 posts: 9.6M rows at full size): at the measured
~17 ms a page, all 5 days (150,000 pages, ~48M rows) would take about 45 minutes, too
long for ``make bench``; ``--days 5`` runs it.

    python bench/ingest.py [--associates 10000] [--contacts-per-associate 500] [--days 1] [--smoke] [--no-rollups]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (
    CAMPAIGN_DAYS,
    apply_smoke,
    campaign_build,
    copy_baseline,
    fresh_postgres_django,
    report,
    size_arguments,
    step,
    world_build,
)

PAGE = 5_000  # get_moment_send_result's largest page


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    parser.add_argument("--days", type=int, default=1, choices=range(1, CAMPAIGN_DAYS + 1),
                        help="ingest the campaign's first N days (default 1)")  # fmt: skip
    parser.add_argument("--no-rollups", action="store_true", help="do not time the roll-ups' refresh after it")
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    apply_smoke(args)

    fresh_postgres_django()
    from django.db import connection
    from django.utils import timezone

    from analytics.models import Delivery, Post
    from analytics.rollups import rollups_refresh
    from analytics.rules import boundary_order_sql, rules_for
    from analytics.sync import INGEST_BATCH_ROWS, deliveries_store, deliveries_store_pages
    from campaigns.models import Variant
    from staff.models import Associate, Contact, ContactTag, Customer, CustomerTag

    print(f"size: {args.associates:,} associates × {args.contacts_per_associate} contacts, {args.days} day(s)")
    world_build(args.associates, args.contacts_per_associate)
    with step("campaign, posts, pages"):
        world = campaign_build()
        days = world["days"][: args.days]
        limit = rules_for(days[0]).unverified_reach_limit
        gold_variants = set()
        posts = []  # (post, variant, day)
        for moment in world["moments"]:
            day = timezone.localdate(moment.publish_at)
            if day not in days:
                continue
            for variant in Variant.objects.filter(moment=moment).order_by("position"):
                post = Post.objects.create(wecom_moment_id=f"bench-{variant.pk}", kind=Post.Kind.ENTERPRISE,
                                           moment=moment, created_at=moment.publish_at)  # fmt: skip
                posts.append((post, variant, day))
                if not variant.audience_all:
                    gold_variants.add(variant.pk)
        # Every active associate's reachable contacts, in added order: (all, gold-tagged).
        reachable: dict[int, tuple[list[str], list[str]]] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.associate_id, a.is_verified, cu.external_userid, EXISTS (SELECT 1 FROM "
                f"{ContactTag._meta.db_table} ct WHERE ct.contact_id = c.id AND ct.tag_id = (SELECT id FROM "
                f"{CustomerTag._meta.db_table} WHERE tag_id = 'et-gold')) FROM {Contact._meta.db_table} c "
                f"JOIN {Associate._meta.db_table} a ON a.id = c.associate_id AND a.is_active "
                f"JOIN {Customer._meta.db_table} cu ON cu.id = c.customer_id "
                f"WHERE c.is_active ORDER BY c.associate_id, "
                f"{boundary_order_sql(added='c.added_at', external_userid='cu.external_userid')}"
            )
            while chunk := cursor.fetchmany(100_000):
                for associate_id, verified, external_userid, gold in chunk:
                    everyone, golden = reachable.setdefault(associate_id, ([], []))
                    if verified or len(everyone) < limit:
                        everyone.append(external_userid)
                        if gold:
                            golden.append(external_userid)
        calls = [
            (post, day, associate_id, page)
            for post, variant, day in posts
            for associate_id, (everyone, golden) in reachable.items()
            for page in _pages(golden if variant.pk in gold_variants else everyone)
        ]
    expected = sum(len(page) for *_, page in calls)
    print(f"  posts {len(posts)}, pages {len(calls):,}, rows {expected:,}")

    # As results sync stores them: a post's pages together, at most INGEST_BATCH_ROWS at a time.
    batches, batch, rows_in = [], [], 0
    for index, (post, day, associate_id, page) in enumerate(calls):
        batch.append((post.pk, post.moment_id, associate_id, day, page))
        rows_in += len(page)
        last_of_post = index + 1 == len(calls) or calls[index + 1][0] is not post
        if rows_in >= INGEST_BATCH_ROWS or last_of_post:
            batches.append(batch)
            batch, rows_in = [], 0
    added = unknown = 0
    report_every = max(1, len(batches) // 10)
    started = time.perf_counter()
    for index, pages in enumerate(batches, 1):
        stored, missing = deliveries_store_pages(pages)
        added += stored
        unknown += missing
        if index % report_every == 0:
            elapsed = time.perf_counter() - started
            print(f"  ingest: {index:,}/{len(batches):,} transactions, {added:,} rows, {elapsed:.0f} s", flush=True)
    ingest_s = time.perf_counter() - started
    rollups_s = None
    if not args.no_rollups:
        with step("roll-ups: refresh what the ingest marked"):
            started = time.perf_counter()
            rollups_refresh()
            rollups_s = time.perf_counter() - started

    problems = []
    post, day, associate_id, page = calls[0]
    again = deliveries_store(post_id=post.pk, moment_id=post.moment_id, associate_id=associate_id, day=day,
                             external_userids=page)  # fmt: skip
    stored_rows = Delivery.objects.count()
    if added != expected or stored_rows != expected:
        problems.append(f"expected {expected:,} rows: added {added:,}, stored {stored_rows:,}")
    if unknown:
        problems.append(f"{unknown:,} customers unknown")
    if again != (0, 0):
        problems.append(f"a second store of one page added {again[0]} (unknown {again[1]})")

    with step("baseline: COPY of the same rows"):
        copy_s, counts = copy_baseline([Delivery])
    if counts[Delivery._meta.db_table] != expected:
        problems.append(f"the baseline copied {counts[Delivery._meta.db_table]:,} rows")
    print(f"pages: {len(calls):,} (≤ {PAGE:,} external_userids each) in {len(batches):,} transactions; "
          f"re-run of one page added {again[0]}")  # fmt: skip
    report("deliveries_store_pages, post by post", ingest_s, "plain COPY, same rows", copy_s, expected)
    if rollups_s is not None:
        cycle_s = ingest_s + rollups_s
        print(f"roll-ups refresh: {rollups_s:.2f} s; results-sync cycle (ingest + roll-ups): {cycle_s:.2f} s, "
              f"{cycle_s / copy_s:.2f}× the plain COPY (target ≤ 1.5)")  # fmt: skip
    for problem in problems:
        print("  ", problem)
    if problems:
        sys.exit(f"ingest bench: {len(problems)} problems")


def _pages(ids: list[str]):
    for start in range(0, len(ids), PAGE):
        yield ids[start : start + PAGE]


if __name__ == "__main__":
    main()
