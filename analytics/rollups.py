"""Roll-ups (DESIGN.md §5.5): small tables the dashboards and the API read instead of
10M+ delivery facts, maintained incrementally and resumably.

Three stats, computed in this order (the later ones sum the earlier ones' pair counts):

- ``associate_day``: per (local day, associate, campaign) — deliveries, distinct customers,
  cap loss, verification loss, likes, comments;
- ``department_day``: per (local day, department, campaign), the department's whole
  subtree — pair counts summed over its associates, distinct customers counted from the
  facts (a customer reached by two of its associates counts once);
- ``campaign``: per campaign — the same totals; its distinct reach comes from
  ``CampaignCustomer`` (each customer reached, with the first day), so reach over any
  span of days is a count there, never a sum of daily distinct counts; and per department
  subtree (``DepartmentReach``) the customers first reached on each day and the base.

The checkpoint of each stat is its set of marks (``RollupMark``): ingest bumps the mark
of every bucket whose facts it changed, in the same transaction as the facts. A run takes
each mark, recomputes its bucket whole (DELETE + INSERT … SELECT, one transaction) and
removes the mark only if nobody bumped it meanwhile. A run that dies half-way leaves its
marks: the next run redoes those buckets, and a half-filled bucket never survives.

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

from analytics.models import (
    AssociateDay,
    CampaignCustomer,
    CampaignReach,
    Delivery,
    DepartmentDay,
    DepartmentReach,
    Engagement,
    RollupCursor,
    RollupMark,
)
from analytics.rules import ranked_contacts_sql, rules_for
from campaigns.models import LinkClick, Moment, PublishTask, Variant
from staff.models import AssociateDepartment, Contact, ContactTag, Department

ASSOCIATE_DAY, DEPARTMENT_DAY, CAMPAIGN = "associate_day", "department_day", "campaign"
STATS = (ASSOCIATE_DAY, DEPARTMENT_DAY, CAMPAIGN)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- marks ---------------------------------------------------------------------------------------
def mark(*, days=(), campaign_ids=()) -> None:
    """Buckets whose facts changed: call inside the transaction that changed them."""
    buckets = [(stat, day.isoformat()) for day in set(days) for stat in (ASSOCIATE_DAY, DEPARTMENT_DAY)]
    buckets += [(CAMPAIGN, str(pk)) for pk in set(campaign_ids) if pk is not None]
    if not buckets:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {_table(RollupMark)} (stat, bucket, generation) VALUES (%s, %s, 1) "
            f"ON CONFLICT (stat, bucket) DO UPDATE SET generation = {_table(RollupMark)}.generation + 1",
            buckets,
        )


def mark_everything() -> int:
    """Mark every day and campaign that has facts (a full rebuild by the next refresh)."""
    days = set(Delivery.objects.values_list("day", flat=True).distinct())
    days |= set(Engagement.objects.values_list("day", flat=True).distinct())
    days |= set(LinkClick.objects.values_list("day", flat=True).distinct())
    campaigns = set(
        Moment.objects.filter(pk__in=Delivery.objects.values("moment_id")).values_list("campaign_id", flat=True)
    )
    with transaction.atomic():
        mark(days=days, campaign_ids=campaigns)
    return len(days) * 2 + len(campaigns)


def clicks_mark() -> int:
    """CTA clicks are recorded by the campaigns app (``/go/<code>``), which knows nothing of
    the roll-ups: mark the days and campaigns of the clicks recorded since the last run
    (a cursor on the click id, moved in the same transaction as the marks)."""
    with transaction.atomic():
        RollupCursor.objects.get_or_create(name="clicks")
        cursor_row = RollupCursor.objects.select_for_update().get(name="clicks")
        new = LinkClick.objects.filter(pk__gt=cursor_row.position)
        last = new.order_by("-pk").values_list("pk", flat=True).first()
        if last is None:
            return 0
        seen = new.filter(pk__lte=last)
        days = set(seen.values_list("day", flat=True).distinct())
        campaigns = set(seen.values_list("campaign_id", flat=True).distinct())
        mark(days=days, campaign_ids=campaigns)
        RollupCursor.objects.filter(pk=cursor_row.pk).update(position=last)
        return len(days) + len(campaigns)


# --- the buckets ---------------------------------------------------------------------------------
def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = rules_for(day).zone
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def associate_day_compute(day: dt.date) -> None:
    rules = rules_for(day)
    start, end = _day_bounds(day)
    delivery, moment, engagement = _table(Delivery), _table(Moment), _table(Engagement)
    task, variant, click = _table(PublishTask), _table(Variant), _table(LinkClick)
    contact_tag, audience_tag = _table(ContactTag), _table(Variant.audience_tags.through)
    target = _table(AssociateDay)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {target} WHERE day = %s", [day])
        cursor.execute(
            f"""
            INSERT INTO {target} (day, associate_id, campaign_id, deliveries, customers, cap_loss,
                                  verification_loss, likes, comments, clicks)
            WITH task AS (
                SELECT t.variant_id, t.moment_id, t.associate_id, m.campaign_id, v.audience_all
                FROM {task} t JOIN {moment} m ON m.id = t.moment_id JOIN {variant} v ON v.id = t.variant_id
                WHERE t.state = 'published' AND t.published_at >= %s AND t.published_at < %s
            ),
            ranked_contact AS ({ranked_contacts_sql("SELECT associate_id FROM task")}),
            missed AS (
                SELECT t.associate_id, t.campaign_id, rc.customer_id, rc.n
                FROM task t JOIN ranked_contact rc ON rc.associate_id = t.associate_id
                WHERE (t.audience_all OR EXISTS (
                        SELECT 1 FROM {contact_tag} ct JOIN {audience_tag} vt ON vt.customertag_id = ct.tag_id
                        WHERE vt.variant_id = t.variant_id AND ct.contact_id = rc.id))
                  AND NOT EXISTS (SELECT 1 FROM {delivery} d WHERE d.moment_id = t.moment_id
                                  AND d.associate_id = t.associate_id AND d.customer_id = rc.customer_id)
            ),
            part AS (
                SELECT d.associate_id, m.campaign_id, COUNT(*) AS deliveries,
                       COUNT(DISTINCT d.customer_id) AS customers,
                       0 AS cap_loss, 0 AS verification_loss, 0 AS likes, 0 AS comments, 0 AS clicks
                FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id
                WHERE d.day = %s GROUP BY d.associate_id, m.campaign_id
                UNION ALL
                SELECT associate_id, campaign_id, 0, 0,
                       SUM(CASE WHEN n <= %s AND (SELECT COUNT(*) FROM {delivery} d
                                WHERE d.associate_id = missed.associate_id AND d.customer_id = missed.customer_id
                                  AND d.day = %s) >= %s THEN 1 ELSE 0 END),
                       SUM(CASE WHEN n > %s THEN 1 ELSE 0 END), 0, 0, 0
                FROM missed GROUP BY associate_id, campaign_id
                UNION ALL
                SELECT e.associate_id, m.campaign_id, 0, 0, 0, 0,
                       SUM(CASE WHEN e.kind = {Engagement.Kind.LIKE} THEN 1 ELSE 0 END),
                       SUM(CASE WHEN e.kind = {Engagement.Kind.COMMENT} THEN 1 ELSE 0 END), 0
                FROM {engagement} e JOIN {moment} m ON m.id = e.moment_id
                WHERE e.day = %s GROUP BY e.associate_id, m.campaign_id
                UNION ALL
                SELECT c.associate_id, c.campaign_id, 0, 0, 0, 0, 0, 0, COUNT(*)
                FROM {click} c WHERE c.day = %s AND c.associate_id IS NOT NULL GROUP BY c.associate_id, c.campaign_id
            )
            SELECT %s, associate_id, campaign_id, SUM(deliveries), SUM(customers), SUM(cap_loss),
                   SUM(verification_loss), SUM(likes), SUM(comments), SUM(clicks)
            FROM part GROUP BY associate_id, campaign_id
            """,
            [start, end, day, rules.unverified_reach_limit, day, rules.feed_cap, rules.unverified_reach_limit, day,
             day, day],
        )  # fmt: skip


def _within_sql() -> str:
    """(associate, department) for every department whose subtree holds the associate."""
    membership, department = _table(AssociateDepartment), _table(Department)
    return (
        f"SELECT DISTINCT ad.associate_id, top.id AS department_id FROM {membership} ad "
        f"JOIN {department} dd ON dd.id = ad.department_id JOIN {department} top ON dd.path LIKE top.path || '%%'"
    )


def department_day_compute(day: dt.date) -> None:
    """Each department's subtree: pair counts summed over its associates (each once, even
    with two memberships in the subtree), customers distinct over the subtree's deliveries."""
    delivery, moment, source = _table(Delivery), _table(Moment), _table(AssociateDay)
    target = _table(DepartmentDay)
    within = _within_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {target} WHERE day = %s", [day])
        cursor.execute(
            f"""
            INSERT INTO {target} (day, department_id, campaign_id, deliveries, customers, cap_loss,
                                  verification_loss, likes, comments, clicks)
            WITH within AS ({within}),
            part AS (
                SELECT w.department_id, s.campaign_id, SUM(s.deliveries) AS deliveries, 0 AS customers,
                       SUM(s.cap_loss) AS cap_loss, SUM(s.verification_loss) AS verification_loss,
                       SUM(s.likes) AS likes, SUM(s.comments) AS comments, SUM(s.clicks) AS clicks
                FROM {source} s JOIN within w ON w.associate_id = s.associate_id
                WHERE s.day = %s GROUP BY w.department_id, s.campaign_id
                UNION ALL
                SELECT w.department_id, m.campaign_id, 0, COUNT(DISTINCT d.customer_id), 0, 0, 0, 0, 0
                FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id JOIN within w ON w.associate_id = d.associate_id
                WHERE d.day = %s GROUP BY w.department_id, m.campaign_id
            )
            SELECT %s, department_id, campaign_id, SUM(deliveries), SUM(customers), SUM(cap_loss),
                   SUM(verification_loss), SUM(likes), SUM(comments), SUM(clicks)
            FROM part GROUP BY department_id, campaign_id
            """,
            [day, day, day],
        )


