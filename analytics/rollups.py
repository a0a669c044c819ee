"""Roll-ups (DESIGN.md §5.5): small tables the dashboards and the API read instead of
10M+ delivery facts, maintained incrementally and resumably.

Three stats, computed in this order (the later ones sum the earlier ones' pair counts):

- ``associate_day``: per (local day, associate, campaign) — deliveries, distinct customers,
  cap loss, verification loss, likes, comments, clicks;
- ``department_day``: per (local day, department, campaign), the department's whole
  subtree — pair counts summed over its associates, distinct customers counted from the
  facts (a customer reached by two of its associates counts once);
- ``campaign``: per campaign — the same totals; its distinct reach comes from
  ``CampaignCustomer`` (each customer reached, with the first day), so reach over any
  span of days is a count there, never a sum of daily distinct counts; per department
  subtree (``DepartmentReach``) the customers first reached on each day and the base; and
  per associate (``CampaignAssociate``) the funnel of their tasks and their results.

**Checkpoints.** Each stat's checkpoint is its set of marks (``RollupMark``): ingest bumps
the mark of every bucket it added facts to, in the same transaction as the facts; the
publish flow (``campaigns.confirmation``) marks the day and the campaign of what it
confirmed. A run takes each mark, brings its bucket up to date in one transaction and
removes the mark only if nobody bumped it meanwhile. A run that dies half-way leaves its
marks: the next run redoes those buckets, and a half-done bucket never survives.

**By increment.** A bucket remembers the last Delivery, Engagement and LinkClick id it
counted (``RollupBucket``); a run adds the bucket's facts above those ids, up to the run's
*horizon* (the last id of each table when the run began, read under a SHARE lock on
PostgreSQL, so no insert is in flight below it), so a sync cycle's cost follows the rows it
added, not the campaign's size:

- counts are added (``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``);
- distinct customers are distinct-safe: a new row's customer counts for a bucket only if
  none of the bucket's rows already counted (id at or below its position) has them — found
  through the facts' (associate, customer, day) and (customer, day) indexes, for the new
  rows' customers only; a campaign's reach by ``CampaignCustomer`` upserts (a customer
  known before the batch is not new; a first day only moves earlier), each subtree's first
  days (``DepartmentReach``) by the same comparison with what the subtree counted before;
- losses (cap, verification) depend on what was published and on everything delivered
  that day: an ``associate_day`` bucket recomputes the day's losses of the associates they
  may have changed for — those with new delivery rows (any day) and those whose tasks
  published that day differ from the ones the bucket saw (``RollupPublication``) — never
  the campaign, nor the whole day for a few new rows; department days, campaign totals and the
  per-associate table re-sum the (small) associate days;
- a campaign's funnel per associate is recomputed from its tasks (one GROUP BY over the
  campaign's tasks), its base (contacts of the tasked associates) when its tasks changed.

Positions below the *floor* need no look: a run that went through every mark moves the
floor to its horizon, since every bucket with facts up to it was marked and counted them.

**Rebuild.** ``mark(rebuild=True)`` (a late post changing the moment of stored facts,
``mark_everything``) recomputes the bucket whole from the facts up to the horizon (DELETE +
INSERT … SELECT); it equals the increments' result (tested, interrupted and resumed too).

Actual losses, for what associates published (PublishTask ``published`` that day): the
variant's audience among the associate's active contacts without a delivery of the
moment is *verification loss* when the contact is beyond an unverified associate's
reach limit (earliest added first), *cap loss* when the associate's deliveries to that
customer that day already fill the feed cap; neither otherwise (e.g. added later).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from analytics.models import (
    AssociateDay,
    CampaignAssociate,
    CampaignCustomer,
    CampaignReach,
    Delivery,
    DepartmentDay,
    DepartmentReach,
    Engagement,
    RollupBucket,
    RollupCursor,
    RollupMark,
    RollupPublication,
)
from analytics.rules import local_day, ranked_contacts_sql, rules_for
from campaigns.models import LinkClick, Moment, PublishTask, Variant
from staff.models import AssociateDepartment, Contact, ContactTag, Department

ASSOCIATE_DAY, DEPARTMENT_DAY, CAMPAIGN = "associate_day", "department_day", "campaign"
STATS = (ASSOCIATE_DAY, DEPARTMENT_DAY, CAMPAIGN)
FACTS = {"deliveries": Delivery, "engagements": Engagement, "clicks": LinkClick}
COUNTS = ("deliveries", "customers", "cap_loss", "verification_loss", "likes", "comments", "clicks")
PAIR_COUNTS = ("deliveries", "cap_loss", "verification_loss", "likes", "comments", "clicks")
HORIZON, FLOOR = "horizon:", "floor:"  # RollupCursor names: the run's last ids, and what every bucket counted


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- marks ---------------------------------------------------------------------------------------
def mark(*, days=(), campaign_ids=(), rebuild: bool = False) -> None:
    """Buckets whose facts changed: call inside the transaction that changed them. Facts
    added (ingest, clicks, publications): the run adds them; ``rebuild``: facts changed in
    place, the run recomputes those buckets whole."""
    buckets = [(stat, day.isoformat(), rebuild) for day in set(days) for stat in (ASSOCIATE_DAY, DEPARTMENT_DAY)]
    buckets += [(CAMPAIGN, str(pk), rebuild) for pk in set(campaign_ids) if pk is not None]
    if not buckets:
        return
    table = _table(RollupMark)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (stat, bucket, generation, rebuild) VALUES (%s, %s, 1, %s) "
            f"ON CONFLICT (stat, bucket) DO UPDATE SET generation = {table}.generation + 1, "
            f"rebuild = ({table}.rebuild OR excluded.rebuild)",
            buckets,
        )


def mark_everything() -> int:
    """Mark every day and campaign that has facts or tasks for a rebuild by the next refresh."""
    days = set(Delivery.objects.values_list("day", flat=True).distinct())
    days |= set(Engagement.objects.values_list("day", flat=True).distinct())
    days |= set(LinkClick.objects.values_list("day", flat=True).distinct())
    # the losses of what was published: the local days of the publications (a day either side
    # of the server's date, for a rules time zone other than the server's)
    published = PublishTask.objects.filter(state=PublishTask.State.PUBLISHED, published_at__isnull=False)
    for day in published.annotate(on=TruncDate("published_at")).values_list("on", flat=True).distinct():
        days |= {day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)}
    campaigns = set(
        Moment.objects.filter(pk__in=Delivery.objects.values("moment_id")).values_list("campaign_id", flat=True)
    )
    campaigns |= set(PublishTask.objects.values_list("moment__campaign_id", flat=True).distinct())
    with transaction.atomic():
        mark(days=days, campaign_ids=campaigns, rebuild=True)
    return len(days) * 2 + len(campaigns)


def live_campaigns_mark(*, now: dt.datetime | None = None) -> int:
    """Tasks change state (notified, opened, publish requested) in flows that know nothing
    of the roll-ups: mark the campaigns being dispatched, live, or closed within results
    sync's ``AFTER_CLOSE``, so each run refreshes their funnel (one GROUP BY over a
    campaign's tasks; their facts by increment, nothing when nothing came)."""
    from django.db.models import Q
    from django.utils import timezone

    from analytics.sync import AFTER_CLOSE
    from campaigns.models import State

    now = now or timezone.now()
    active = Q(state__in=[State.DISPATCHING, State.LIVE]) | Q(state=State.CLOSED, expires_at__gte=now - AFTER_CLOSE)
    campaigns = set(Moment.objects.filter(active).values_list("campaign_id", flat=True).distinct())
    if campaigns:
        with transaction.atomic():
            mark(campaign_ids=campaigns)
    return len(campaigns)


