#!/usr/bin/env python
"""The reach forecast of a 5-day × 2-a-day campaign for a whole brand, against a bare
scan of the rows it must read (PostgreSQL).

1. Build the brand set-based (``_support.world_build``: N associates × M contacts, 10%
   unverified, customers shared by ~3 associates, tier and interest tags), the campaign
   (``_support.campaign_build``: 10 moments for the top department, a gold-tier variant
   next to everybody's in the evening, another campaign's rose-tagged moment on the third
   day, two personal posts on the first day by every 50th associate). Not timed.
2. Baseline, timed: one plain SQL query that reads what the forecast must read — for
   every planned variant (ours and the other campaign's), the active contacts of its
   targeted active associates (department subtrees), restricted to the contacts carrying
   one of its tags when it has some, counted per variant; and the deliveries already
   recorded on the planned days. It decides nothing (no ranking, no cap, no temporary
   table). Run once untimed first, so both sides start from warm caches.
3. ``analytics.forecast.forecast_campaign``, timed (the group path: one decision per contact key, see
   the module's docstring). Printed beside it: the ratio against the bare scan, this process's peak
   memory (the worker's side, limit 1 GiB) and what PostgreSQL wrote to temporary files meanwhile.
4. Checks (non-zero exit when one fails): per variant, the forecast's (associate,
   customer) pairs equal the scan's count and split exactly into deliveries, cap loss
   and verification loss; verification loss equals the contacts past the 200 earliest
   of the unverified associates; the cap bites exactly where the world says (day 1
   evening after the personal posts, day 3 gold after the other campaign's moment) and
   nowhere else; the peak memory stays under 1 GiB. At smoke size, every planned row is also read back
   (``forecast_rows``), no (associate, customer, day) exceeds the feed cap, and the pair path
   (``forecast_pairs``, one row per planned pair) gives every figure the group path gives.

The tables are vacuumed after the build (not timed), as autovacuum leaves a settled brand's tables: the
forecast reads the (customer, associate) index alone to find the customers shared by associates.

    python bench/forecast.py [--associates 10000] [--contacts-per-associate 500] [--smoke]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import apply_smoke, campaign_build, fresh_postgres_django, size_arguments, step, world_build

PERSONAL_POSTERS_EVERY = 50
MEMORY_LIMIT = 1 << 30  # the worker's peak, issue #19


def scan_sql(variant_ids: list[int], days: list) -> tuple[str, list]:
    """The bare scan (see the module's docstring): (variant id, pairs) rows, then one row
    (0, deliveries on the planned days)."""
    from analytics.models import Delivery
    from campaigns.models import Variant
    from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Department

    variant, contact, contact_tag = Variant._meta.db_table, Contact._meta.db_table, ContactTag._meta.db_table
    associate, membership, department = (Associate._meta.db_table, AssociateDepartment._meta.db_table,
                                         Department._meta.db_table)  # fmt: skip
    departments = Variant.target_departments.through._meta.db_table
    tags = Variant.audience_tags.through._meta.db_table
    ids = ", ".join(["%s"] * len(variant_ids))
    sql = f"""
        SELECT v.id, COUNT(*) FROM {variant} v
        JOIN {departments} vd ON vd.variant_id = v.id
        JOIN {department} top ON top.id = vd.department_id
        JOIN {department} d ON d.path LIKE top.path || '%%'
        JOIN {membership} m ON m.department_id = d.id
        JOIN {associate} a ON a.id = m.associate_id AND a.is_active
        JOIN {contact} c ON c.associate_id = a.id AND c.is_active
        WHERE v.id IN ({ids}) AND (v.audience_all OR EXISTS (
            SELECT 1 FROM {contact_tag} ct JOIN {tags} vt ON vt.customertag_id = ct.tag_id
            WHERE vt.variant_id = v.id AND ct.contact_id = c.id))
        GROUP BY v.id
        UNION ALL
        SELECT 0, COUNT(*) FROM {Delivery._meta.db_table} WHERE day IN ({", ".join(["%s"] * len(days))})
    """
    return sql, [*variant_ids, *days]


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter)
    size_arguments(parser, description=__doc__)
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    apply_smoke(args)

    fresh_postgres_django()
    from django.db import connection

    from analytics import forecast
    from analytics.rules import rules_for
    from staff.models import Contact

    print(f"size: {args.associates:,} associates × {args.contacts_per_associate} contacts")
    counts = world_build(args.associates, args.contacts_per_associate)
    with step("campaign, personal posts"):
        world = campaign_build(personal_posters_every=PERSONAL_POSTERS_EVERY)
    print("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    campaign, moments, days = world["campaign"], world["moments"], world["days"]
    planned = forecast.planned_for(moments)
    variant_ids = [p.variant.pk for p in planned]
    sql, params = scan_sql(variant_ids, days)
    with step("vacuum"):
        vacuum(["staff_contact", "staff_contacttag", "staff_customer", "analytics_delivery"])

    with connection.cursor() as cursor:
        cursor.execute(sql, params)  # warm-up, untimed
        started = time.perf_counter()
        cursor.execute(sql, params)
        scanned = dict(cursor.fetchall())
        scan_s = time.perf_counter() - started
    read = sum(scanned.values())

    temp_before = temp_bytes()
    started = time.perf_counter()
    result = forecast.forecast_campaign(campaign)
    forecast_s = time.perf_counter() - started
    temp_written = temp_bytes() - temp_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux reports KiB)

    deliveries = scanned.get(0, 0)
    print(f"planned variants: {len(planned)} ({sum(p.ours for p in planned)} ours) on {len(days)} days; "
          f"rows read by the scan: {read:,} (pairs {read - deliveries:,}, deliveries {deliveries:,})")  # fmt: skip
    print(f"forecast: deliveries {result.deliveries:,}, cap loss {result.cap_loss:,}, verification loss "
          f"{result.verification_loss:,}, reach {result.reach:,} of {result.contacts:,} ({result.reach_rate:.1%}), "
          f"duplicate exposure {result.duplicate_exposure:,}, collisions {len(result.collisions)}")  # fmt: skip
    print(f"forecast_campaign: {forecast_s:.2f} s, {read / forecast_s:,.0f} rows read/s")
    print(f"bare scan of the same rows: {scan_s:.2f} s, {read / scan_s:,.0f} rows/s")
    print(f"ratio (lower is better): {forecast_s / scan_s:.2f}× the baseline")
    print(f"peak memory of this process (the worker): {peak / 2**20:,.0f} MiB (limit {MEMORY_LIMIT / 2**20:,.0f} MiB); "
          f"PostgreSQL temporary files during the forecast: {temp_written / 2**20:,.0f} MiB")  # fmt: skip

    problems = check(result, scanned, planned, days, rules_for(days[0]).unverified_reach_limit, Contact)
    if peak > MEMORY_LIMIT:
        problems.append(f"peak memory {peak / 2**20:,.0f} MiB over {MEMORY_LIMIT / 2**20:,.0f} MiB")
    if args.associates * args.contacts_per_associate <= 100_000:
        with step("smoke: every planned row against the feed cap"):
            problems += check_rows(forecast.forecast_rows(moments), result, planned)
        with step("smoke: the pair path gives every figure the group path gives"):
            problems += check_pairs(result, forecast.forecast_pairs(moments))
    for problem in problems:
        print("  ", problem)
    if problems:
        sys.exit(f"forecast bench: {len(problems)} inconsistencies")


def vacuum(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # outside a transaction (autocommit)
        for table in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')


def temp_bytes() -> int:
    """What this database's sessions wrote to temporary files so far (pg_stat_database)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0] or 0)


def check_pairs(grouped, pairs) -> list[str]:
    """The group path against the pair path: every field of the Forecast (collisions in any order)."""
    from dataclasses import asdict

    def canonical(result):
        data = asdict(result)
        data["collisions"] = sorted(data["collisions"], key=lambda c: sorted((k, str(v)) for k, v in c.items()))
        return data

    a, b = canonical(grouped), canonical(pairs)
    return [f"{name}: groups {str(a[name])[:200]} ≠ pairs {str(b[name])[:200]}" for name in a if a[name] != b[name]]


def check(result, scanned: dict, planned, days, reach_limit: int, Contact) -> list[str]:
    """The forecast against what the world was built to be (see the module's docstring)."""
    from django.db import connection
    from django.utils import timezone

    from staff.models import Associate

    problems = []
    ours = {p.variant.pk: p for p in planned if p.ours}
    other_moment = next(p.variant.moment_id for p in planned if not p.ours)
    if {v.variant_id for v in result.variants} != set(ours):
        problems.append("the forecast's variants are not the campaign's")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(GREATEST(n - %s, 0)), 0) FROM (SELECT COUNT(*) AS n FROM {Contact._meta.db_table} c "
            f"JOIN {Associate._meta.db_table} a ON a.id = c.associate_id WHERE a.is_active AND NOT a.is_verified "
            f"AND c.is_active GROUP BY c.associate_id) per",
            [reach_limit],
        )
        beyond = cursor.fetchone()[0]
    for line in result.variants:
        p = ours[line.variant_id]
        name = f"variant {line.variant_id} ({p.variant.name}, {line.day})"
        evening = timezone.localtime(p.variant.moment.publish_at).hour >= 12
        if line.audience_contacts != scanned.get(line.variant_id, 0):
            problems.append(f"{name}: {line.audience_contacts:,} pairs, the scan counts {scanned.get(line.variant_id)}")
        if line.deliveries + line.cap_loss + line.verification_loss != line.audience_contacts:
            problems.append(f"{name}: deliveries + cap loss + verification loss ≠ pairs")
        if p.variant.audience_all and line.verification_loss != beyond:
            problems.append(f"{name}: verification loss {line.verification_loss:,}, expected {beyond:,}")
        if not line.deliveries or line.reach > line.audience:
            problems.append(f"{name}: {line.deliveries} deliveries, reach {line.reach} of {line.audience}")
        capped_expected = (line.day == days[0] and evening) or (line.day == days[2] and p.variant.position == 1)
        if bool(line.cap_loss) != capped_expected:
            problems.append(f"{name}: cap loss {line.cap_loss:,}, expected {'some' if capped_expected else 'none'}")
    if not any(c.moment_id is None and not c.planned for c in result.collisions):
        problems.append("no collision with the personal posts")
    if not any(c.moment_id == other_moment and c.planned for c in result.collisions):
        problems.append("no collision with the other campaign's moment")
    if not 0 < result.reach <= result.contacts or not result.duplicate_exposure:
        problems.append(f"reach {result.reach} of {result.contacts}, duplicate exposure {result.duplicate_exposure}")
    if beyond and not (result.verify_accounts and result.verify_gain):
        problems.append("no verification hint")
    return problems