def campaign_compute(campaign_id: int) -> None:
    delivery, moment = _table(Delivery), _table(Moment)
    CampaignCustomer.objects.filter(campaign_id=campaign_id).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(CampaignCustomer)} (campaign_id, customer_id, first_day, deliveries) "
            f"SELECT m.campaign_id, d.customer_id, MIN(d.day), COUNT(*) FROM {delivery} d "
            f"JOIN {moment} m ON m.id = d.moment_id WHERE m.campaign_id = %s GROUP BY m.campaign_id, d.customer_id",
            [campaign_id],
        )
    days = AssociateDay.objects.filter(campaign_id=campaign_id).aggregate(
        deliveries=Sum("deliveries"), cap_loss=Sum("cap_loss"), verification_loss=Sum("verification_loss"),
        likes=Sum("likes"), comments=Sum("comments"),
    )  # fmt: skip
    reach = CampaignCustomer.objects.filter(campaign_id=campaign_id).aggregate(n=Count("pk"))["n"]
    # every click of the campaign, also those on an enterprise moment's link (no associate)
    days["clicks"] = LinkClick.objects.filter(campaign_id=campaign_id).count()
    tasked = PublishTask.objects.filter(moment__campaign_id=campaign_id).values("associate_id")
    contacts = Contact.objects.filter(is_active=True, associate_id__in=tasked).values("customer_id").distinct().count()
    CampaignReach.objects.update_or_create(
        campaign_id=campaign_id,
        defaults={"customers": reach, "contacts": contacts, **{k: v or 0 for k, v in days.items()}},
    )
    department_reach_compute(campaign_id)


