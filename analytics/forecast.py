"""The reach forecast (DESIGN.md §4, §5.2): what the platform's rules will let the
customers see of planned moments, before they are scheduled.

It applies the rules exactly as §4 defines them, and as the sandbox applies them when
members publish:

- each targeted associate publishes each planned variant at its moment's time, in
  publication order (the time, then the moment, then the variant's position);
- the variant's audience among the associate's active contacts: all, or those carrying
  one of its customer tags;
- reachable: all contacts of a verified associate, else the ``unverified reach limit``
  earliest-added (by added time, then the customer's external_userid: ``rules.boundary_order_sql``);
- the feed cap: per (associate, customer, local day) at most ``feed cap`` moments, the
  first published win; deliveries already in the feed that day (results sync's, our own
  moments' and associates' personal posts alike) were first;
- other campaigns' approved and scheduled moments on the same days are planned too and
  take their slots in publication order;
- only what can be published counts: a moment without a publishable minute between its first
  notification and its expiry (an associate-shared moment planned in the quiet hours that
  expires before they end; ``campaigns.planning.moment_can_be_published``) delivers nothing and
  takes no slot, its audience reported as ``unpublishable``;
- overlapping variants of one moment each deliver: a customer in two variants' audiences takes two
  slots, reported as ``variant_overlap``.

All of it is set-based SQL (window functions over temporary tables), the same text on
SQLite and PostgreSQL: one row per planned (variant, associate, customer) is decided in
the database, never in a Python loop over contacts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from django.db import connection, transaction

from analytics.models import Delivery, ForecastAssociateDay, ForecastSnapshot, Post
from analytics.rules import Rules, local_day, ranked_contacts_sql
from campaigns.models import Moment, PublishTask, State, Variant
from campaigns.planning import moment_can_be_published
from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Department

DELIVERED, CAPPED, UNREACHABLE, MONTHLY_CAPPED, UNPUBLISHABLE = 0, 1, 2, 3, 4
OTHER_PLANNED_STATES = (State.APPROVED, State.SCHEDULED, State.DISPATCHING, State.LIVE)
TOP_ASSOCIATE_DAYS = 50


@dataclass(frozen=True)
class Planned:
    """A variant planned for one local day: every targeted associate posts it."""

    slot: int  # publication order
    variant: Variant
    day: dt.date
    rules: Rules
    ours: bool  # forecast here (else another campaign's moment, planned on the same day)
    publishable: bool = True  # False: nobody can publish it in time (campaigns.planning)


@dataclass
class VariantDay:
    variant_id: int
    moment_id: int
    day: dt.date
    associates: int = 0
    audience: int = 0  # distinct customers in the audience
    audience_contacts: int = 0  # (associate, customer) pairs
    deliveries: int = 0
    reach: int = 0  # distinct customers delivered
    cap_loss: int = 0  # pairs hidden by the feed cap
    verification_loss: int = 0  # pairs beyond an unverified associate's reach
    monthly_cap_loss: int = 0  # pairs hidden by the enterprise monthly cap (when the rules turn it on)
    unpublishable: int = 0  # pairs lost because nobody can publish the moment in time (quiet hours vs expiry)


@dataclass
class Collision:
    """Customers of ``variant_id`` hidden by the feed cap because ``moment_id`` (None:
    associates' personal posts) took their slots first."""

    variant_id: int
    day: dt.date
    moment_id: int | None
    planned: bool  # a planned moment (else a delivery already in the feed)
    customers: int
    associates: int


@dataclass
class Forecast:
    variants: list[VariantDay] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    cap_loss_by_associate_day: list[dict] = field(default_factory=list)  # the worst first
    verification: list[dict] = field(default_factory=list)  # per unverified associate: customers lost
    reach: int = 0  # campaign reach: distinct customers with at least one delivery
    contacts: int = 0  # distinct customers among the targeted associates' contacts
    duplicate_exposure: int = 0  # customers reached through two or more associates
    variant_overlap: int = 0  # customers delivered two or more variants of one moment (two feed slots)
    unpublishable_moments: list[int] = field(default_factory=list)  # ours that nobody can publish in time
    verify_accounts: int = 0  # "verify these N accounts …
    verify_gain: int = 0  # … to reach M more customers"

    @property
    def deliveries(self) -> int:
        return sum(v.deliveries for v in self.variants)

    @property
    def cap_loss(self) -> int:
        return sum(v.cap_loss for v in self.variants)

    @property
    def monthly_cap_loss(self) -> int:
        return sum(v.monthly_cap_loss for v in self.variants)

    @property
    def verification_loss(self) -> int:
        return sum(v.verification_loss for v in self.variants)

    @property
    def unpublishable(self) -> int:
        return sum(v.unpublishable for v in self.variants)

    @property
    def reach_rate(self) -> float:
        return self.reach / self.contacts if self.contacts else 0.0


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def planned_for(moments: list[Moment]) -> list[Planned]:
    """The planned variants: ``moments``' own, then other campaigns' approved and
    scheduled moments on the same local days, all in publication order."""
    ours = {m.pk for m in moments}
    days: dict[int, tuple[dt.date, Rules]] = {m.pk: local_day(m.publish_at) for m in moments}
    if days:
        first = min(m.publish_at for m in moments) - dt.timedelta(days=1)
        last = max(m.publish_at for m in moments) + dt.timedelta(days=1)
        others = Moment.objects.filter(state__in=OTHER_PLANNED_STATES, publish_at__range=(first, last)).exclude(
            pk__in=ours
        )
        wanted = {day for day, _ in days.values()}
        for moment in others:
            day, rules = local_day(moment.publish_at)
            if day in wanted:
                days[moment.pk] = (day, rules)
    variants = (
        Variant.objects.filter(moment_id__in=days)
        .select_related("moment")
        .order_by("moment__publish_at", "moment_id", "position", "id")
    )
    return [
        Planned(slot=slot, variant=v, day=days[v.moment_id][0], rules=days[v.moment_id][1], ours=v.moment_id in ours,
                publishable=moment_can_be_published(v.moment))
        for slot, v in enumerate(variants)
    ]  # fmt: skip


# --- the SQL ------------------------------------------------------------------------------------
def _create_scratch(cursor) -> None:
    for statement in (
        "DROP TABLE IF EXISTS fc_sender",
        "DROP TABLE IF EXISTS fc_tag",
        "DROP TABLE IF EXISTS fc_row",
        "CREATE TEMPORARY TABLE fc_sender (slot INTEGER NOT NULL, variant_id INTEGER NOT NULL, "
        "moment_id INTEGER NOT NULL, ours INTEGER NOT NULL, associate_id INTEGER NOT NULL, day DATE NOT NULL, "
        "feed_cap INTEGER NOT NULL, reach_limit INTEGER NOT NULL, audience_all INTEGER NOT NULL, "
        "publishable INTEGER NOT NULL)",
        "CREATE TEMPORARY TABLE fc_tag (slot INTEGER NOT NULL, tag_id INTEGER NOT NULL)",
        "DROP TABLE IF EXISTS fc_month",
        "CREATE TEMPORARY TABLE fc_month (slot INTEGER NOT NULL, month DATE NOT NULL, month_end DATE NOT NULL, "
        "monthly_cap INTEGER NOT NULL, moment_order INTEGER NOT NULL)",
    ):
        cursor.execute(statement)


def _fill_senders(cursor, planned: list[Planned]) -> None:
    """One row per (planned variant, targeted active associate), INSERT … SELECT from the
    targeting tables: the variant's departments' subtrees and its named associates."""
    associate, membership, department = _table(Associate), _table(AssociateDepartment), _table(Department)
    named = _table(Variant.target_associates.through)
    departments = _table(Variant.target_departments.through)
    tags = _table(Variant.audience_tags.through)
    published = _table(PublishTask)
    for p in planned:
        v = p.variant
        # Another campaign's associates who already published it are in the feed as deliveries.
        done = "" if p.ours else (
            f" AND NOT EXISTS (SELECT 1 FROM {published} t WHERE t.variant_id = %s AND t.associate_id = a.id "
            f"AND t.state = 'published')"
        )  # fmt: skip
        cursor.execute(
            f"INSERT INTO fc_sender SELECT %s, %s, %s, %s, a.id, %s, %s, %s, %s, %s FROM {associate} a "
            f"WHERE a.is_active AND (a.id IN (SELECT n.associate_id FROM {named} n WHERE n.variant_id = %s) "
            f"OR a.id IN (SELECT m.associate_id FROM {membership} m JOIN {department} d ON d.id = m.department_id "
            f"JOIN {departments} vd ON vd.variant_id = %s JOIN {department} top ON top.id = vd.department_id "
            f"WHERE d.path LIKE top.path || '%%')){done}",
            [p.slot, v.pk, v.moment_id, int(p.ours), p.day, p.rules.feed_cap, p.rules.unverified_reach_limit,
             int(v.audience_all), int(p.publishable), v.pk, v.pk, *([] if p.ours else [v.pk])],
        )  # fmt: skip
        if not v.audience_all:
            cursor.execute(f"INSERT INTO fc_tag SELECT %s, customertag_id FROM {tags} WHERE variant_id = %s",
                           [p.slot, v.pk])  # fmt: skip


def _decide(cursor, our_moment_ids: list[int]) -> None:
    """fc_row: the outcome of every planned (variant, associate, customer)."""
    contact_tag, delivery = _table(ContactTag), _table(Delivery)
    ours = ", ".join(["%s"] * len(our_moment_ids)) or "NULL"
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE fc_row AS
        WITH ranked_contact AS ({ranked_contacts_sql("SELECT associate_id FROM fc_sender")}),
        candidate AS (
            SELECT s.slot, s.ours, s.associate_id, rc.customer_id, s.day, s.feed_cap, s.publishable,
                   CASE WHEN rc.n <= s.reach_limit THEN 1 ELSE 0 END AS reachable
            FROM fc_sender s JOIN ranked_contact rc ON rc.associate_id = s.associate_id
            WHERE s.audience_all = 1 OR EXISTS (
                SELECT 1 FROM {contact_tag} ct JOIN fc_tag ft ON ft.tag_id = ct.tag_id
                WHERE ft.slot = s.slot AND ct.contact_id = rc.id)
        ),
        used AS (
            SELECT d.associate_id, d.customer_id, d.day, COUNT(*) AS used
            FROM {delivery} d
            WHERE (d.moment_id IS NULL OR d.moment_id NOT IN ({ours}))
              AND EXISTS (SELECT 1 FROM fc_sender s WHERE s.associate_id = d.associate_id AND s.day = d.day)
            GROUP BY d.associate_id, d.customer_id, d.day
        ),
        ranked AS (
            SELECT candidate.*, ROW_NUMBER() OVER (
                PARTITION BY associate_id, customer_id, day, reachable, publishable ORDER BY slot) AS n
            FROM candidate
        )
        SELECT r.slot, r.ours, r.associate_id, r.customer_id, r.day,
               CASE WHEN r.publishable = 0 THEN {UNPUBLISHABLE}
                    WHEN r.reachable = 0 THEN {UNREACHABLE}
                    WHEN r.n + COALESCE(u.used, 0) <= r.feed_cap THEN {DELIVERED}
                    ELSE {CAPPED} END AS outcome
        FROM ranked r LEFT JOIN used u
          ON u.associate_id = r.associate_id AND u.customer_id = r.customer_id AND u.day = r.day
        """,
        our_moment_ids,
    )


def _monthly_cap(cursor, planned: list[Planned], our_moment_ids: list[int]) -> None:
    """The optional enterprise monthly cap (PlatformRules; off by default): a customer sees
    at most that many enterprise moments a calendar month, whoever posts them. The
    enterprise moments already delivered that month count first, then the planned ones in
    publication order; a delivery beyond the cap becomes MONTHLY_CAPPED. WeCom does not
    document how it meets the daily cap: a moment hidden by the monthly cap still took its
    daily slot here (the daily cap is decided first)."""
    first_slot: dict[int, int] = {}
    rows = []
    for p in planned:
        first_slot.setdefault(p.variant.moment_id, p.slot)
        cap = p.rules.enterprise_monthly_cap
        if cap and p.variant.moment.mode == Moment.Mode.ENTERPRISE:
            month = p.day.replace(day=1)
            month_end = (month + dt.timedelta(days=32)).replace(day=1)
            rows.append((p.slot, month, month_end, cap, first_slot[p.variant.moment_id]))
    if not rows:
        return
    cursor.executemany("INSERT INTO fc_month VALUES (%s, %s, %s, %s, %s)", rows)
    delivery, post = _table(Delivery), _table(Post)
    ours = ", ".join(["%s"] * len(our_moment_ids)) or "NULL"
    cursor.execute(
        f"""
        UPDATE fc_row SET outcome = {MONTHLY_CAPPED} WHERE EXISTS (
            SELECT 1 FROM (
                SELECT hit.slot, hit.associate_id, hit.customer_id
                FROM (
                    SELECT r.slot, r.associate_id, r.customer_id, m.month, m.monthly_cap,
                           DENSE_RANK() OVER (PARTITION BY r.customer_id, m.month ORDER BY m.moment_order) AS n
                    FROM fc_row r JOIN fc_month m ON m.slot = r.slot
                    WHERE r.outcome = {DELIVERED}
                ) hit
                LEFT JOIN (
                    SELECT d.customer_id, m.month, COUNT(DISTINCT d.post_id) AS seen
                    FROM (SELECT DISTINCT month, month_end FROM fc_month) m
                    JOIN {delivery} d ON d.day >= m.month AND d.day < m.month_end
                    JOIN {post} p ON p.id = d.post_id AND p.kind = {Post.Kind.ENTERPRISE}
                    WHERE (d.moment_id IS NULL OR d.moment_id NOT IN ({ours}))
                      AND d.customer_id IN (SELECT customer_id FROM fc_row)
                    GROUP BY d.customer_id, m.month
                ) before ON before.customer_id = hit.customer_id AND before.month = hit.month
                WHERE hit.n + COALESCE(before.seen, 0) > hit.monthly_cap
            ) over_cap
            WHERE over_cap.slot = fc_row.slot AND over_cap.associate_id = fc_row.associate_id
              AND over_cap.customer_id = fc_row.customer_id)
        """,
        our_moment_ids,
    )


def _analyze(cursor, *tables: str) -> None:
    """Statistics for the scratch tables (never analysed automatically): without them the
    planner guesses their sizes and picks nested loops over millions of rows."""
    for name in tables:
        cursor.execute(f"ANALYZE {name}")


def _drop_scratch(cursor) -> None:
    for name in ("fc_sender", "fc_tag", "fc_row", "fc_month"):
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _run(moments: list[Moment], read) -> object:
    planned = planned_for(moments)
    with transaction.atomic(), connection.cursor() as cursor:
        _create_scratch(cursor)
        try:
            _fill_senders(cursor, planned)
            _analyze(cursor, "fc_sender", "fc_tag")
            _decide(cursor, [m.pk for m in moments])
            _monthly_cap(cursor, planned, [m.pk for m in moments])
            _analyze(cursor, "fc_row")
            return read(cursor, planned)
        finally:
            _drop_scratch(cursor)


# --- answers -------------------------------------------------------------------------------------
def forecast_rows(moments: list[Moment]) -> list[tuple[int, int, int, dt.date, int]]:
    """Every planned (variant, associate, customer) of ``moments`` and its outcome:
    DELIVERED, CAPPED, UNREACHABLE, MONTHLY_CAPPED or UNPUBLISHABLE. For small worlds (tests, one customer's view)."""

    def read(cursor, planned):
        by_slot = {p.slot: p.variant.pk for p in planned}
        cursor.execute("SELECT slot, associate_id, customer_id, day, outcome FROM fc_row WHERE ours = 1")
        return [(by_slot[slot], a, c, _date(day), outcome) for slot, a, c, day, outcome in cursor.fetchall()]

    return _run(list(moments), read)


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def forecast_moments(moments: list[Moment]) -> Forecast:
    return _run(list(moments), _summary)


def forecast_campaign(campaign) -> Forecast:
    return forecast_moments(list(campaign.moments.exclude(state=State.CANCELLED)))


def forecast_snapshot_create(*, campaign, now=None, **stored) -> ForecastSnapshot:
    """Forecast ``campaign`` and keep the result (the whole forecast as JSON, and ``stored``: the plan it
    read, ``analytics.snapshots``): its totals and, per (associate, day), the
    planned deliveries and losses (one INSERT … SELECT from the decisions), which is what
    the dashboards compare with the actual results, in any manager's scope."""
    from django.utils import timezone

    def read(cursor, planned):
        forecast = _summary(cursor, planned)
        snapshot = ForecastSnapshot.objects.create(
            campaign=campaign, computed_at=now or timezone.now(), reach=forecast.reach, contacts=forecast.contacts,
            deliveries=forecast.deliveries, cap_loss=forecast.cap_loss,
            verification_loss=forecast.verification_loss, monthly_cap_loss=forecast.monthly_cap_loss,
            forecast=asdict(forecast), **stored,
        )  # fmt: skip
        cursor.execute(
            f"""INSERT INTO {_table(ForecastAssociateDay)}
                    (snapshot_id, associate_id, day, deliveries, cap_loss, verification_loss)
                SELECT %s, associate_id, day, SUM(CASE WHEN outcome = {DELIVERED} THEN 1 ELSE 0 END),
                       SUM(CASE WHEN outcome = {CAPPED} THEN 1 ELSE 0 END),
                       SUM(CASE WHEN outcome = {UNREACHABLE} THEN 1 ELSE 0 END)
                FROM fc_row WHERE ours = 1 GROUP BY associate_id, day""",
            [snapshot.pk],
        )
        return snapshot

    moments = list(campaign.moments.exclude(state=State.CANCELLED))
    snapshot = _run(moments, read)
    # Older snapshots of the campaign are of no further use to anyone.
    ForecastSnapshot.objects.filter(campaign=campaign).exclude(pk=snapshot.pk).delete()
    return snapshot


def _summary(cursor, planned: list[Planned]) -> Forecast:
    by_slot = {p.slot: p for p in planned}
    forecast = Forecast()
    cursor.execute(
        f"""SELECT slot, COUNT(DISTINCT associate_id), COUNT(DISTINCT customer_id), COUNT(*),
                   SUM(CASE WHEN outcome = {DELIVERED} THEN 1 ELSE 0 END),
                   COUNT(DISTINCT CASE WHEN outcome = {DELIVERED} THEN customer_id END),
                   SUM(CASE WHEN outcome = {CAPPED} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN outcome = {UNREACHABLE} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN outcome = {MONTHLY_CAPPED} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN outcome = {UNPUBLISHABLE} THEN 1 ELSE 0 END)
            FROM fc_row WHERE ours = 1 GROUP BY slot"""
    )
    counted = {row[0]: row[1:] for row in cursor.fetchall()}
    for p in planned:
        if not p.ours:
            continue
        line = VariantDay(variant_id=p.variant.pk, moment_id=p.variant.moment_id, day=p.day)
        if p.slot in counted:
            (line.associates, line.audience, line.audience_contacts, line.deliveries, line.reach, line.cap_loss,
             line.verification_loss, line.monthly_cap_loss, line.unpublishable) = (int(n or 0) for n in
                                                                                   counted[p.slot])  # fmt: skip
        forecast.variants.append(line)
        if not p.publishable and p.variant.moment_id not in forecast.unpublishable_moments:
            forecast.unpublishable_moments.append(p.variant.moment_id)

    delivery, contact = _table(Delivery), _table(Contact)
    cursor.execute(f"SELECT COUNT(DISTINCT customer_id) FROM fc_row WHERE ours = 1 AND outcome = {DELIVERED}")
    forecast.reach = cursor.fetchone()[0] or 0
    cursor.execute(
        f"SELECT COUNT(DISTINCT c.customer_id) FROM {contact} c WHERE c.is_active "
        f"AND c.associate_id IN (SELECT associate_id FROM fc_sender WHERE ours = 1)"
    )
    forecast.contacts = cursor.fetchone()[0] or 0
    cursor.execute(
        f"SELECT COUNT(*) FROM (SELECT customer_id FROM fc_row WHERE ours = 1 AND outcome = {DELIVERED} "
        f"GROUP BY customer_id HAVING COUNT(DISTINCT associate_id) > 1) twice"
    )
    forecast.duplicate_exposure = cursor.fetchone()[0] or 0
    # Overlapping variants (DESIGN.md §4): one customer delivered two variants of one moment, two slots taken.
    cursor.execute(
        f"""SELECT COUNT(DISTINCT customer_id) FROM (
                SELECT r.customer_id FROM fc_row r JOIN (SELECT DISTINCT slot, moment_id FROM fc_sender) s
                  ON s.slot = r.slot
                WHERE r.ours = 1 AND r.outcome = {DELIVERED}
                GROUP BY r.customer_id, s.moment_id HAVING COUNT(DISTINCT r.slot) > 1) twice"""
    )
    forecast.variant_overlap = cursor.fetchone()[0] or 0

    # The feed cap: who took the slots, planned moments first, then what was already in the feed.
    cursor.execute(
        f"""SELECT lost.slot, won.slot, COUNT(DISTINCT lost.customer_id), COUNT(DISTINCT lost.associate_id)
            FROM fc_row lost JOIN fc_row won
              ON won.associate_id = lost.associate_id AND won.customer_id = lost.customer_id
             AND won.day = lost.day AND won.outcome = {DELIVERED} AND won.slot <> lost.slot
            WHERE lost.ours = 1 AND lost.outcome = {CAPPED}
            GROUP BY lost.slot, won.slot"""
    )
    for lost, won, customers, associates in cursor.fetchall():
        forecast.collisions.append(Collision(variant_id=by_slot[lost].variant.pk, day=by_slot[lost].day,
                                             moment_id=by_slot[won].variant.moment_id, planned=True,
                                             customers=customers, associates=associates))  # fmt: skip
    cursor.execute(
        f"""SELECT lost.slot, d.moment_id, COUNT(DISTINCT lost.customer_id), COUNT(DISTINCT lost.associate_id)
            FROM fc_row lost JOIN {delivery} d
              ON d.associate_id = lost.associate_id AND d.customer_id = lost.customer_id AND d.day = lost.day
            WHERE lost.ours = 1 AND lost.outcome = {CAPPED}
            GROUP BY lost.slot, d.moment_id"""
    )
    ours = {p.variant.moment_id for p in planned if p.ours}
    for lost, moment_id, customers, associates in cursor.fetchall():
        if moment_id in ours:
            continue  # our own moments' earlier deliveries are planned above
        forecast.collisions.append(Collision(variant_id=by_slot[lost].variant.pk, day=by_slot[lost].day,
                                             moment_id=moment_id, planned=False, customers=customers,
                                             associates=associates))  # fmt: skip
    forecast.collisions.sort(key=lambda c: (-c.customers, c.variant_id))

    cursor.execute(
        f"""SELECT associate_id, day, COUNT(*) FROM fc_row WHERE ours = 1 AND outcome = {CAPPED}
            GROUP BY associate_id, day ORDER BY COUNT(*) DESC, associate_id LIMIT {TOP_ASSOCIATE_DAYS}"""
    )
    forecast.cap_loss_by_associate_day = [
        {"associate_id": a, "day": _date(day), "cap_loss": n} for a, day, n in cursor.fetchall()
    ]

    # Verification: the customers each unverified associate cannot reach, and what verifying them all would add.
    cursor.execute(
        f"""SELECT associate_id, COUNT(DISTINCT customer_id) FROM fc_row WHERE ours = 1 AND outcome = {UNREACHABLE}
            GROUP BY associate_id ORDER BY COUNT(DISTINCT customer_id) DESC, associate_id"""
    )
    forecast.verification = [{"associate_id": a, "customers": n} for a, n in cursor.fetchall()]
    forecast.verify_accounts = len(forecast.verification)
    # One pass grouped by customer (a NOT EXISTS over the unindexed fc_row was quadratic on SQLite).
    cursor.execute(
        f"""SELECT COUNT(*) FROM (SELECT customer_id FROM fc_row WHERE ours = 1 GROUP BY customer_id
            HAVING SUM(CASE WHEN outcome = {UNREACHABLE} THEN 1 ELSE 0 END) > 0
               AND SUM(CASE WHEN outcome = {DELIVERED} THEN 1 ELSE 0 END) = 0) gain"""
    )
    forecast.verify_gain = cursor.fetchone()[0] or 0
    return forecast
