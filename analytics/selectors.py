"""Reads of reach, always scoped to the requesting user (DESIGN.md §5.5, §7): marketing
admins and approvers see the whole brand, a manager the associates of their subtrees and
what those associates delivered. Each read is a bounded number of queries whatever the
size: the facts are read through their indexes, the totals from the roll-ups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from analytics.models import (
    AssociateDay,
    CampaignCustomer,
    CampaignReach,
    Delivery,
    DepartmentDay,
    PlatformRules,
    Post,
)
from analytics.rules import Rules, local_day
from campaigns.models import PublishTask
from staff.selectors import associates_for_user, departments_for_user, directory_scope


# --- the rules of many days at once ------------------------------------------------------------
class RulesBook:
    """Every PlatformRules version, read once: the rules of any number of days without a
    query per day."""

    def __init__(self):
        from django.conf import settings

        self._versions = [
            (v.effective_from, Rules(feed_cap=v.feed_cap, unverified_reach_limit=v.unverified_reach_limit,
                                     enterprise_monthly_cap=v.enterprise_monthly_cap, time_zone=v.time_zone))
            for v in PlatformRules.objects.order_by("effective_from")
        ]  # fmt: skip
        self._default = Rules(time_zone=settings.TIME_ZONE)

    def on(self, day: dt.date) -> Rules:
        found = self._default
        for effective_from, rules in self._versions:
            if effective_from > day:
                break
            found = rules
        return found


# --- per contact ---------------------------------------------------------------------------------
def deliveries_for_user(*, user) -> QuerySet[Delivery]:
    scope = directory_scope(user=user)
    if scope.everything:
        return Delivery.objects.all()
    if scope.is_empty:
        return Delivery.objects.none()
    return Delivery.objects.filter(associate__in=associates_for_user(user=user))


def customer_timeline(*, user, customer) -> QuerySet[Delivery]:
    """Every moment delivered to ``customer`` (newest day first), from whom, and which of
    that associate's daily slots it took (``slot``) of how many used that day (``used``).
    A manager sees what their associates delivered. Rows carry ``feed_cap`` once
    ``timeline_caps`` has run over the page."""
    partition = [F("associate_id"), F("day")]
    return (
        deliveries_for_user(user=user)
        .filter(customer=customer)
        .select_related("associate", "post", "moment__campaign")
        .annotate(
            slot=Window(RowNumber(), partition_by=partition, order_by=[F("post__created_at").asc(), F("post_id")]),
            used=Window(Count("id"), partition_by=partition),
        )
        .order_by("-day", "associate__name", "slot")
    )


def timeline_caps(rows, book: RulesBook | None = None) -> list:
    """The feed cap in force on each row's day (one read of the rules for the whole page)."""
    book = book or RulesBook()
    for row in rows:
        row.feed_cap = book.on(row.day).feed_cap
    return rows


def associate_slots(*, associate, start: dt.date, end: dt.date) -> QuerySet:
    """Slots used per (customer, day) by ``associate`` in [start, end], fullest first."""
    return (
        Delivery.objects.filter(associate=associate, day__range=(start, end))
        .values("day", "customer_id", "customer__external_userid", "customer__name")
        .annotate(used=Count("id"))
        .order_by("-day", "-used", "customer_id")
    )


# --- per associate -------------------------------------------------------------------------------
def feed_slots_left(*, associate_id: int, now: dt.datetime | None = None) -> int:
    """Moments the associate can still publish today before their customers' feeds hide
    them (DESIGN.md §4): the feed cap of the rules in force on the local day of ``now``,
    minus what already takes a slot that day —

    - the associate's posts that went out that day as WeCom says (results sync's facts):
      their personal posts created that day, and every post (enterprise ones included) with
      a delivery from them dated that day;
    - their publish requests of that day (asked for or confirmed, not yet in those facts):
      a task whose WeCom moment is already counted above is not counted twice.

    Three queries (the rules, the posts, the requests)."""
    now = now or timezone.now()
    day, rules = local_day(now)
    start = dt.datetime.combine(day, dt.time(), tzinfo=rules.zone)
    end = start + dt.timedelta(days=1)
    went_out = Post.objects.filter(
        Q(kind=Post.Kind.PERSONAL, creator_id=associate_id, created_at__gte=start, created_at__lt=end)
        | Q(pk__in=Delivery.objects.filter(associate_id=associate_id, day=day).values("post_id"))
    )
    posts = went_out.count()
    requested = (
        PublishTask.objects.filter(
            associate_id=associate_id, state__in=[PublishTask.State.PUBLISH_REQUESTED, PublishTask.State.PUBLISHED]
        )
        .annotate(asked_at=Coalesce("publish_requested_at", "published_at"))
        .filter(asked_at__gte=start, asked_at__lt=end)
        .exclude(wecom_moment_id__in=went_out.values("wecom_moment_id"))
        .count()
    )
    return max(0, rules.feed_cap - posts - requested)