def department_reach_compute(campaign_id: int) -> None:
    """Each department subtree's distinct reach by first day, and its base (DepartmentReach)."""
    delivery, moment, task, contact = _table(Delivery), _table(Moment), _table(PublishTask), _table(Contact)
    target, within = _table(DepartmentReach), _within_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {target} WHERE campaign_id = %s", [campaign_id])
        cursor.execute(
            f"""
            INSERT INTO {target} (department_id, campaign_id, day, customers)
            WITH within AS ({within})
            SELECT department_id, %s, first_day, COUNT(*) FROM (
                SELECT w.department_id, d.customer_id, MIN(d.day) AS first_day
                FROM {delivery} d JOIN {moment} m ON m.id = d.moment_id JOIN within w ON w.associate_id = d.associate_id
                WHERE m.campaign_id = %s GROUP BY w.department_id, d.customer_id
            ) firsts GROUP BY department_id, first_day
            """,
            [campaign_id, campaign_id],
        )
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
    if stat == ASSOCIATE_DAY:
        associate_day_compute(dt.date.fromisoformat(bucket))
    elif stat == DEPARTMENT_DAY:
        department_day_compute(dt.date.fromisoformat(bucket))
    else:
        campaign_compute(int(bucket))


def rollups_refresh(*, progress: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Recompute every marked bucket, stat by stat; returns how many per stat."""
    done = dict.fromkeys(STATS, 0)
    clicks_mark()
    for stat in STATS:
        marks = list(RollupMark.objects.filter(stat=stat).order_by("bucket").values_list("pk", "bucket", "generation"))
        for pk, bucket, generation in marks:
            with transaction.atomic():
                _compute(stat, bucket)
                RollupMark.objects.filter(pk=pk, generation=generation).delete()
            done[stat] += 1
            if progress:
                progress(stat, bucket)
    return done