def check_rows(rows, result, planned) -> list[str]:
    """Every planned row: the summary's counts, and the cap after the deliveries already in the feed."""
    from collections import Counter

    from analytics import forecast
    from analytics.models import Delivery

    problems = []
    per_variant = Counter((v, o) for v, _, _, _, o in rows)
    for line in result.variants:
        got = (per_variant[line.variant_id, forecast.DELIVERED], per_variant[line.variant_id, forecast.CAPPED],
               per_variant[line.variant_id, forecast.UNREACHABLE])  # fmt: skip
        if got != (line.deliveries, line.cap_loss, line.verification_loss):
            problems.append(f"variant {line.variant_id}: rows {got} ≠ summary")
    feed = Counter()
    for associate, customer, day in Delivery.objects.values_list("associate_id", "customer_id", "day"):
        feed[associate, customer, day] += 1
    # The other campaign's planned rows are not returned: count its audience from a second forecast.
    other = [p.variant.moment for p in planned if not p.ours]
    for _, a, c, day, outcome in forecast.forecast_rows(other) + rows:
        if outcome == forecast.DELIVERED:
            feed[a, c, day] += 1
    cap = planned[0].rules.feed_cap
    over = sum(1 for n in feed.values() if n > cap)
    if over:
        problems.append(f"{over} (associate, customer, day) over the feed cap")
    return problems


if __name__ == "__main__":
    main()
