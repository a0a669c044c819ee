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

How: by groups, not pairs (issue #19). Whether a planned variant reaches a contact depends only on
the contact's *key*: its associate's planned slots (the profile: a brand has few), which of the planned
variants' tag sets it carries, how many of the days' unverified reach limits it ranks past (the one
boundary order, ``rules.ranked_contacts_sql``), and what is already in its feed on the planned days
(each distinct (day, moment, count)). Set-based SQL on temporary tables, the same text on SQLite and
PostgreSQL (``bit_or`` is PostgreSQL's, registered on SQLite):

1. fc_sender: the (planned variant, targeted associate) rows; fc_assoc: each sender's profile.
2. fc_special: the few contacts whose key is not their associate's plain one (tagged with a planned
   tag, past a reach limit, or something in their feed), one aggregation of the three sources.
3. One pass over the senders' active contacts counts them per (associate, key) — and, for customers
   with two or more contacts (fc_multi, from the (customer, associate) index), contact by contact.
4. Each distinct key (tens in a brand) is decided here in Python, by the rules above, once: the outcome
   of each of its slots (fc_decide), its collisions (fc_keycoll) and its *pattern* for the customer-level
   figures (fc_key). Per-associate figures are sums over (associate, key); distinct customers come from
   the patterns: a customer with one contact is that contact's pattern, the others OR their patterns in a
   pass grouped by customer over their own rows.

The pair path (``_decide``: one fc_row per planned (variant, associate, customer), window functions)
stays: ``forecast_rows`` reads it (small worlds: tests, one customer's view), the enterprise monthly cap
needs it (it counts per customer across associates and days), and tests hold both paths equal on random
worlds (``analytics/tests/test_forecast_groups.py``). No Python loop runs over contacts on either path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace

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


def _run(moments: list[Moment], read, planned: list[Planned] | None = None) -> object:
    """The pair path: one fc_row per planned (variant, associate, customer), ``read`` while it exists."""
    planned = planned_for(moments) if planned is None else planned
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


# --- the group path -------------------------------------------------------------------------------
# Whether a planned variant reaches a contact depends only on the contact's *key*: the associate's planned
# slots (their profile), the slots' tag sets the contact carries (sig), how far past the unverified reach
# limits it ranks (rclass), and what is already in its feed on the planned days (feed). Contacts are
# counted per (associate, key) in one pass, each distinct key is decided once here, and the figures that
# count distinct customers come from a second pass grouped by customer over the keys' patterns.
BITS = 62  # flags per BIGINT mask column (their OR stays below 2**63 on both databases)


class _BitOr:
    """SQLite's ``bit_or`` aggregate (PostgreSQL has it built in): the same SQL text on both."""

    def __init__(self):
        self.value = 0

    def step(self, value):
        self.value |= value or 0

    def finalize(self):
        return self.value


def _chunks(count: int) -> int:
    return max(1, -(-count // BITS))


def _mask(indexes, chunks: int) -> tuple[int, ...]:
    out = [0] * chunks
    for index in indexes:
        out[index // BITS] |= 1 << (index % BITS)
    return tuple(out)


def _flags(masks) -> set[int]:
    return {chunk * BITS + bit for chunk, mask in enumerate(masks) for bit in range(BITS) if mask >> bit & 1}


def _insert(cursor, table: str, rows: list[tuple]) -> None:
    """Multi-row INSERTs of at most ~900 parameters (SQLite's limit is 999 on old builds)."""
    if not rows:
        return
    width = len(rows[0])
    per = max(1, 900 // width)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(chunk))
        cursor.execute(f"INSERT INTO {table} VALUES {values}", [v for row in chunk for v in row])


GROUP_TABLES = ("fc_assoc", "fc_tagbit", "fc_rank", "fc_fed", "fc_feed", "fc_feedbit", "fc_special", "fc_group",
                "fc_key", "fc_decide", "fc_keycoll", "fc_gk", "fc_ak", "fc_multi")  # fmt: skip


@dataclass
class _Groups:
    """The small facts of the group path, in Python: slots, tag sets, reach limits, feed triples."""

    planned: list[Planned]
    our_moment_ids: list[int]
    tagset_of: dict[int, int | None] = field(default_factory=dict)  # slot → tag set index (None: everybody)
    tagsets: int = 0
    limits: list[int] = field(default_factory=list)  # the distinct unverified reach limits, ascending
    triples: list[tuple] = field(default_factory=list)  # (day as stored, moment id or 0, count) in the feed
    profiles: list[tuple[int, ...]] = field(default_factory=list)  # profile id → its slots in order
    keys: list[tuple] = field(default_factory=list)  # the distinct keys, in fc_key's order (key id → key)

    @property
    def sig_chunks(self) -> int:
        return _chunks(self.tagsets)

    @property
    def feed_chunks(self) -> int:
        return _chunks(len(self.triples))

    def key_columns(self) -> list[str]:
        return ["profile", *[f"sig{i}" for i in range(self.sig_chunks)], "rclass",
                *[f"feed{i}" for i in range(self.feed_chunks)]]  # fmt: skip

    def key_expressions(self) -> list[str]:
        """The key's parts but the profile, of contact ``c`` left-joined to fc_special ``s``."""
        return [f"COALESCE(s.{c}, 0)" for c in self.key_columns()[1:]]


def _group_scratch_drop(cursor) -> None:
    for name in GROUP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _profiles(cursor, groups: _Groups) -> None:
    """fc_assoc: each sender's profile, the tuple of its planned slots (few distinct ones in a brand)."""
    cursor.execute("SELECT associate_id, slot FROM fc_sender ORDER BY associate_id, slot")
    ids: dict[tuple[int, ...], int] = {}
    rows = []
    current, slots = None, []
    for associate, slot in [*cursor.fetchall(), (None, None)]:
        if associate != current:
            if current is not None:
                rows.append((current, ids.setdefault(tuple(slots), len(ids))))
            current, slots = associate, []
        slots.append(slot)
    groups.profiles = list(ids)
    cursor.execute("CREATE TEMPORARY TABLE fc_assoc (associate_id INTEGER NOT NULL, profile INTEGER NOT NULL)")
    _insert(cursor, "fc_assoc", rows)


def _tag_bits(cursor, groups: _Groups) -> None:
    """fc_tagbit: a bit per distinct tag set of the planned variants, on each of the set's tags."""
    through = Variant.audience_tags.through
    tags: dict[int, set[int]] = {}
    for variant_id, tag_id in through.objects.filter(
        variant_id__in=[p.variant.pk for p in groups.planned if not p.variant.audience_all]
    ).values_list("variant_id", "customertag_id"):
        tags.setdefault(variant_id, set()).add(tag_id)
    index: dict[frozenset, int] = {}
    for p in groups.planned:
        groups.tagset_of[p.slot] = (
            None if p.variant.audience_all else index.setdefault(frozenset(tags.get(p.variant.pk, ())), len(index))
        )
    groups.tagsets = len(index)
    cursor.execute(
        "CREATE TEMPORARY TABLE fc_tagbit (tag_id INTEGER NOT NULL, chunk INTEGER NOT NULL, bit BIGINT NOT NULL)"
    )
    _insert(cursor, "fc_tagbit", [(tag, j // BITS, 1 << (j % BITS)) for tagset, j in index.items() for tag in tagset])


def _ranks(cursor, groups: _Groups) -> None:
    """fc_rank: the unverified associates' contacts past the smallest reach limit, and how many of the
    planned days' limits they are past (``rules.ranked_contacts_sql``, the one boundary order)."""
    groups.limits = sorted({p.rules.unverified_reach_limit for p in groups.planned})
    cursor.execute("CREATE TEMPORARY TABLE fc_rank (contact_id INTEGER NOT NULL, rclass INTEGER NOT NULL)")
    if not groups.limits:
        return
    senders = (
        f"SELECT a.id FROM {_table(Associate)} a "
        "WHERE NOT a.is_verified AND a.id IN (SELECT associate_id FROM fc_assoc)"
    )
    past = " + ".join(f"CASE WHEN rc.n > {int(limit)} THEN 1 ELSE 0 END" for limit in groups.limits)
    cursor.execute(
        f"INSERT INTO fc_rank SELECT rc.id, {past} FROM ({ranked_contacts_sql(senders)}) rc "
        f"WHERE rc.n > {int(groups.limits[0])}"
    )


def _feeds(cursor, groups: _Groups) -> None:
    """fc_fed: what is already in the senders' feeds on their planned days (not our moments': they are
    planned), per (associate, customer, day, moment), counted up to the cap; fc_feed: the same per contact;
    fc_feedbit: a bit per distinct (day, moment, count)."""
    ours = ", ".join(["%s"] * len(groups.our_moment_ids)) or "NULL"
    cap = int(max((p.rules.feed_cap for p in groups.planned), default=0))
    cursor.execute(
        f"""CREATE TEMPORARY TABLE fc_fed AS
            SELECT d.associate_id, d.customer_id, d.day, COALESCE(d.moment_id, 0) AS moment_id,
                   CASE WHEN COUNT(*) > {cap} THEN {cap} ELSE COUNT(*) END AS n
            FROM {_table(Delivery)} d
            WHERE (d.moment_id IS NULL OR d.moment_id NOT IN ({ours}))
              AND EXISTS (SELECT 1 FROM fc_sender s WHERE s.associate_id = d.associate_id AND s.day = d.day)
            GROUP BY d.associate_id, d.customer_id, d.day, COALESCE(d.moment_id, 0)""",
        groups.our_moment_ids,
    )
    _analyze(cursor, "fc_fed")  # few rows: their contacts are found through the unique index, not a scan
    cursor.execute(
        f"""CREATE TEMPORARY TABLE fc_feed AS SELECT c.id AS contact_id, f.day, f.moment_id, f.n FROM fc_fed f
            JOIN {_table(Contact)} c ON c.associate_id = f.associate_id AND c.customer_id = f.customer_id"""
    )
    cursor.execute("SELECT DISTINCT day, moment_id, n FROM fc_feed")
    groups.triples = sorted(cursor.fetchall(), key=lambda t: (str(t[0]), t[1], t[2]))
    cursor.execute("CREATE TEMPORARY TABLE fc_feedbit (day DATE NOT NULL, moment_id INTEGER NOT NULL, "
                   "n INTEGER NOT NULL, chunk INTEGER NOT NULL, bit BIGINT NOT NULL)")  # fmt: skip
    _insert(cursor, "fc_feedbit", [(*t, f // BITS, 1 << (f % BITS)) for f, t in enumerate(groups.triples)])


def _special(cursor, groups: _Groups) -> None:
    """fc_special: the contacts whose key is not their associate's plain one — tagged with a planned tag,
    past a reach limit, or with something in their feed — with its parts, in one aggregation of the three
    sources' rows (a tag set's or a feed entry's bit, OR-ed; the rank class)."""
    sig = [f"CASE WHEN tb.chunk = {i} THEN tb.bit ELSE 0 END" for i in range(groups.sig_chunks)]
    feed = [f"CASE WHEN b.chunk = {i} THEN b.bit ELSE 0 END" for i in range(groups.feed_chunks)]
    zeros_sig, zeros_feed = ["0"] * groups.sig_chunks, ["0"] * groups.feed_chunks
    columns = groups.key_columns()[1:]
    named = ", ".join(f"{e} AS {c}" for e, c in zip([*sig, "0", *zeros_feed], columns, strict=True))
    parts = [
        f"SELECT ct.contact_id, {named} FROM {_table(ContactTag)} ct JOIN fc_tagbit tb ON tb.tag_id = ct.tag_id",
        f"SELECT contact_id, {', '.join(zeros_sig)}, rclass, {', '.join(zeros_feed)} FROM fc_rank",
        f"SELECT f.contact_id, {', '.join(zeros_sig)}, 0, {', '.join(feed)} FROM fc_feed f "
        "JOIN fc_feedbit b ON b.day = f.day AND b.moment_id = f.moment_id AND b.n = f.n",
    ]
    merged = ", ".join(f"MAX({c}) AS {c}" if c == "rclass" else f"bit_or({c}) AS {c}" for c in columns)
    cursor.execute(
        f"CREATE TEMPORARY TABLE fc_special AS SELECT contact_id, {merged} "
        f"FROM ({' UNION ALL '.join(parts)}) part GROUP BY contact_id"
    )


@dataclass(frozen=True)
class _Pattern:
    """What a contact's key means for the customer-level figures."""

    audience: frozenset  # our slots whose audience the contact is in
    delivered: frozenset  # our slots delivered
    unreachable: bool  # one of our slots beyond the reach limit
    collisions: frozenset  # (lost slot, ("planned", won slot) | ("feed", moment id or 0))
    ours: bool  # the associate has one of our slots: the contact counts among the contacts


def _decide_key(groups: _Groups, by_slot: dict[int, Planned], key: tuple):
    """The outcome of each planned slot of a key (the rules of ``_decide``, for one contact of that key),
    its collisions, and its pattern."""
    profile, sig, rclass, feed = (
        key[0],
        key[1 : 1 + groups.sig_chunks],
        key[1 + groups.sig_chunks],
        key[2 + groups.sig_chunks :],
    )
    tagsets, fed = _flags(sig), _flags(feed)
    used: dict[dt.date, int] = {}
    fed_moments: dict[dt.date, list[int]] = {}
    for f in sorted(fed):
        day, moment, n = groups.triples[f]
        day = _date(day)
        used[day] = used.get(day, 0) + n
        fed_moments.setdefault(day, []).append(moment)
    outcomes: dict[int, int] = {}
    taken: dict[dt.date, int] = {}
    for slot in groups.profiles[profile]:
        p = by_slot[slot]
        j = groups.tagset_of[slot]
        if j is not None and j not in tagsets:
            continue
        if not p.publishable:
            outcomes[slot] = UNPUBLISHABLE
        elif rclass and groups.limits.index(p.rules.unverified_reach_limit) < rclass:
            outcomes[slot] = UNREACHABLE
        else:
            taken[p.day] = taken.get(p.day, 0) + 1
            outcomes[slot] = DELIVERED if taken[p.day] + used.get(p.day, 0) <= p.rules.feed_cap else CAPPED
    collisions = set()
    for slot, outcome in outcomes.items():
        p = by_slot[slot]
        if outcome != CAPPED or not p.ours:
            continue
        collisions |= {(slot, ("planned", won)) for won, o in outcomes.items()
                       if o == DELIVERED and won != slot and by_slot[won].day == p.day}  # fmt: skip
        collisions |= {(slot, ("feed", moment)) for moment in fed_moments.get(p.day, ())}
    ours = {slot: o for slot, o in outcomes.items() if by_slot[slot].ours}
    pattern = _Pattern(
        audience=frozenset(ours), delivered=frozenset(s for s, o in ours.items() if o == DELIVERED),
        unreachable=UNREACHABLE in ours.values(), collisions=frozenset(collisions),
        ours=any(by_slot[s].ours for s in groups.profiles[profile]),
    )  # fmt: skip
    return outcomes, pattern


def _multi(cursor) -> None:
    """fc_multi: the customers with two or more contacts (any associate, any state: a superset is harmless),
    from the (customer, associate) index alone, streamed in its order (before work_mem grows, which would
    rather hash every customer)."""
    cursor.execute(
        f"CREATE TEMPORARY TABLE fc_multi AS SELECT customer_id FROM {_table(Contact)} "
        "GROUP BY customer_id HAVING COUNT(*) > 1"
    )
    _analyze(cursor, "fc_multi")


def _keys_decide(cursor, groups: _Groups) -> list[_Pattern]:
    """Each distinct key decided for ``groups``' planned slots and which of them are ours: fc_key (its
    pattern's bit), fc_decide (its slots' outcomes), fc_keycoll (its collisions); the patterns. Key ids are
    the keys' order, so fc_gk and fc_ak hold for any choice of ours over the same planned slots."""
    by_slot = {p.slot: p for p in groups.planned}
    patterns: dict[_Pattern, int] = {}
    decided = []
    for key in groups.keys:
        outcomes, pattern = _decide_key(groups, by_slot, key)
        decided.append((key, outcomes, pattern, patterns.setdefault(pattern, len(patterns))))
    chunks = _chunks(len(patterns))
    bits = ", ".join(f"pbit{i} BIGINT NOT NULL" for i in range(chunks))
    parts = ", ".join(f"{c} BIGINT NOT NULL" for c in groups.key_columns())
    for statement in (
        f"CREATE TEMPORARY TABLE fc_key (key_id INTEGER NOT NULL, {parts}, {bits}, pattern INTEGER NOT NULL, "
        "delivers INTEGER NOT NULL, unreachable INTEGER NOT NULL)",
        "CREATE TEMPORARY TABLE fc_decide (key_id INTEGER NOT NULL, slot INTEGER NOT NULL, day DATE NOT NULL, "
        "ours INTEGER NOT NULL, outcome INTEGER NOT NULL)",
        "CREATE TEMPORARY TABLE fc_keycoll (key_id INTEGER NOT NULL, lost INTEGER NOT NULL, planned INTEGER NOT NULL, "
        "won INTEGER NOT NULL)",
    ):
        cursor.execute(statement)
    key_rows, decide_rows, collision_rows = [], [], []
    for key_id, (key, outcomes, pattern, pattern_id) in enumerate(decided):
        key_rows.append((key_id, *key, *_mask([pattern_id], chunks), pattern_id, int(bool(pattern.delivered)),
                         int(pattern.unreachable)))  # fmt: skip
        decide_rows += [(key_id, s, by_slot[s].day, int(by_slot[s].ours), o) for s, o in outcomes.items()]
        collision_rows += [(key_id, lost, int(kind == "planned"), won) for lost, (kind, won) in pattern.collisions]
    _insert(cursor, "fc_key", key_rows)
    _insert(cursor, "fc_decide", decide_rows)
    _insert(cursor, "fc_keycoll", collision_rows)
    return list(patterns)


def _group_decide(cursor, groups: _Groups) -> list[_Pattern]:
    """fc_group: the senders' active contacts counted per (associate, key), one pass; each distinct key
    decided (fc_key: its pattern's bit; fc_decide: its slots' outcomes; fc_keycoll: its collisions)."""
    columns, expressions = groups.key_columns()[1:], groups.key_expressions()
    named = ", ".join(f"{e} AS {c}" for e, c in zip(expressions, columns, strict=True))
    contact = _table(Contact)
    shared = "CASE WHEN m.customer_id IS NULL THEN 0 ELSE c.customer_id END"
    cursor.execute(
        f"""CREATE TEMPORARY TABLE fc_group AS SELECT c.associate_id, {shared} AS customer_id, {named}, COUNT(*) AS n
            FROM {contact} c LEFT JOIN fc_special s ON s.contact_id = c.id
            LEFT JOIN fc_multi m ON m.customer_id = c.customer_id
            WHERE c.is_active AND c.associate_id IN (SELECT associate_id FROM fc_assoc)
            GROUP BY c.associate_id, {shared}, {", ".join(expressions)}"""
    )
    keyed = ", ".join(f"g.{c}" for c in columns)
    cursor.execute(
        f"SELECT DISTINCT a.profile, {keyed} FROM fc_group g JOIN fc_assoc a ON a.associate_id = g.associate_id"
    )
    groups.keys = [tuple(key) for key in cursor.fetchall()]
    patterns = _keys_decide(cursor, groups)
    join = " AND ".join(f"k.{c} = g.{c}" for c in columns)
    cursor.execute(
        "CREATE TEMPORARY TABLE fc_gk AS SELECT g.associate_id, g.customer_id, k.key_id, g.n FROM fc_group g "
        f"JOIN fc_assoc a ON a.associate_id = g.associate_id JOIN fc_key k ON k.profile = a.profile AND {join}"
    )
    # Per (associate, key), what the per-associate figures read.
    cursor.execute("CREATE TEMPORARY TABLE fc_ak AS SELECT associate_id, key_id, SUM(n) AS n FROM fc_gk "
                   "GROUP BY associate_id, key_id")  # fmt: skip
    _analyze(cursor, "fc_key", "fc_decide", "fc_keycoll", "fc_gk", "fc_ak")
    return list(patterns)


def _combinations(cursor, patterns: list[_Pattern]) -> list[tuple[set[int], int, int]]:
    """The customers, counted per combination: (their patterns, how many of their contacts are delivered
    something of ours: 0, 1 or 2 and more, customers). A customer with one contact (most of them) is that
    contact's pattern: fc_gk's rows without a customer. A customer with two or more contacts (any associate,
    any state) has a row per contact in fc_gk: their patterns are OR-ed in a pass grouped by customer."""
    cursor.execute(
        "SELECT k.pattern, k.delivers, SUM(g.n) FROM fc_gk g JOIN fc_key k ON k.key_id = g.key_id "
        "WHERE g.customer_id = 0 GROUP BY k.pattern, k.delivers"
    )
    single = [({pattern}, delivers, int(n)) for pattern, delivers, n in cursor.fetchall()]
    chunks = _chunks(len(patterns))
    bits = ", ".join(f"bit_or(k.pbit{i}) AS p{i}" for i in range(chunks))
    outer = ", ".join(f"p{i}" for i in range(chunks))
    cursor.execute(
        f"""SELECT {outer}, CASE WHEN delivers > 1 THEN 2 ELSE delivers END, COUNT(*) FROM (
                SELECT g.customer_id, {bits}, SUM(k.delivers * g.n) AS delivers
                FROM fc_gk g JOIN fc_key k ON k.key_id = g.key_id WHERE g.customer_id <> 0
                GROUP BY g.customer_id) per
            GROUP BY {", ".join(str(i + 1) for i in range(chunks + 1))}"""
    )
    return single + [(_flags(row[:chunks]), int(row[chunks]), int(row[chunks + 1])) for row in cursor.fetchall()]


def _group_summary(cursor, groups: _Groups, patterns: list[_Pattern]) -> Forecast:
    planned = groups.planned
    by_slot = {p.slot: p for p in planned}
    forecast = Forecast()
    cursor.execute(
        f"""SELECT d.slot, COUNT(DISTINCT g.associate_id), SUM(g.n),
                   SUM(CASE WHEN d.outcome = {DELIVERED} THEN g.n ELSE 0 END),
                   SUM(CASE WHEN d.outcome = {CAPPED} THEN g.n ELSE 0 END),
                   SUM(CASE WHEN d.outcome = {UNREACHABLE} THEN g.n ELSE 0 END),
                   SUM(CASE WHEN d.outcome = {UNPUBLISHABLE} THEN g.n ELSE 0 END)
            FROM fc_ak g JOIN fc_decide d ON d.key_id = g.key_id WHERE d.ours = 1 GROUP BY d.slot"""
    )
    counted = {row[0]: [int(n or 0) for n in row[1:]] for row in cursor.fetchall()}
    audience: dict[int, int] = {}
    reach: dict[int, int] = {}
    collided: dict[tuple, int] = {}
    for combination, delivering, customers in _combinations(cursor, patterns):
        mine = [patterns[i] for i in combination]
        seen = frozenset().union(*(m.audience for m in mine))
        got = frozenset().union(*(m.delivered for m in mine))
        for slot in seen:
            audience[slot] = audience.get(slot, 0) + customers
        for slot in got:
            reach[slot] = reach.get(slot, 0) + customers
        for collision in frozenset().union(*(m.collisions for m in mine)):
            collided[collision] = collided.get(collision, 0) + customers
        forecast.contacts += customers if any(m.ours for m in mine) else 0
        forecast.reach += customers if got else 0
        forecast.duplicate_exposure += customers if delivering > 1 else 0
        moments = [by_slot[s].variant.moment_id for s in got]
        forecast.variant_overlap += customers if len(moments) > len(set(moments)) else 0
        forecast.verify_gain += customers if not got and any(m.unreachable for m in mine) else 0
    for p in planned:
        if not p.ours:
            continue
        line = VariantDay(variant_id=p.variant.pk, moment_id=p.variant.moment_id, day=p.day)
        if p.slot in counted:
            (line.associates, line.audience_contacts, line.deliveries, line.cap_loss, line.verification_loss,
             line.unpublishable) = counted[p.slot]  # fmt: skip
            line.audience, line.reach = audience.get(p.slot, 0), reach.get(p.slot, 0)
        forecast.variants.append(line)
        if not p.publishable and p.variant.moment_id not in forecast.unpublishable_moments:
            forecast.unpublishable_moments.append(p.variant.moment_id)

    cursor.execute("SELECT c.lost, c.planned, c.won, COUNT(DISTINCT g.associate_id) FROM fc_ak g "
                   "JOIN fc_keycoll c ON c.key_id = g.key_id GROUP BY c.lost, c.planned, c.won")  # fmt: skip
    for lost, is_planned, won, associates in sorted(cursor.fetchall(), key=lambda r: (-r[1], r[0], r[2])):
        kind = "planned" if is_planned else "feed"
        forecast.collisions.append(Collision(
            variant_id=by_slot[lost].variant.pk, day=by_slot[lost].day,
            moment_id=by_slot[won].variant.moment_id if is_planned else (won or None), planned=bool(is_planned),
            customers=collided[lost, (kind, won)], associates=int(associates),
        ))  # fmt: skip
    forecast.collisions.sort(key=lambda c: (-c.customers, c.variant_id))

    cursor.execute(
        f"""SELECT g.associate_id, d.day, SUM(g.n) FROM fc_ak g JOIN fc_decide d ON d.key_id = g.key_id
            WHERE d.ours = 1 AND d.outcome = {CAPPED}
            GROUP BY g.associate_id, d.day ORDER BY 3 DESC, 1, 2 LIMIT {TOP_ASSOCIATE_DAYS}"""
    )
    forecast.cap_loss_by_associate_day = [
        {"associate_id": a, "day": _date(day), "cap_loss": int(n)} for a, day, n in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT g.associate_id, SUM(g.n) FROM fc_ak g JOIN fc_key k ON k.key_id = g.key_id WHERE k.unreachable = 1 "
        "GROUP BY g.associate_id ORDER BY 2 DESC, 1"
    )
    forecast.verification = [{"associate_id": a, "customers": int(n)} for a, n in cursor.fetchall()]
    forecast.verify_accounts = len(forecast.verification)
    return forecast


GROUP_ASSOCIATE_DAYS = f"""
    SELECT %s, g.associate_id, d.day, SUM(CASE WHEN d.outcome = {DELIVERED} THEN g.n ELSE 0 END),
           SUM(CASE WHEN d.outcome = {CAPPED} THEN g.n ELSE 0 END),
           SUM(CASE WHEN d.outcome = {UNREACHABLE} THEN g.n ELSE 0 END)
    FROM fc_ak g JOIN fc_decide d ON d.key_id = g.key_id WHERE d.ours = 1 GROUP BY g.associate_id, d.day"""
PAIR_ASSOCIATE_DAYS = f"""
    SELECT %s, associate_id, day, SUM(CASE WHEN outcome = {DELIVERED} THEN 1 ELSE 0 END),
           SUM(CASE WHEN outcome = {CAPPED} THEN 1 ELSE 0 END),
           SUM(CASE WHEN outcome = {UNREACHABLE} THEN 1 ELSE 0 END)
    FROM fc_row WHERE ours = 1 GROUP BY associate_id, day"""


def _associate_days_write(cursor, select: str, snapshot_id: int) -> None:
    """ForecastAssociateDay: per (associate, day) of ours, the planned deliveries and losses, one INSERT … SELECT."""
    cursor.execute(
        f"INSERT INTO {_table(ForecastAssociateDay)} "
        f"(snapshot_id, associate_id, day, deliveries, cap_loss, verification_loss) {select}",
        [snapshot_id],
    )


def _group_run(planned: list[Planned], our_moment_ids: list[int], keep=None, alone: dict | None = None):
    """The group path, in one transaction (or savepoint): on an error its rollback drops the scratch tables and
    undoes the settings, so nothing runs in the failed transaction to hide the error. ``alone``: {moment id:
    None} of our moments to forecast alone too, from the same pass over the contacts (each key decided again
    with only that moment ours): filled with their forecasts (``_alone_exact`` says which moments may be)."""
    groups = _Groups(planned=planned, our_moment_ids=our_moment_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            connection.connection.create_aggregate("bit_or", 1, _BitOr)
        _create_scratch(cursor)
        _group_scratch_drop(cursor)
        _multi(cursor)
        settings = None
        if connection.vendor == "postgresql":
            # A few big hash aggregations and joins (an entry per tagged contact): room so they stay in memory
            # (the default 4 MB spills them to disk), and no JIT (compiling costs more than it saves here). For
            # this transaction only, and put back when done (an outer transaction goes on with its own).
            cursor.execute("SELECT current_setting('work_mem'), current_setting('jit'), "
                           "set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")  # fmt: skip
            settings = cursor.fetchone()[:2]
        _fill_senders(cursor, planned)
        _analyze(cursor, "fc_sender")
        _profiles(cursor, groups)
        _tag_bits(cursor, groups)
        _ranks(cursor, groups)
        _feeds(cursor, groups)
        _analyze(cursor, "fc_assoc", "fc_tagbit", "fc_rank", "fc_feed", "fc_feedbit")
        _special(cursor, groups)
        _analyze(cursor, "fc_special")
        patterns = _group_decide(cursor, groups)
        result = _group_summary(cursor, groups, patterns)
        if keep is not None:
            result = keep(result, lambda snapshot_id: _associate_days_write(cursor, GROUP_ASSOCIATE_DAYS, snapshot_id))
        for moment_id in alone or ():
            scoped = replace(groups, planned=[replace(p, ours=p.variant.moment_id == moment_id) for p in planned],
                             our_moment_ids=[moment_id])  # fmt: skip
            for name in ("fc_key", "fc_decide", "fc_keycoll"):
                cursor.execute(f"DROP TABLE {name}")
            patterns = _keys_decide(cursor, scoped)
            _analyze(cursor, "fc_key", "fc_decide", "fc_keycoll")
            alone[moment_id] = _group_summary(cursor, scoped, patterns)
        _drop_scratch(cursor)
        _group_scratch_drop(cursor)
        if settings:
            cursor.execute("SELECT set_config('work_mem', %s, true), set_config('jit', %s, true)", list(settings))
        return result


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


def _monthly_cap_on(planned: list[Planned]) -> bool:
    return any(p.rules.enterprise_monthly_cap and p.variant.moment.mode == Moment.Mode.ENTERPRISE for p in planned)


def _alone_exact(planned: list[Planned], moment: Moment) -> bool:
    """Whether ``moment``'s forecast alone (``forecast_moments([moment])``) is decided exactly by a run that
    planned ``planned`` (its campaign's): when its day's planned variants are the same in both — so every other
    moment of its campaign that day is approved or scheduled, planned next to it alone too, and none is
    published yet (a published one's deliveries would be in the feed of the moment alone)."""
    day = local_day(moment.publish_at)[0]
    theirs = planned_for([moment])
    ready = (State.APPROVED, State.SCHEDULED)
    same_day = [p for p in planned if p.day == day]
    return [(p.variant.pk, p.publishable, p.rules) for p in same_day] == [
        (p.variant.pk, p.publishable, p.rules) for p in theirs
    ] and all(p.variant.moment.state in ready for p in same_day if p.ours and p.variant.moment_id != moment.pk)


def _forecast(moments: list[Moment], keep=None):
    """The forecast of ``moments``, by groups; by pairs when the enterprise monthly cap is on for one of the
    planned moments (it counts per customer across associates and days, so it needs each pair). With
    ``keep(forecast, associate_days_write)``, its answer, called while the decisions exist
    (``associate_days_write(snapshot_id)`` writes the ForecastAssociateDay rows)."""
    moments = list(moments)
    planned = planned_for(moments)
    if not _monthly_cap_on(planned):
        return _group_run(planned, [m.pk for m in moments], keep)

    def read(cursor, planned):
        forecast = _summary(cursor, planned)
        if keep is None:
            return forecast
        return keep(forecast, lambda snapshot_id: _associate_days_write(cursor, PAIR_ASSOCIATE_DAYS, snapshot_id))

    return _run(moments, read, planned)


def forecast_pairs(moments: list[Moment]) -> Forecast:
    """The forecast by pairs whatever the rules (the reference the group path is tested against)."""
    return _run(list(moments), _summary)


def forecast_moments(moments: list[Moment]) -> Forecast:
    return _forecast(moments)


def forecast_campaign(campaign) -> Forecast:
    return forecast_moments(list(campaign.moments.exclude(state=State.CANCELLED)))


def forecast_snapshot_create(*, campaign, now=None, alone: dict | None = None, **stored) -> ForecastSnapshot:
    """Forecast ``campaign`` and keep the result (the whole forecast as JSON, and ``stored``: the plan it
    read, ``analytics.snapshots``): its totals and, per (associate, day), the
    planned deliveries and losses (one INSERT … SELECT from the decisions), which is what
    the dashboards compare with the actual results, in any manager's scope. With ``alone`` (a dict), also
    each moment's forecast alone where the same pass decides it exactly (``_alone_exact``; not on the pair
    path): ``alone`` gets {moment id: Forecast}, equal to ``forecast_moments([moment])``; the others are
    left out, for the caller to forecast one by one."""
    from django.utils import timezone

    def keep(forecast, associate_days_write):
        snapshot = ForecastSnapshot.objects.create(
            campaign=campaign, computed_at=now or timezone.now(), reach=forecast.reach, contacts=forecast.contacts,
            deliveries=forecast.deliveries, cap_loss=forecast.cap_loss,
            verification_loss=forecast.verification_loss, monthly_cap_loss=forecast.monthly_cap_loss,
            forecast=asdict(forecast), **stored,
        )  # fmt: skip
        associate_days_write(snapshot.pk)
        return snapshot

    moments = list(campaign.moments.exclude(state=State.CANCELLED))
    if alone is None:
        snapshot = _forecast(moments, keep)
    else:
        planned = planned_for(moments)
        if _monthly_cap_on(planned):
            snapshot = _forecast(moments, keep)
        else:
            wanted = {m.pk: None for m in moments if _alone_exact(planned, m)}
            snapshot = _group_run(planned, [m.pk for m in moments], keep, wanted)
            alone.update(wanted)
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
            GROUP BY associate_id, day ORDER BY COUNT(*) DESC, associate_id, day LIMIT {TOP_ASSOCIATE_DAYS}"""
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