def clicks_mark(*, upto: int | None = None) -> int:
    """CTA clicks are recorded by the campaigns app (``/go/<code>``), which knows nothing of
    the roll-ups: mark the days and campaigns of the clicks recorded since the last run
    (a cursor on the click id, moved in the same transaction as the marks), up to ``upto``
    (the run's horizon; by default the last click id, read as the horizon is)."""
    if upto is None:
        upto = _last_id("clicks")
    with transaction.atomic():
        RollupCursor.objects.get_or_create(name="clicks")
        cursor_row = RollupCursor.objects.select_for_update().get(name="clicks")
        seen = LinkClick.objects.filter(pk__gt=cursor_row.position, pk__lte=upto)
        if cursor_row.position >= upto or not seen.exists():
            return 0
        days = set(seen.values_list("day", flat=True).distinct())
        campaigns = set(seen.values_list("campaign_id", flat=True).distinct())
        mark(days=days, campaign_ids=campaigns)
        RollupCursor.objects.filter(pk=cursor_row.pk).update(position=upto)
        return len(days) + len(campaigns)


def publication_days_mark(*, low: int, high: int) -> int:
    """A day's losses look at the deliveries of its published moments whatever day they are
    dated (a post created at 23:50 is confirmed, so published, after midnight): mark the
    publication day of tasks whose deliveries in (low, high] are dated another day. Reads
    the new rows only (by id), and marks what it found; returns how many days."""
    delivery, task = _table(Delivery), _table(PublishTask)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT t.published_at, p.day FROM (SELECT DISTINCT moment_id, associate_id, day "
            f"FROM {delivery} WHERE id > %s AND id <= %s) p JOIN {task} t ON t.moment_id = p.moment_id "
            f"AND t.associate_id = p.associate_id AND t.state = 'published' AND t.published_at IS NOT NULL",
            [low, high],
        )
        found = cursor.fetchall()
    published = {_aware(at) for at, day in found}
    days = {(_aware(at), dt.date.fromisoformat(str(day))) for at, day in found}
    rules: dict[dt.date, object] = {}  # one rules lookup per date, not per task
    for at in published:
        if at.date() not in rules:
            rules[at.date()] = local_day(at)[1].zone
    other = {
        at.astimezone(rules[at.date()]).date() for at, day in days if at.astimezone(rules[at.date()]).date() != day
    }
    if other:
        with transaction.atomic():
            mark(days=other)
    return len(other)


