"""What a planned moment can really do, checked at drafting (DESIGN.md §4, §5.2, §5.3). These are
warnings, never refusals: ``moment_submit`` does not look at them.

- **In time.** Notifications wait during the quiet hours (``dispatch.in_quiet_hours``), and in
  associate mode nobody publishes before being notified: a moment planned in the quiet window has
  only the time from its end to the expiry, and a 23:50 moment expiring at 05:50 has none — nobody
  can publish it. ``publish_window`` is the one definition; the forecast (``analytics.forecast``)
  counts a moment without a publishable minute as reaching nobody. Enterprise moments are pushed by
  WeCom itself, at any hour.
- **WeCom's rate.** ``add_moment_task`` is limited to 10 a minute per enterprise (wecom-api.md
  §1.2): in associate mode every associate who publishes outside the WeCom client creates one; in
  enterprise mode each variant creates one (per 100,000 senders). Those minutes must fit in the
  publish window.
- **Overlapping variants.** WeCom's ``visible_range`` can only include tags, so a customer in two
  variants' audiences gets both, and each takes a slot in their feed. ``moment_overlaps`` counts
  them per pair of variants and proposes, for an "all contacts" variant next to tagged ones, the
  complementary tags that would make it exclusive, and who would then fall out.

Set-based: the targets (the same as ``dispatch.variant_associate_ids``: the departments' subtrees
and the named associates, active ones) go into a temporary table by ``INSERT … SELECT``; each audience
of the moments with two or more variants (each variant's, and the exclusive one proposed) gets a bit,
and one pass over the targeted associates' active contacts, grouped by customer, counts the customers
per set of audiences they are in (a few distinct masks), from which every overlap is read. No
(variant, customer) row is kept, and checking a whole campaign is a fixed number of statements
whatever the number of its moments, variants, associates and customers (issue #19: 180 s → 5 s for
ten moments at 2,000 × 500).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.dispatch.notify import in_quiet_hours
from campaigns.models import Campaign, EnterpriseTask, Moment, State, Variant
from staff.models import Associate, AssociateDepartment, Contact, ContactTag, CustomerTag, Department
from wecom.ratelimit import ENDPOINT_BUDGETS

# add_moment_task: 10 a minute per enterprise (wecom-api.md §1.2), the client's own budget.
TASKS_PER_MINUTE = round(ENDPOINT_BUDGETS["externalcontact/add_moment_task"].rate * 60)
# The states in which a moment is still being planned: its warnings are shown.
PLANNING_STATES = (State.DRAFT, State.IN_REVIEW, State.APPROVED, State.SCHEDULED)


# --- in time -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishWindow:
    """From the first notification (or, in enterprise mode, WeCom's push) to the expiry."""

    planned: dt.datetime  # the moment's publish time
    opens: dt.datetime  # the first notification can go out
    closes: dt.datetime  # the moment expires

    @property
    def minutes(self) -> int:
        return max(0, int((self.closes - self.opens).total_seconds() // 60))

    @property
    def planned_minutes(self) -> int:
        return max(0, int((self.closes - self.planned).total_seconds() // 60))

    @property
    def delayed(self) -> bool:
        return self.opens > self.planned


def quiet_hours_end(at: dt.datetime) -> dt.datetime:
    """``at`` if a notification may go out then, else the first hour after the quiet window."""
    for _hour in range(25):  # the window is whole hours, and never the whole day
        if not in_quiet_hours(at):
            return at
        at = timezone.localtime(at).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return at


def publish_window(moment: Moment) -> PublishWindow:
    opens = moment.publish_at
    if moment.mode == Moment.Mode.ASSOCIATE:
        opens = quiet_hours_end(opens)
    return PublishWindow(planned=moment.publish_at, opens=opens, closes=moment.expires_at)


def moment_can_be_published(moment: Moment) -> bool:
    """Whether the moment has at least one publishable minute (no query: the forecast asks per moment)."""
    return publish_window(moment).minutes > 0


def wecom_tasks_needed(moment: Moment, associates_per_variant: Iterable[int]) -> int:
    """add_moment_task calls the moment needs at most: one per associate and variant in associate
    mode (each publish outside the WeCom client), one per variant and 100,000 senders in enterprise mode."""
    counts = [n for n in associates_per_variant if n]
    if moment.mode == Moment.Mode.ENTERPRISE:
        return sum(math.ceil(n / EnterpriseTask.SENDERS_MAX) for n in counts)
    return sum(counts)


# --- overlaps ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Overlap:
    """Customers in the audiences of both variants."""

    first: Variant
    second: Variant
    customers: int


@dataclass(frozen=True)
class Exclusive:
    """A proposal: target ``tags`` instead of all contacts on ``variant``."""

    variant: Variant
    tags: list[CustomerTag]
    falls_out: int  # customers of its audience who would then get no variant of the moment
    still_overlap: int  # customers who would still be in another variant (several tags)


@dataclass
class Overlaps:
    customers: int = 0  # distinct customers in two or more variants of the moment
    pairs: list[Overlap] = field(default_factory=list)
    proposals: list[Exclusive] = field(default_factory=list)
    # A variant for all contacts next to tagged ones whose tag groups have no other tag.
    no_complement: list[Variant] = field(default_factory=list)


@dataclass
class MomentCheck:
    moment: Moment
    window: PublishWindow
    associates: dict[int, int]  # variant id → targeted active associates
    overlaps: Overlaps


def _complement(tags: Iterable[CustomerTag], pool: Iterable[CustomerTag]) -> list[CustomerTag]:
    taken = {t.pk for t in tags}
    groups = {t.group_id for t in tags}
    return [t for t in pool if t.group_id in groups and t.pk not in taken]


def _tag_pool(groups: set[int]) -> list[CustomerTag]:
    if not groups:
        return []
    return list(
        CustomerTag.objects.filter(group_id__in=groups, is_deleted=False, group__is_deleted=False)
        .select_related("group")
        .order_by("group__order", "group_id", "order", "name", "pk")
    )


def complementary_tags(tags: Iterable[CustomerTag]) -> list[CustomerTag]:
    """The enterprise's other tags of the same groups as ``tags``: a variant targeting them leaves
    ``tags``' customers to the variants that target those (exclusive when each customer carries one
    tag of the group, as with membership tiers)."""
    tags = list(tags)
    return _complement(tags, _tag_pool({t.group_id for t in tags}))


# --- the SQL -------------------------------------------------------------------------------------------
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


SCRATCH = ("pl_target", "pl_vbit", "pl_tagbit", "pl_assoc", "pl_ctag")


def _create_scratch(cursor) -> None:
    for name in SCRATCH:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute("CREATE TEMPORARY TABLE pl_target (variant_id INTEGER NOT NULL, associate_id INTEGER NOT NULL)")
    cursor.execute("CREATE TEMPORARY TABLE pl_vbit (variant_id INTEGER NOT NULL, tagged INTEGER NOT NULL, "
                   "chunk INTEGER NOT NULL, bit BIGINT NOT NULL)")  # fmt: skip
    cursor.execute("CREATE TEMPORARY TABLE pl_tagbit (tag_id INTEGER NOT NULL, chunk INTEGER NOT NULL, "
                   "bit BIGINT NOT NULL)")  # fmt: skip


def _drop_scratch(cursor) -> None:
    for name in SCRATCH:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _fill_targets(cursor, moment_ids: list[int]) -> None:
    """(variant, active associate) for every variant of the moments: its named associates and the
    members of its departments' subtrees (materialised paths), as ``dispatch.variant_associate_ids``."""
    variant, associate = _table(Variant), _table(Associate)
    named, departments = _table(Variant.target_associates.through), _table(Variant.target_departments.through)
    membership, department = _table(AssociateDepartment), _table(Department)
    moments = ", ".join(["%s"] * len(moment_ids))
    cursor.execute(
        f"""INSERT INTO pl_target (variant_id, associate_id)
            SELECT n.variant_id, n.associate_id FROM {named} n
            JOIN {variant} v ON v.id = n.variant_id JOIN {associate} a ON a.id = n.associate_id
            WHERE a.is_active AND v.moment_id IN ({moments})
            UNION
            SELECT vd.variant_id, m.associate_id FROM {departments} vd
            JOIN {variant} v ON v.id = vd.variant_id
            JOIN {department} top ON top.id = vd.department_id
            JOIN {department} d ON d.path LIKE top.path || '%%'
            JOIN {membership} m ON m.department_id = d.id
            JOIN {associate} a ON a.id = m.associate_id
            WHERE a.is_active AND v.moment_id IN ({moments})""",
        [*moment_ids, *moment_ids],
    )


@dataclass(frozen=True)
class _Bit:
    """An audience whose customers are counted: a variant's (``exclusive`` False), or the one an
    all-contacts variant would have with its complementary tags (True)."""

    variant: Variant
    exclusive: bool
    index: int  # its bit, among every checked moment's


def _bits(of_moment: dict[int, list[Variant]], proposals: dict[int, list[CustomerTag]]) -> dict[int, list[_Bit]]:
    """A bit per audience of the moments with two or more variants (a moment with one has no overlap and
    no proposal): its variants', then its proposals'."""
    bits: dict[int, list[_Bit]] = {}
    index = 0
    for moment_id, variants in of_moment.items():
        if len(variants) < 2:
            continue
        audiences = [(v, False) for v in variants] + [(v, True) for v in variants if v.pk in proposals]
        bits[moment_id] = [_Bit(v, exclusive, index + n) for n, (v, exclusive) in enumerate(audiences)]
        index += len(audiences)
    return bits


def _fill_bits(cursor, bits: dict[int, list[_Bit]], proposals: dict[int, list[CustomerTag]], chunks: int) -> None:
    """pl_vbit: each audience's bit on its variant (tagged: it needs one of its tags, an exclusive one
    the proposal's); pl_tagbit: the bits each of those tags opens."""
    from analytics.forecast import BITS, _insert

    vbits, tagbits = [], []
    for bit in (b for moment_bits in bits.values() for b in moment_bits):
        chunk, value = bit.index // BITS, 1 << (bit.index % BITS)
        tags = proposals[bit.variant.pk] if bit.exclusive else list(bit.variant.audience_tags.all())
        tagged = bit.exclusive or not bit.variant.audience_all
        vbits.append((bit.variant.pk, int(tagged), chunk, value))
        if tagged:
            tagbits += [(tag.pk, chunk, value) for tag in {t.pk: t for t in tags}.values()]
    _insert(cursor, "pl_vbit", vbits)
    _insert(cursor, "pl_tagbit", tagbits)
    # Per targeted associate, the bits its contacts all get and those they get with one of the bit's tags.
    columns = ", ".join(
        f"bit_or(CASE WHEN b.tagged = 0 AND b.chunk = {i} THEN b.bit ELSE 0 END) AS all{i}, "
        f"bit_or(CASE WHEN b.tagged = 1 AND b.chunk = {i} THEN b.bit ELSE 0 END) AS tag{i}"
        for i in range(chunks)
    )
    cursor.execute(f"CREATE TEMPORARY TABLE pl_assoc AS SELECT t.associate_id, {columns} FROM pl_target t "
                   "JOIN pl_vbit b ON b.variant_id = t.variant_id GROUP BY t.associate_id")  # fmt: skip
    # Per contact carrying one of those tags, the bits its tags open (one pass over the tagged contacts).
    columns = ", ".join(f"bit_or(CASE WHEN tb.chunk = {i} THEN tb.bit ELSE 0 END) AS t{i}" for i in range(chunks))
    cursor.execute(f"CREATE TEMPORARY TABLE pl_ctag AS SELECT ct.contact_id, {columns} FROM {_table(ContactTag)} ct "
                   "JOIN pl_tagbit tb ON tb.tag_id = ct.tag_id GROUP BY ct.contact_id")  # fmt: skip


def _audience_masks(cursor, chunks: int) -> list[tuple[int, int]]:
    """(mask, customers): the customers counted per set of audiences they are in, every checked moment's at
    once — one pass over the targeted associates' active contacts, grouped by customer (a customer is in an
    audience when one of their contacts is), then by mask. Few distinct masks: the figures are read from
    them in Python."""
    from analytics.forecast import BITS

    masks = ", ".join(f"bit_or(a.all{i} | (a.tag{i} & COALESCE(ct.t{i}, 0))) AS m{i}" for i in range(chunks))
    names = ", ".join(f"m{i}" for i in range(chunks))
    cursor.execute(
        f"""SELECT {names}, COUNT(*) FROM (
                SELECT c.customer_id, {masks} FROM {_table(Contact)} c
                JOIN pl_assoc a ON a.associate_id = c.associate_id
                LEFT JOIN pl_ctag ct ON ct.contact_id = c.id
                WHERE c.is_active GROUP BY c.customer_id) customer
            GROUP BY {names}"""
    )
    found = []
    for *parts, customers in cursor.fetchall():
        mask = 0
        for i, part in enumerate(parts):
            mask |= int(part or 0) << (i * BITS)
        if mask:
            found.append((mask, int(customers)))
    return found


def _sqlite_bit_or() -> None:
    from analytics.forecast import _BitOr

    if connection.vendor == "sqlite":
        connection.ensure_connection()
        connection.connection.create_aggregate("bit_or", 1, _BitOr)


def _rows(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return cursor.fetchall()


# --- answers -------------------------------------------------------------------------------------------
def _overlaps_counted(moment_bits: list[_Bit], masks: list[tuple[int, int]]):
    """From the masks: customers per pair of variants, in two or more, and per proposal who would fall
    out (in the all-contacts audience, not in the exclusive one, in no tagged variant) and who would still
    be in two (in the exclusive one and a tagged variant)."""
    variants = [b for b in moment_bits if not b.exclusive]
    tagged = 0
    for b in variants:
        if not b.variant.audience_all:
            tagged |= 1 << b.index
    exclusive = {b.variant.pk: b for b in moment_bits if b.exclusive}
    pairs: dict[tuple[int, int], int] = {}
    twice = 0
    falls: dict[int, int] = {}
    still: dict[int, int] = {}
    for mask, customers in masks:
        inside = [b for b in variants if mask >> b.index & 1]
        if len(inside) > 1:
            twice += customers
            for n, first in enumerate(inside):
                for second in inside[n + 1 :]:
                    key = tuple(sorted((first.variant.pk, second.variant.pk)))
                    pairs[key] = pairs.get(key, 0) + customers
        for pk, bit in exclusive.items():
            of_all = next(b for b in variants if b.variant.pk == pk)
            if mask >> of_all.index & 1 and not mask >> bit.index & 1 and not mask & tagged:
                falls[pk] = falls.get(pk, 0) + customers
            if mask >> bit.index & 1 and mask & tagged:
                still[pk] = still.get(pk, 0) + customers
    return sorted(pairs.items()), twice, falls, still


def moments_check(moments: list[Moment]) -> dict[int, MomentCheck]:
    """Every fact the warnings need, for all ``moments`` at once (a fixed number of statements)."""
    from analytics.forecast import _chunks

    moments = list(moments)
    if not moments:
        return {}
    by_id = {m.pk: m for m in moments}
    variants = list(Variant.objects.filter(moment_id__in=by_id).prefetch_related("audience_tags")
                    .order_by("moment_id", "position", "id"))  # fmt: skip
    of_moment: dict[int, list[Variant]] = {pk: [] for pk in by_id}
    for variant in variants:
        of_moment[variant.moment_id].append(variant)

    # The proposals: an all-contacts variant next to tagged ones gets their groups' other tags.
    tagged_tags = {pk: [t for v in vs if not v.audience_all for t in v.audience_tags.all()] for pk, vs in
                   of_moment.items()}  # fmt: skip
    pool = _tag_pool({t.group_id for tags in tagged_tags.values() for t in tags})
    complements = {pk: _complement(tags, pool) for pk, tags in tagged_tags.items() if tags}
    proposals = {v.pk: complements[v.moment_id] for v in variants if v.audience_all and complements.get(v.moment_id)}
    bits = _bits(of_moment, proposals)
    chunks = _chunks(sum(len(b) for b in bits.values()))

    _sqlite_bit_or()
    masks: list[tuple[int, int]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        _create_scratch(cursor)
        try:
            _fill_targets(cursor, list(by_id))
            associates = _rows(cursor, "SELECT variant_id, COUNT(DISTINCT associate_id) FROM pl_target "
                                       "GROUP BY variant_id")  # fmt: skip
            if bits:
                _fill_bits(cursor, bits, proposals, chunks)
                masks = _audience_masks(cursor, chunks)
        finally:
            _drop_scratch(cursor)

    counted = dict(associates)
    variant_of = {v.pk: v for v in variants}
    checks = {pk: MomentCheck(moment=m, window=publish_window(m),
                              associates={v.pk: counted.get(v.pk, 0) for v in of_moment[pk]}, overlaps=Overlaps())
              for pk, m in by_id.items()}  # fmt: skip
    for moment_id, moment_bits in bits.items():
        pairs, twice, falls, still = _overlaps_counted(moment_bits, masks)
        check = checks[moment_id]
        check.overlaps.customers = twice
        check.overlaps.pairs = [Overlap(variant_of[a], variant_of[b], n) for (a, b), n in pairs]
        overlapping = {v.pk for pair in check.overlaps.pairs for v in (pair.first, pair.second)}
        for variant in of_moment[moment_id]:
            if not (variant.audience_all and variant.pk in overlapping and tagged_tags[moment_id]):
                continue
            if variant.pk in proposals:
                check.overlaps.proposals.append(Exclusive(variant=variant, tags=proposals[variant.pk],
                                                          falls_out=falls.get(variant.pk, 0),
                                                          still_overlap=still.get(variant.pk, 0)))  # fmt: skip
            else:
                check.overlaps.no_complement.append(variant)
    return checks


def moment_overlaps(moment: Moment) -> Overlaps:
    """Customers in two variants of ``moment`` (per pair and in all), and how to make its
    all-contacts variants exclusive."""
    return moments_check([moment])[moment.pk].overlaps


# --- sentences -----------------------------------------------------------------------------------------
def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def _when(at: dt.datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(ngettext("%(count)s hour", "%(count)s hours", hours) % {"count": _n(hours)})
    if rest or not hours:
        parts.append(ngettext("%(count)s minute", "%(count)s minutes", rest) % {"count": rest})
    return " ".join(parts)


def _quiet() -> str:
    return f"{settings.MOMENTS_QUIET_START:02d}:00–{settings.MOMENTS_QUIET_END:02d}:00"


def _timing_warnings(check: MomentCheck) -> list[str]:
    window = check.window
    if not window.delayed:
        return []
    values = {"publish": _when(window.planned), "expires": _when(window.closes), "opens": _when(window.opens),
              "quiet": _quiet(), "left": _duration(window.minutes),
              "planned": _duration(window.planned_minutes)}  # fmt: skip
    if window.minutes <= 0:
        return [_("Nobody can publish this moment: it is planned at %(publish)s, in the quiet hours (%(quiet)s) when "
                  "no notification goes out, and expires at %(expires)s, before the first notification at "
                  "%(opens)s. Move it or let it expire later.") % values]  # fmt: skip
    return [_("This moment is planned in the quiet hours (%(quiet)s): its notifications wait until %(opens)s, "
              "which leaves the associates only %(left)s of its %(planned)s to publish.") % values]  # fmt: skip


def _rate_warnings(check: MomentCheck) -> list[str]:
    moment, window = check.moment, check.window
    tasks = wecom_tasks_needed(moment, check.associates.values())
    needed = math.ceil(tasks / TASKS_PER_MINUTE)
    if not tasks or window.minutes <= 0 or needed <= window.minutes:
        return []
    values = {"rate": TASKS_PER_MINUTE, "tasks": _n(tasks), "needed": _duration(needed),
              "window": _duration(window.minutes)}  # fmt: skip
    if moment.mode == Moment.Mode.ENTERPRISE:
        return [_("WeCom creates at most %(rate)s moment tasks a minute per enterprise, and this moment needs "
                  "%(tasks)s (one per variant and 100,000 associates): that takes at least %(needed)s, but it is "
                  "open for only %(window)s.") % values]  # fmt: skip
    return [_("WeCom creates at most %(rate)s moment tasks a minute per enterprise, and each of the %(tasks)s "
              "associates' posts published outside the WeCom client creates one: that takes at least %(needed)s, "
              "but the moment is open for only %(window)s. Some associates would not manage to publish in "
              "time.") % values]  # fmt: skip


def _tag_list(tags: list[CustomerTag]) -> str:
    return ", ".join(f"“{t.name}”" for t in tags)


def overlap_warnings(overlaps: Overlaps, *, variants: int) -> list[str]:
    if not overlaps.customers:
        return []
    count = overlaps.customers
    values = {"count": _n(count)}
    if variants == 2:
        sentences = [ngettext(
            "%(count)s customer is in two variants of this moment: WeCom's visible range can only include tags, so "
            "they get each variant, and each takes a slot in their feed.",
            "%(count)s customers are in two variants of this moment: WeCom's visible range can only include tags, so "
            "they get each variant, and each takes a slot in their feed.", count) % values]  # fmt: skip
    else:
        sentences = [ngettext(
            "%(count)s customer is in two or more variants of this moment: WeCom's visible range can only include "
            "tags, so they get each variant, and each takes a slot in their feed.",
            "%(count)s customers are in two or more variants of this moment: WeCom's visible range can only include "
            "tags, so they get each variant, and each takes a slot in their feed.", count) % values]  # fmt: skip
    if variants > 2:
        sentences += [ngettext("%(count)s customer is in both “%(first)s” and “%(second)s”.",
                               "%(count)s customers are in both “%(first)s” and “%(second)s”.", pair.customers)
                      % {"count": _n(pair.customers), "first": pair.first.name, "second": pair.second.name}
                      for pair in overlaps.pairs]  # fmt: skip
    for proposal in overlaps.proposals:
        sentence = _("To make “%(variant)s” exclusive, target the tags %(tags)s instead of all contacts.") % {
            "variant": proposal.variant.name, "tags": _tag_list(proposal.tags)}  # fmt: skip
        if proposal.falls_out:
            sentence += " " + ngettext(
                "%(count)s customer carries none of these tags nor the other variants' and would then get no "
                "variant.",
                "%(count)s customers carry none of these tags nor the other variants' and would then get no "
                "variant.", proposal.falls_out) % {"count": _n(proposal.falls_out)}  # fmt: skip
        else:
            sentence += " " + _("Every customer would still get one variant.")
        if proposal.still_overlap:
            sentence += " " + ngettext(
                "%(count)s customer would still be in two variants (they carry several of the tags).",
                "%(count)s customers would still be in two variants (they carry several of the tags).",
                proposal.still_overlap) % {"count": _n(proposal.still_overlap)}  # fmt: skip
        sentences.append(sentence)
    for variant in overlaps.no_complement:
        sentences.append(_("“%(variant)s” cannot be made exclusive: the other variants' tag groups have no other "
                           "tag. Add the missing tags in WeCom, or name it as the variant for everyone.")
                         % {"variant": variant.name})  # fmt: skip
    return sentences


def check_warnings(check: MomentCheck) -> list[str]:
    return [*_timing_warnings(check), *_rate_warnings(check),
            *overlap_warnings(check.overlaps, variants=len(check.associates))]  # fmt: skip


def moment_warnings(moment: Moment) -> list[str]:
    """Why ``moment`` cannot be published as planned (quiet hours against its expiry, WeCom's rate
    against its associates) and which customers its variants share, as plain sentences."""
    return check_warnings(moments_check([moment])[moment.pk])


def campaign_warnings(campaign: Campaign) -> list[tuple[Moment, list[str]]]:
    """The warnings of each moment of ``campaign`` still being planned, in publication order (those
    without a warning left out)."""
    moments = list(campaign.moments.filter(state__in=PLANNING_STATES).order_by("publish_at", "id"))
    checks = moments_check(moments)
    found = [(moment, check_warnings(checks[moment.pk])) for moment in moments]
    return [(moment, sentences) for moment, sentences in found if sentences]