# --- the completion funnel -----------------------------------------------------------------------
def funnel_counts() -> dict:
    """The completion funnel of publish tasks (one per associate and variant), defined once
    for the admin's moment page, the dashboards and their API: aggregate expressions for
    ``QuerySet[PublishTask].aggregate`` or ``.annotate``.

    - ``tasks`` (targeted): the tasks not cancelled — a cancelled task is nobody's work;
    - each step counts those tasks that reached it *or a later step*, by timestamp or state:
      ``notified`` (our card sent), ``opened`` (the page seen), ``requested`` (Publish
      pressed), ``published`` (confirmed by WeCom). So no step counts more than the one
      before, a task keeps the steps it reached when it expires, and one published in WeCom
      before our card (enterprise mode: WeCom pushes the task itself) counts at every step;
    - ``failed``: beside the funnel, the tasks WeCom refused (their reasons are in the admin).
    """
    states = PublishTask.State
    targeted = ~Q(state=states.CANCELLED)
    published = Q(state=states.PUBLISHED)
    requested = published | Q(state=states.PUBLISH_REQUESTED) | Q(publish_requested_at__isnull=False)
    opened = requested | Q(opened_at__isnull=False)
    notified = opened | Q(notified_at__isnull=False)
    return {
        "tasks": Count("pk", filter=targeted),
        "notified": Count("pk", filter=targeted & notified),
        "opened": Count("pk", filter=targeted & opened),
        "requested": Count("pk", filter=targeted & requested),
        "published": Count("pk", filter=published),
        "failed": Count("pk", filter=Q(state=states.FAILED)),
    }


def moment_funnel(moment) -> dict[str, int]:
    """The funnel (``funnel_counts``) of one moment's tasks: one query."""
    counts = PublishTask.objects.filter(moment=moment).aggregate(**funnel_counts())
    return {name: value or 0 for name, value in counts.items()}


# --- per campaign ----------------------------------------------------------------------------------
@dataclass
class CampaignResult:
    deliveries: int = 0
    customers: int = 0  # distinct customers reached (the campaign's reach)
    cap_loss: int = 0
    verification_loss: int = 0
    likes: int = 0
    comments: int = 0
    contacts: int = 0  # distinct customers among the tasked associates' contacts (the reach rate's base)
    by_day: list[dict] | None = None  # day, deliveries, customers that day, reach so far

    @property
    def reach_rate(self) -> float:
        return self.customers / self.contacts if self.contacts else 0.0


_COUNTS = ("deliveries", "cap_loss", "verification_loss", "likes", "comments")


def campaign_result(*, user, campaign) -> CampaignResult:
    """The campaign's results as the user may see them, in a fixed number of queries: the
    whole brand's from the roll-ups; a manager's subtree from its departments' roll-ups,
    with its distinct reach counted from the facts of the subtree's associates (never
    summed over departments or days)."""
    scope = directory_scope(user=user)
    result = CampaignResult()
    if scope.everything:
        totals = CampaignReach.objects.filter(campaign=campaign).values(*_COUNTS, "customers", "contacts").first()
        for name, value in (totals or {}).items():
            setattr(result, name, value)
        # The root's subtree is the whole brand: its daily distinct customers are the brand's.
        rows = DepartmentDay.objects.filter(campaign=campaign, department__parent__isnull=True)
        first_days = CampaignCustomer.objects.filter(campaign=campaign).values("first_day").annotate(n=Count("pk"))
        new = {row["first_day"]: row["n"] for row in first_days}
    else:
        rows = DepartmentDay.objects.filter(campaign=campaign, department__in=_top_departments(user))
        for name, value in rows.aggregate(**{name: Sum(name) for name in _COUNTS}).items():
            setattr(result, name, value or 0)
        facts = deliveries_for_user(user=user).filter(moment__campaign=campaign)
        result.customers = facts.values("customer_id").distinct().count()
        new = _first_days(facts)
        result.contacts = _contacts(campaign, associates_for_user(user=user))
    daily = rows.values("day").annotate(deliveries=Sum("deliveries"), customers=Sum("customers")).order_by("day")
    so_far = 0
    result.by_day = []
    for row in daily:
        so_far += new.get(row["day"], 0)
        result.by_day.append({"day": row["day"], "deliveries": row["deliveries"] or 0,
                              "customers": row["customers"] or 0, "reach": so_far})  # fmt: skip
    return result


def _first_days(facts: QuerySet[Delivery]) -> dict[dt.date, int]:
    """How many customers were reached first on each day: distinct reach up to any day is
    the running sum (one GROUP BY over a GROUP BY, in the database)."""
    sql, params = facts.values("customer_id").annotate(first=Min("day")).values("first").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT first, COUNT(*) FROM ({sql}) firsts GROUP BY first", params)
        return {_date(day): n for day, n in cursor.fetchall()}


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _contacts(campaign, associates) -> int:
    """Distinct customers among the active contacts of the campaign's associates (those
    given a task) within ``associates``: the reach rate's base."""
    from campaigns.models import PublishTask
    from staff.models import Contact

    tasked = PublishTask.objects.filter(moment__campaign=campaign, associate__in=associates).values("associate_id")
    return Contact.objects.filter(is_active=True, associate_id__in=tasked).values("customer_id").distinct().count()


def _top_departments(user) -> QuerySet:
    """The user's scope as departments whose subtrees do not overlap: the roll-up of a
    subtree already contains its sub-departments."""
    scope = directory_scope(user=user)
    paths = sorted(scope.department_paths)
    tops = [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]
    return departments_for_user(user=user).filter(path__in=tops)


def associate_result(*, associate, campaign=None) -> dict:
    rows = AssociateDay.objects.filter(associate=associate)
    if campaign is not None:
        rows = rows.filter(campaign=campaign)
    totals = rows.aggregate(**{name: Sum(name) for name in _COUNTS})
    facts = Delivery.objects.filter(associate=associate, moment__isnull=False)
    if campaign is not None:
        facts = facts.filter(moment__campaign=campaign)
    by_day = list(rows.values("day").annotate(**{n: Sum(n) for n in (*_COUNTS, "customers")}).order_by("day"))
    return {
        **{name: value or 0 for name, value in totals.items()},
        "customers": facts.values("customer_id").distinct().count(),
        "by_day": by_day,
    }