def _aware(value) -> dt.datetime:
    """A timestamp from a raw cursor (SQLite gives text, in UTC)."""
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


# --- horizon and floor ---------------------------------------------------------------------------
def _last_id(kind: str) -> int:
    """The last id of a fact table, with no insert in flight below it: on PostgreSQL a SHARE
    lock waits for the transactions inserting into it (ids are drawn when the INSERT runs,
    which holds ROW EXCLUSIVE until commit) and holds new ones back for one index read;
    SQLite has a single writer, whose ids are above every committed one."""
    model = FACTS[kind]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {_table(model)} IN SHARE MODE")
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_table(model)}")
        return cursor.fetchone()[0]


def _positions(prefix: str) -> dict[str, int]:
    found = dict(RollupCursor.objects.filter(name__startswith=prefix).values_list("name", "position"))
    return {kind: found.get(prefix + kind, 0) for kind in FACTS}


def _positions_set(prefix: str, positions: dict[str, int]) -> None:
    for kind, position in positions.items():
        RollupCursor.objects.update_or_create(name=prefix + kind, defaults={"position": position})


# --- shared pieces -------------------------------------------------------------------------------
def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = rules_for(day).zone
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _within_sql() -> str:
    """(associate, department) for every department whose subtree holds the associate."""
    membership, department = _table(AssociateDepartment), _table(Department)
    return (
        f"SELECT DISTINCT ad.associate_id, top.id AS department_id FROM {membership} ad "
        f"JOIN {department} dd ON dd.id = ad.department_id JOIN {department} top ON dd.path LIKE top.path || '%%'"
    )


def _temporary(cursor, name: str, select: str, params=(), index: str = "") -> None:
    """A temporary table of this bucket's transaction (dropped by ``_drop`` before it commits)."""
    cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {select}", list(params))
    if index:
        cursor.execute(f"CREATE INDEX {name}_key ON {name} ({index})")
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {name}")


def _drop(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _upsert(cursor, model, keys, columns, select: str, params, *, add: bool, every=COUNTS) -> None:
    """INSERT the rows of ``select`` (keys, then ``columns``; the rest of ``every`` 0) into
    ``model``'s table; on a key already there, add the columns to it (``add``) or overwrite them."""
    target = _table(model)
    names = [f"v{i}" for i in range(len(keys) + len(columns))]
    values = names[: len(keys)] + [names[len(keys) + columns.index(c)] if c in columns else "0" for c in every]
    if add:
        updates = ", ".join(f"{c} = {target}.{c} + excluded.{c}" for c in columns)
    else:
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    # "WHERE 1 = 1": SQLite's parser needs a WHERE before ON CONFLICT in INSERT … SELECT.
    cursor.execute(
        f"INSERT INTO {target} ({', '.join((*keys, *every))}) WITH batch ({', '.join(names)}) AS ({select}) "
        f"SELECT {', '.join(values)} FROM batch WHERE 1 = 1 ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
        list(params),
    )


def _zeros_delete(cursor, model, where: str, params) -> None:
    """Rows left with nothing to say (a loss gone, say): a rebuild would not have them."""
    empty = " AND ".join(f"{name} = 0" for name in COUNTS)
    cursor.execute(f"DELETE FROM {_table(model)} WHERE {where} AND {empty}", list(params))


# --- associate days ------------------------------------------------------------------------------
def associate_day_compute(day: dt.date, since: dict[str, int] | None = None, upto: dict[str, int] | None = None):
    """The day's associate days: the facts above ``since`` (None: a rebuild from nothing)
    up to ``upto`` (None: every fact) added to them, the day's losses recomputed."""
    upto = upto or dict.fromkeys(FACTS, 2**62)
    delivery, moment, engagement, click = _table(Delivery), _table(Moment), _table(Engagement), _table(LinkClick)
    target = _table(AssociateDay)
    keys = ("day", "associate_id", "campaign_id")
    with connection.cursor() as cursor:
        rebuild = since is None
        if rebuild:
            cursor.execute(f"DELETE FROM {target} WHERE day = %s", [day])
            since = dict.fromkeys(FACTS, 0)
        low, high = since["deliveries"], upto["deliveries"]
        # a customer counts for (associate, day, campaign) once: not if a row already counted has them
        _upsert(cursor, AssociateDay, keys, ("deliveries", "customers"), f"""
            SELECT %s, n.associate_id, n.campaign_id, COUNT(*),
                   COUNT(DISTINCT CASE WHEN n.counted = 0 THEN n.customer_id END)
            FROM (SELECT d.associate_id, d.customer_id, m.campaign_id,
                         CASE WHEN EXISTS (SELECT 1 FROM {delivery} o JOIN {moment} mo ON mo.id = o.moment_id
                                           WHERE o.associate_id = d.associate_id AND o.customer_id = d.customer_id
                                             AND o.day = d.day AND o.id <= %s AND mo.campaign_id = m.campaign_id)
                              THEN 1 ELSE 0 END AS counted
                  FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id
                  WHERE d.day = %s AND d.id > %s AND d.id <= %s) n
            GROUP BY n.associate_id, n.campaign_id
        """, [day, low, day, low, high], add=True)  # fmt: skip
        _upsert(cursor, AssociateDay, keys, ("likes", "comments"), f"""
            SELECT %s, e.associate_id, m.campaign_id,
                   SUM(CASE WHEN e.kind = {Engagement.Kind.LIKE} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN e.kind = {Engagement.Kind.COMMENT} THEN 1 ELSE 0 END)
            FROM {engagement} e JOIN {moment} m ON m.id = e.moment_id
            WHERE e.day = %s AND e.id > %s AND e.id <= %s GROUP BY e.associate_id, m.campaign_id
        """, [day, day, since["engagements"], upto["engagements"]], add=True)  # fmt: skip
        _upsert(cursor, AssociateDay, keys, ("clicks",), f"""
            SELECT %s, c.associate_id, c.campaign_id, COUNT(*) FROM {click} c
            WHERE c.day = %s AND c.id > %s AND c.id <= %s AND c.associate_id IS NOT NULL
            GROUP BY c.associate_id, c.campaign_id
        """, [day, day, since["clicks"], upto["clicks"]], add=True)  # fmt: skip
        _losers_find(cursor, day, None if rebuild else low, high)
        cursor.execute(f"UPDATE {target} SET cap_loss = 0, verification_loss = 0 WHERE day = %s "
                       f"AND associate_id IN (SELECT associate_id FROM ru_losers)", [day])  # fmt: skip
        losses_sql, losses_params = _losses_sql(day, high)
        _upsert(cursor, AssociateDay, keys, ("cap_loss", "verification_loss"), losses_sql, losses_params, add=False)
        _zeros_delete(cursor, AssociateDay, "day = %s", [day])
        _publications_keep(cursor, day)
        _drop(cursor, "ru_losers", "ru_published")


def _losers_find(cursor, day: dt.date, low: int | None, high: int) -> None:
    """``ru_published``: the day's published tasks (id, associate); ``ru_losers``: the
    associates whose losses that day may have changed since the bucket counted up to
    ``low`` (None: a rebuild, every publisher). A day's losses of an associate read only
    their tasks published that day, their contacts, and their deliveries: they change with a
    publication (the day's set of tasks differs from the one stored in ``RollupPublication``)
    or a new delivery row of theirs (any day: a moment's deliveries may be dated another day)."""
    start, end = _day_bounds(day)
    task, delivery, stored = _table(PublishTask), _table(Delivery), _table(RollupPublication)
    _temporary(cursor, "ru_published", f"""
        SELECT t.id AS task_id, t.associate_id FROM {task} t
        WHERE t.state = 'published' AND t.published_at >= %s AND t.published_at < %s
    """, [start, end], index="associate_id")  # fmt: skip
    if low is None:
        _temporary(cursor, "ru_losers", "SELECT DISTINCT associate_id FROM ru_published", index="associate_id")
        return
    _temporary(cursor, "ru_losers", f"""
        SELECT p.associate_id FROM ru_published p WHERE NOT EXISTS (
            SELECT 1 FROM {stored} s WHERE s.day = %s AND s.task_id = p.task_id AND s.associate_id = p.associate_id)
        UNION SELECT s.associate_id FROM {stored} s WHERE s.day = %s AND NOT EXISTS (
            SELECT 1 FROM ru_published p WHERE p.task_id = s.task_id AND p.associate_id = s.associate_id)
        UNION SELECT d.associate_id FROM {delivery} d WHERE d.id > %s AND d.id <= %s
            AND d.associate_id IN (SELECT associate_id FROM ru_published)
    """, [day, day, low, high], index="associate_id")  # fmt: skip


def _publications_keep(cursor, day: dt.date) -> None:
    """The day's published tasks, as the losses just computed saw them."""
    stored = _table(RollupPublication)
    same = f"p.task_id = {stored}.task_id AND p.associate_id = {stored}.associate_id"
    cursor.execute(f"DELETE FROM {stored} WHERE day = %s AND NOT EXISTS (SELECT 1 FROM ru_published p "
                   f"WHERE {same})", [day])  # fmt: skip
    cursor.execute(f"INSERT INTO {stored} (day, task_id, associate_id) SELECT %s, p.task_id, p.associate_id "
                   f"FROM ru_published p WHERE NOT EXISTS (SELECT 1 FROM {stored} s WHERE s.day = %s "
                   f"AND s.task_id = p.task_id AND s.associate_id = p.associate_id)", [day, day])  # fmt: skip


def _losses_sql(day: dt.date, high: int) -> tuple[str, list]:
    """Per (associate, campaign): the day's cap and verification loss (see the module's
    docstring), over the deliveries up to id ``high``, for the associates in ``ru_losers``."""
    rules = rules_for(day)
    start, end = _day_bounds(day)
    delivery, moment, task, variant = _table(Delivery), _table(Moment), _table(PublishTask), _table(Variant)
    contact_tag, audience_tag = _table(ContactTag), _table(Variant.audience_tags.through)
    sql = f"""
        WITH task AS (
            SELECT t.variant_id, t.moment_id, t.associate_id, m.campaign_id, v.audience_all
            FROM {task} t JOIN {moment} m ON m.id = t.moment_id JOIN {variant} v ON v.id = t.variant_id
            WHERE t.state = 'published' AND t.published_at >= %s AND t.published_at < %s
              AND t.associate_id IN (SELECT associate_id FROM ru_losers)
        ),
        ranked_contact AS ({ranked_contacts_sql("SELECT associate_id FROM task")}),
        missed AS (
            SELECT t.associate_id, t.campaign_id, rc.customer_id, rc.n
            FROM task t JOIN ranked_contact rc ON rc.associate_id = t.associate_id
            WHERE (t.audience_all OR EXISTS (
                    SELECT 1 FROM {contact_tag} ct JOIN {audience_tag} vt ON vt.customertag_id = ct.tag_id
                    WHERE vt.variant_id = t.variant_id AND ct.contact_id = rc.id))
              AND NOT EXISTS (SELECT 1 FROM {delivery} d WHERE d.moment_id = t.moment_id
                              AND d.associate_id = t.associate_id AND d.customer_id = rc.customer_id AND d.id <= %s)
        )
        SELECT %s, associate_id, campaign_id,
               SUM(CASE WHEN n <= %s AND (SELECT COUNT(*) FROM {delivery} d
                        WHERE d.associate_id = missed.associate_id AND d.customer_id = missed.customer_id
                          AND d.day = %s AND d.id <= %s) >= %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN n > %s THEN 1 ELSE 0 END)
        FROM missed GROUP BY associate_id, campaign_id
    """
    limit = rules.unverified_reach_limit
    return sql, [start, end, high, day, limit, day, high, rules.feed_cap, limit]


# --- department days -----------------------------------------------------------------------------
def department_day_compute(day: dt.date, since: dict[str, int] | None = None, upto: dict[str, int] | None = None):
    """Each department's subtree: pair counts summed over its associates' days (each once,
    even with two memberships in the subtree), customers distinct over the subtree's
    deliveries — the new rows' customers not already counted for the subtree that day."""
    upto = upto or dict.fromkeys(FACTS, 2**62)
    delivery, moment, source, target = _table(Delivery), _table(Moment), _table(AssociateDay), _table(DepartmentDay)
    keys = ("day", "department_id", "campaign_id")
    with connection.cursor() as cursor:
        if since is None:
            cursor.execute(f"DELETE FROM {target} WHERE day = %s", [day])
            since = dict.fromkeys(FACTS, 0)
        low, high = since["deliveries"], upto["deliveries"]
        _temporary(cursor, "ru_within", _within_sql(), index="associate_id, department_id")
        # the subtrees that had already counted each new row's customer that day (one look per customer)
        _temporary(cursor, "ru_new", f"""
            SELECT DISTINCT w.department_id, d.customer_id, m.campaign_id
            FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id JOIN ru_within w ON w.associate_id = d.associate_id
            WHERE d.day = %s AND d.id > %s AND d.id <= %s
        """, [day, low, high])  # fmt: skip
        _temporary(cursor, "ru_old", f"""
            SELECT DISTINCT w.department_id, o.customer_id, mo.campaign_id
            FROM (SELECT DISTINCT customer_id FROM ru_new) c JOIN {delivery} o ON o.customer_id = c.customer_id
            JOIN {moment} mo ON mo.id = o.moment_id JOIN ru_within w ON w.associate_id = o.associate_id
            WHERE o.day = %s AND o.id <= %s
        """, [day, low])  # fmt: skip
        _upsert(cursor, DepartmentDay, keys, ("customers",), """
            SELECT %s, n.department_id, n.campaign_id, COUNT(*) FROM ru_new n
            WHERE NOT EXISTS (SELECT 1 FROM ru_old o WHERE o.department_id = n.department_id
                              AND o.customer_id = n.customer_id AND o.campaign_id = n.campaign_id)
            GROUP BY n.department_id, n.campaign_id
        """, [day], add=True)  # fmt: skip
        cursor.execute(f"UPDATE {target} SET {', '.join(f'{c} = 0' for c in PAIR_COUNTS)} WHERE day = %s", [day])
        sums = ", ".join(f"SUM(s.{c})" for c in PAIR_COUNTS)
        _upsert(cursor, DepartmentDay, keys, PAIR_COUNTS, f"""
            SELECT %s, w.department_id, s.campaign_id, {sums}
            FROM {source} s JOIN ru_within w ON w.associate_id = s.associate_id
            WHERE s.day = %s GROUP BY w.department_id, s.campaign_id
        """, [day, day], add=False)  # fmt: skip
        _zeros_delete(cursor, DepartmentDay, "day = %s", [day])
        _drop(cursor, "ru_old", "ru_new", "ru_within")


# --- campaigns -----------------------------------------------------------------------------------
def campaign_compute(campaign_id: int, since: dict[str, int] | None = None, upto: dict[str, int] | None = None):
    """The campaign's reach (``CampaignCustomer``, each subtree's first days), the funnel and
    results per associate, and its totals."""
    upto = upto or dict.fromkeys(FACTS, 2**62)
    rebuild = since is None
    if rebuild:
        CampaignCustomer.objects.filter(campaign_id=campaign_id).delete()
        DepartmentReach.objects.filter(campaign_id=campaign_id, day__isnull=False).delete()
        since = dict.fromkeys(FACTS, 0)
    added = _reach_add(campaign_id, since["deliveries"], upto["deliveries"])
    changed = campaign_associates_compute(campaign_id)
    totals = CampaignAssociate.objects.filter(campaign_id=campaign_id)
    sums = dict.fromkeys(("deliveries", "cap_loss", "verification_loss", "likes", "comments"), 0)
    for row in totals.values(*sums):
        for name in sums:
            sums[name] += row[name]
    reach, _ = CampaignReach.objects.get_or_create(campaign_id=campaign_id)
    # every click of the campaign, also those on an enterprise moment's link (no associate)
    clicks = LinkClick.objects.filter(campaign_id=campaign_id, pk__gt=since["clicks"], pk__lte=upto["clicks"]).count()
    values = {**sums, "clicks": (0 if rebuild else reach.clicks) + clicks,
              "customers": (0 if rebuild else reach.customers) + added}  # fmt: skip
    if rebuild or changed:
        tasked = PublishTask.objects.filter(moment__campaign_id=campaign_id).values("associate_id")
        values["contacts"] = (
            Contact.objects.filter(is_active=True, associate_id__in=tasked).values("customer_id").distinct().count()
        )
        department_base_compute(campaign_id)
    CampaignReach.objects.filter(pk=reach.pk).update(**values)


def _reach_add(campaign_id: int, low: int, high: int) -> int:
    """The campaign's deliveries in (low, high] into ``CampaignCustomer`` and each subtree's
    first days (``DepartmentReach``); returns how many customers the campaign reached first."""
    delivery, moment, customers, reach = (
        _table(Delivery),
        _table(Moment),
        _table(CampaignCustomer),
        _table(DepartmentReach),
    )
    with connection.cursor() as cursor:
        _temporary(cursor, "ru_within", _within_sql(), index="associate_id, department_id")
        # the batch per customer, and whether the campaign had reached them before it
        _temporary(cursor, "ru_customer", f"""
            SELECT d.customer_id, MIN(d.day) AS first_day, COUNT(*) AS n,
                   CASE WHEN EXISTS (SELECT 1 FROM {customers} cc WHERE cc.campaign_id = %s
                                     AND cc.customer_id = d.customer_id) THEN 1 ELSE 0 END AS known
            FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id
            WHERE m.campaign_id = %s AND d.id > %s AND d.id <= %s GROUP BY d.customer_id
        """, [campaign_id, campaign_id, low, high], index="customer_id")  # fmt: skip
        # each subtree's first day of each customer in the batch; for a customer known before, the first
        # day the subtree had counted (the rows up to ``low``), NULL if it had not reached them
        _temporary(cursor, "ru_first", f"""
            SELECT w.department_id, d.customer_id, MIN(d.day) AS first_day
            FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id JOIN ru_within w ON w.associate_id = d.associate_id
            WHERE m.campaign_id = %s AND d.id > %s AND d.id <= %s GROUP BY w.department_id, d.customer_id
        """, [campaign_id, low, high])  # fmt: skip
        # what each subtree had counted of the customers known before (one pass over their rows)
        _temporary(cursor, "ru_old", f"""
            SELECT w.department_id, o.customer_id, MIN(o.day) AS was
            FROM ru_customer c JOIN {delivery} o ON o.customer_id = c.customer_id
            JOIN {moment} mo ON mo.id = o.moment_id JOIN ru_within w ON w.associate_id = o.associate_id
            WHERE c.known = 1 AND o.id <= %s AND mo.campaign_id = %s GROUP BY w.department_id, o.customer_id
        """, [low, campaign_id])  # fmt: skip
        _temporary(cursor, "ru_was", """
            SELECT f.department_id, f.first_day, o.was
            FROM ru_first f JOIN ru_customer c ON c.customer_id = f.customer_id AND c.known = 1
            LEFT JOIN ru_old o ON o.department_id = f.department_id AND o.customer_id = f.customer_id
        """)  # fmt: skip
        # a customer new to a subtree counts on their first day; one reached earlier than the
        # subtree had counted them moves from that day to the earlier one
        _upsert(cursor, DepartmentReach, ("department_id", "campaign_id", "day"), ("customers",), """
            SELECT department_id, %s, day, SUM(n) FROM (
                SELECT f.department_id, f.first_day AS day, 1 AS n FROM ru_first f
                JOIN ru_customer c ON c.customer_id = f.customer_id AND c.known = 0
                UNION ALL SELECT department_id, first_day, 1 FROM ru_was WHERE was IS NULL OR first_day < was
            ) moves GROUP BY department_id, day
        """, [campaign_id], add=True, every=("customers",))  # fmt: skip
        # (an UPDATE: PostgreSQL checks a row's constraints, customers ≥ 0, before ON CONFLICT)
        moved = (f"FROM ru_was w WHERE w.department_id = {reach}.department_id AND w.was = {reach}.day "
                 f"AND w.first_day < w.was")  # fmt: skip
        cursor.execute(f"UPDATE {reach} SET customers = customers - (SELECT COUNT(*) {moved}) "
                       f"WHERE campaign_id = %s AND day IS NOT NULL AND EXISTS (SELECT 1 {moved})",
                       [campaign_id])  # fmt: skip
        cursor.execute(f"DELETE FROM {reach} WHERE campaign_id = %s AND day IS NOT NULL AND customers = 0",
                       [campaign_id])  # fmt: skip
        earlier = f"excluded.first_day < {customers}.first_day"
        first = f"CASE WHEN {earlier} THEN excluded.first_day ELSE {customers}.first_day END"
        cursor.execute(
            f"INSERT INTO {customers} (campaign_id, customer_id, first_day, deliveries) "
            f"SELECT %s, customer_id, first_day, n FROM ru_customer WHERE 1 = 1 "
            f"ON CONFLICT (campaign_id, customer_id) DO UPDATE SET first_day = {first}, "
            f"deliveries = {customers}.deliveries + excluded.deliveries",
            [campaign_id],
        )
        cursor.execute("SELECT COUNT(*) FROM ru_customer WHERE known = 0")
        added = cursor.fetchone()[0]
        _drop(cursor, "ru_was", "ru_old", "ru_first", "ru_customer", "ru_within")
    return added


def campaign_associates_compute(campaign_id: int) -> bool:
    """Per associate of the campaign: the funnel of their tasks and their results summed
    over the days. Returns whether the campaign's tasks changed in number (its base, the
    contacts of the tasked associates, is then recomputed)."""
    from analytics.selectors import funnel_counts

    rows = CampaignAssociate.objects.filter(campaign_id=campaign_id)
    assigned_before = sum(rows.values_list("assigned", flat=True))
    funnel = {
        row.pop("associate_id"): row
        for row in PublishTask.objects.filter(moment__campaign_id=campaign_id)
        .order_by()
        .values("associate_id")
        .annotate(assigned=Count("pk"), **funnel_counts())
    }
    sums = {
        row.pop("associate_id"): row
        for row in AssociateDay.objects.filter(campaign_id=campaign_id)
        .order_by()
        .values("associate_id")
        .annotate(**{name: Sum(name) for name in PAIR_COUNTS})
    }
    rows.delete()
    CampaignAssociate.objects.bulk_create(
        [
            CampaignAssociate(campaign_id=campaign_id, associate_id=pk, **funnel.get(pk, {}), **sums.get(pk, {}))
            for pk in sorted(set(funnel) | set(sums))
        ],
        batch_size=2000,
    )
    return sum(row["assigned"] for row in funnel.values()) != assigned_before


def department_base_compute(campaign_id: int) -> None:
    """Each department subtree's base (the ``DepartmentReach`` row with ``day`` NULL):
    distinct customers among the active contacts of its associates given a task."""
    moment, task, contact = _table(Moment), _table(PublishTask), _table(Contact)
    target, within = _table(DepartmentReach), _within_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {target} WHERE campaign_id = %s AND day IS NULL", [campaign_id])
        cursor.execute(
            f"""
            INSERT INTO {target} (department_id, campaign_id, day, customers)
            WITH within AS ({within})
            SELECT w.department_id, %s, NULL, COUNT(DISTINCT c.customer_id)
            FROM {contact} c JOIN within w ON w.associate_id = c.associate_id
            WHERE c.is_active AND c.associate_id IN (
                SELECT t.associate_id FROM {task} t JOIN {moment} m ON m.id = t.moment_id WHERE m.campaign_id = %s)
            GROUP BY w.department_id
            """,
            [campaign_id, campaign_id],
        )


# --- the run -------------------------------------------------------------------------------------
def _compute(stat: str, bucket: str) -> None:
    """Bring one bucket up to the run's horizon (call inside its transaction)."""
    upto, floor = _positions(HORIZON), _positions(FLOOR)
    state = RollupBucket.objects.filter(stat=stat, bucket=bucket).values(*FACTS).first()
    since = None
    if not RollupMark.objects.filter(stat=stat, bucket=bucket, rebuild=True).exists():
        since = {kind: max(floor[kind], (state or {}).get(kind, 0)) for kind in FACTS}
    if stat == ASSOCIATE_DAY:
        associate_day_compute(dt.date.fromisoformat(bucket), since, upto)
    elif stat == DEPARTMENT_DAY:
        department_day_compute(dt.date.fromisoformat(bucket), since, upto)
    else:
        campaign_compute(int(bucket), since, upto)
    RollupBucket.objects.update_or_create(stat=stat, bucket=bucket, defaults=upto)


def rollups_refresh(*, progress: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Bring every marked bucket up to date, stat by stat; returns how many per stat."""
    done = dict.fromkeys(STATS, 0)
    horizon = {kind: _last_id(kind) for kind in FACTS}  # read before the marks: theirs are committed
    _positions_set(HORIZON, horizon)
    clicks_mark(upto=horizon["clicks"])
    live_campaigns_mark()
    publication_days_mark(low=_positions(FLOOR)["deliveries"], high=horizon["deliveries"])
    for stat in STATS:
        marks = list(RollupMark.objects.filter(stat=stat).order_by("bucket").values_list("pk", "bucket", "generation"))
        for pk, bucket, generation in marks:
            with transaction.atomic():
                _compute(stat, bucket)
                RollupMark.objects.filter(pk=pk, generation=generation).delete()
            done[stat] += 1
            if progress:
                progress(stat, bucket)
    # Every bucket with facts up to the horizon was marked by them and has now counted them.
    _positions_set(FLOOR, horizon)
    return done
