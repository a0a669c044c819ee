"""Reads for the managers' dashboards (DESIGN.md §5.5), scoped to the requesting user.

Every figure comes from the roll-ups (``AssociateDay``, ``DepartmentDay``,
``DepartmentReach``, ``CampaignReach``, ``CampaignCustomer``), from the publish tasks
(the funnel: one row per associate and variant, not per customer) or from the last
forecast snapshot, so each page runs a fixed number of queries whatever the number of
deliveries. Tables are sorted and paginated in the database.

The scope of a page is a set of **units**, department subtrees that do not overlap: the
department chosen in the filter, else the user's top departments (a manager), else the
whole brand. Distinct reach of a unit is exact (``DepartmentReach``); a manager of two
subtrees sees the sum of both, which counts a customer of both twice (rare: a customer
added associates in two regions) — the page says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import (
    AssociateDay,
    CampaignAssociate,
    CampaignReach,
    DepartmentDay,
    DepartmentReach,
    ForecastAssociateDay,
    ForecastSnapshot,
)
from analytics.selectors import RulesBook, funnel_counts
from campaigns.channels import new_contacts_by_campaign
from campaigns.models import Campaign, ChannelCode, LinkClick, PublishTask, State
from staff.models import Associate, Contact, Department
from staff.selectors import associates_in_departments, departments_for_user, directory_scope

MAX_RANGE_DAYS = 366  # a date range longer than a year is a typo, not a question
PAGE_SIZE = 50
COUNTS = ("deliveries", "cap_loss", "verification_loss", "likes", "comments", "clicks")
FUNNEL = ("tasks", "notified", "opened", "requested", "published", "failed")  # funnel_counts' names


class FilterError(ValueError):
    """A filter a person typed that we cannot answer: the message says why."""


# --- filters and scope ---------------------------------------------------------------------------
@dataclass
class Filters:
    campaign: Campaign | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    department: Department | None = None
    errors: list[str] = field(default_factory=list)

    def as_query(self) -> dict[str, str]:
        query = {}
        if self.start:
            query["start"] = self.start.isoformat()
        if self.end:
            query["end"] = self.end.isoformat()
        if self.department:
            query["department"] = str(self.department.wecom_id)
        return query


def _date(value: str, label: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FilterError(_("%(label)s “%(value)s” is not a date: write it as YYYY-MM-DD.")
                          % {"label": label, "value": value[:20]}) from None  # fmt: skip


def filters_from(*, user, query) -> Filters:
    """The filters of a dashboard URL. What cannot be answered is dropped with a message in
    ``errors`` (the page shows them), never a server error."""
    filters = Filters()
    for name, label in (("start", _("First day")), ("end", _("Last day"))):
        try:
            setattr(filters, name, _date(query.get(name, ""), label))
        except FilterError as error:
            filters.errors.append(str(error))
    if filters.start and filters.end:
        if filters.end < filters.start:
            filters.errors.append(_("The last day is before the first day: the range was ignored."))
            filters.start = filters.end = None
        elif (filters.end - filters.start).days + 1 > MAX_RANGE_DAYS:
            filters.errors.append(
                _("A range of at most %(days)d days, please: the range was ignored.") % {"days": MAX_RANGE_DAYS}
            )
            filters.start = filters.end = None
    department = (query.get("department") or "").strip()
    if department:
        found = None
        if department.isascii() and department.isdigit() and len(department) < 12:
            found = departments_for_user(user=user).filter(wecom_id=int(department)).first()
        if found is None:
            filters.errors.append(_("There is no department “%(value)s” among yours: showing all of them.")
                                  % {"value": department[:30]})  # fmt: skip
        filters.department = found
    return filters


def units_for(*, user, filters: Filters) -> list[Department] | None:
    """The department subtrees the page covers; ``None`` = the whole brand (full scope, no
    department chosen)."""
    if filters.department is not None:
        return [filters.department]
    scope = directory_scope(user=user)
    if scope.everything:
        return None
    # the scope read the managed departments with their paths: no query here
    paths = scope.department_paths
    return [d for d in scope.departments if not any(d.path != q and d.path.startswith(q) for q in paths)]


def _associates_of(units: list[Department] | None) -> QuerySet[Associate] | None:
    """The associates of the units; ``None`` for the whole brand (no filter needed)."""
    if units is None:
        return None
    if not units:
        return Associate.objects.none()
    subtree = Q()
    for unit in units:
        subtree |= Q(path__startswith=unit.path)
    return associates_in_departments(Department.objects.filter(subtree))


def campaigns_for_user(*, user) -> QuerySet[Campaign]:
    """Campaigns past planning (a moment approved or later): all of them for full scope; for
    a manager, those that went out, or are forecast to go out, to someone of their subtrees."""
    from campaigns.models import Moment

    going = Moment.objects.filter(campaign=OuterRef("pk"), state__in=[State.APPROVED, State.SCHEDULED,
                                  State.DISPATCHING, State.LIVE, State.CLOSED])  # fmt: skip
    scope = directory_scope(user=user)
    if scope.everything:
        return Campaign.objects.filter(Exists(going))
    if scope.is_empty:
        return Campaign.objects.none()
    associates = _associates_of(units_for(user=user, filters=Filters()))
    mine = PublishTask.objects.filter(moment__campaign=OuterRef("pk"), associate__in=associates)
    # planned for them: the forecast gave them something to publish
    planned = ForecastAssociateDay.objects.filter(snapshot__campaign=OuterRef("pk"), associate__in=associates)
    return Campaign.objects.filter(Exists(going)).filter(Exists(mine) | Exists(planned))


def campaign_get_for_user(*, user, public_id) -> Campaign:
    found = campaigns_for_user(user=user).filter(public_id=public_id).select_related("owner").first()
    if found is None:
        raise Http404
    return found


# --- the campaign overview -----------------------------------------------------------------------
@dataclass
class Overview:
    deliveries: int = 0
    cap_loss: int = 0
    verification_loss: int = 0
    likes: int = 0
    comments: int = 0
    clicks: int = 0
    customers: int = 0  # distinct customers reached (by the end of the range)
    contacts: int = 0  # the reach rate's base
    new_contacts: int = 0  # contacts added through the campaign's channel QR codes
    several_units: bool = False  # distinct reach summed over several subtrees
    days: list[dict] = field(default_factory=list)  # day, deliveries, losses, engagement, clicks, reach so far
    funnel: dict = field(default_factory=dict)

    @property
    def reach_rate(self) -> float:
        return self.customers / self.contacts if self.contacts else 0.0

    @property
    def engagement(self) -> int:
        return self.likes + self.comments


def _in_range(rows, filters: Filters, column: str = "day"):
    if filters.start:
        rows = rows.filter(**{f"{column}__gte": filters.start})
    if filters.end:
        rows = rows.filter(**{f"{column}__lte": filters.end})
    return rows


def campaign_overview(*, user, campaign: Campaign, filters: Filters) -> Overview:
    """Totals, the per-day series with the reach so far, the funnel and the new contacts: 5 or 6 queries."""
    units = units_for(user=user, filters=filters)
    overview = Overview(several_units=units is not None and len(units) > 1)
    if units is None:
        # The root departments' subtrees are the whole brand: their DepartmentReach rows hold the
        # brand's first-reached histogram (a few rows, where CampaignCustomer holds millions).
        daily = DepartmentDay.objects.filter(campaign=campaign, department__parent__isnull=True)
        reach = DepartmentReach.objects.filter(campaign=campaign, department__parent__isnull=True)
    else:
        daily = DepartmentDay.objects.filter(campaign=campaign, department__in=units)
        reach = DepartmentReach.objects.filter(campaign=campaign, department__in=units)
    by_day = reach.values("day").annotate(n=Sum("customers"))
    firsts = {row["day"]: row["n"] for row in by_day if row["day"] is not None}
    base = sum(row["n"] or 0 for row in by_day if row["day"] is None)
    overview.contacts = base
    rows = _in_range(daily, filters).values("day").annotate(customers_that_day=Sum("customers"),
                                                            **{n: Sum(n) for n in COUNTS}).order_by("day")  # fmt: skip
    reached = sum(n for day, n in firsts.items() if filters.start and day < filters.start)
    for row in rows:
        reached += firsts.get(row["day"], 0)
        overview.days.append({**{k: v or 0 for k, v in row.items()}, "reach": reached})
        for name in COUNTS:
            setattr(overview, name, getattr(overview, name) + (row[name] or 0))
    if units is None:
        # The whole brand: also the clicks on enterprise moments' links, which have no associate.
        clicks = dict(_in_range(LinkClick.objects.filter(campaign=campaign), filters).values("day")
                      .annotate(n=Count("pk")).values_list("day", "n"))  # fmt: skip
        for day in overview.days:
            day["clicks"] = clicks.get(day["day"], 0)
        overview.clicks = sum(clicks.values())
    end = filters.end
    overview.customers = sum(n for day, n in firsts.items() if end is None or day <= end)
    overview.funnel = campaign_funnel(campaign=campaign, associates=_associates_of(units), filters=filters)
    overview.new_contacts = new_contacts_by_campaign([campaign.pk], _associates_of(units))[campaign.pk].total
    return overview


def _tasks(campaign: Campaign, associates: QuerySet[Associate] | None, filters: Filters) -> QuerySet[PublishTask]:
    """The publish tasks of the campaign's moments published on the filter's local days,
    of ``associates`` (None: all)."""
    tasks = PublishTask.objects.filter(moment__campaign=campaign)
    if associates is not None:
        tasks = tasks.filter(associate__in=associates)
    start, end = _publish_bounds(filters)
    if start:
        tasks = tasks.filter(moment__publish_at__gte=start)
    if end:
        tasks = tasks.filter(moment__publish_at__lt=end)
    return tasks


def campaign_funnel(*, campaign: Campaign, associates: QuerySet[Associate], filters: Filters) -> dict:
    """The funnel (``analytics.selectors.funnel_counts``: targeted → notified → opened →
    publish requested → published, and failed) over the tasks (one per associate and
    variant) of the campaign's moments in the range: one query. The whole campaign's is the
    sum of its per-associate roll-up (``CampaignAssociate``, as of the last roll-up run: the
    publish flow marks it); a range of days counts the tasks themselves."""
    if filters.start or filters.end:
        counts = _tasks(campaign, associates, filters).aggregate(**funnel_counts())
    else:
        rows = CampaignAssociate.objects.filter(campaign=campaign)
        if associates is not None:
            rows = rows.filter(associate__in=associates)
        counts = rows.aggregate(**{name: Sum(name) for name in FUNNEL})
    return {name: value or 0 for name, value in counts.items()}


# --- tables --------------------------------------------------------------------------------------
@dataclass
class Column:
    key: str
    label: str
    numeric: bool = True
    kind: str = ""  # "rate" (a share shown as %), "link" (to the row's url), "date"


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict]
    total: int
    page: int
    pages: int
    sort: str
    descending: bool

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _page(value, pages: int) -> int:
    try:
        page = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), max(pages, 1))


def _sort(query, columns: list[Column], default: str) -> tuple[str, bool]:
    raw = (query.get("sort") or "").strip()
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in {c.key for c in columns}:
        return default.lstrip("-"), default.startswith("-")
    return key, descending


def _fetch(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _stream(sql: str, params: list, size: int = 2000):
    """Rows of ``sql`` without holding them all (a server-side cursor on PostgreSQL, whose
    description is known only once the first rows are fetched)."""
    from django.db import transaction

    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        chunk = cursor.fetchmany(size)
        names = [c[0] for c in cursor.description]
        while chunk:
            for row in chunk:
                yield dict(zip(names, row, strict=True))
            chunk = cursor.fetchmany(size)


def _table_name(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _scope_sql(associates: QuerySet[Associate] | None) -> tuple[str, list]:
    if associates is None:
        return "", []
    # no ORDER BY inside IN (…): the model's default ordering would sort for nothing
    sql, params = associates.order_by().values("pk").query.sql_with_params()
    return f" AND t.associate_id IN ({sql})", list(params)


def _range_sql(filters: Filters, column: str) -> tuple[str, list]:
    sql, params = "", []
    if filters.start:
        sql, params = sql + f" AND {column} >= %s", params + [filters.start]
    if filters.end:
        sql, params = sql + f" AND {column} <= %s", params + [filters.end]
    return sql, params


def _tasks_sql(campaign: Campaign, associates, filters: Filters, group: str) -> tuple[str, list]:
    """Per ``group`` (a PublishTask field path) as ``grp``: the funnel counts
    (``funnel_counts``, the overview's and the admin's definition), as SQL to join."""
    grouped = _tasks(campaign, associates, filters).order_by().values(grp=F(group)).annotate(**funnel_counts())
    sql, params = grouped.query.sql_with_params()
    return sql, list(params)


def _publish_bounds(filters: Filters) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Moments published on local days [start, end] as bounds on the timestamp."""
    from analytics.rules import rules_for

    start = end = None
    if filters.start:
        start = dt.datetime.combine(filters.start, dt.time(), tzinfo=rules_for(filters.start).zone)
    if filters.end:
        end = dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time(), tzinfo=rules_for(filters.end).zone)
    return start, end


def _results_sql(campaign: Campaign, associates, filters: Filters, group: str) -> tuple[str, list]:
    """Per ``group`` (an expression over r = associate day, a = associate): the counts, over
    the scope's associates only."""
    source, associate = _table_name(AssociateDay), _table_name(Associate)
    rng, rng_params = _range_sql(filters, "r.day")
    scope, scope_params = _scope_sql(associates)
    scope = scope.replace("t.associate_id", "r.associate_id")
    sums = ", ".join(f"SUM(r.{name}) AS {name}" for name in COUNTS)
    sql = f"""
        SELECT {group} AS grp, {sums}
        FROM {source} r JOIN {associate} a ON a.id = r.associate_id
        WHERE r.campaign_id = %s{scope}{rng}
        GROUP BY {group}
    """
    return sql, [campaign.pk, *scope_params, *rng_params]


LEADER_COLUMNS_COMMON = [
    ("tasks", "Tasks"),
    ("notified", "Notified"),
    ("opened", "Opened"),
    ("requested", "Publish requested"),
    ("published", "Published"),
    ("completion", "Completion"),
    ("deliveries", "Deliveries"),
    ("cap_loss", "Cap loss"),
    ("verification_loss", "Verification loss"),
    ("likes", "Likes"),
    ("comments", "Comments"),
    ("clicks", "CTA clicks"),
    ("new_contacts", "New contacts"),
]


def _common_columns() -> list[Column]:
    labels = {
        "tasks": _("Tasks"), "notified": _("Notified"), "opened": _("Opened"),
        "requested": _("Publish requested"), "published": _("Published"), "completion": _("Completion"),
        "deliveries": _("Deliveries"), "cap_loss": _("Cap loss"), "verification_loss": _("Verification loss"),
        "likes": _("Likes"), "comments": _("Comments"), "clicks": _("CTA clicks"),
        "new_contacts": _("New contacts"),
    }  # fmt: skip
    return [Column(key, labels[key], kind="rate" if key == "completion" else "") for key, _label in
            LEADER_COLUMNS_COMMON]  # fmt: skip


def leaderboard_columns(by: str) -> list[Column]:
    if by == "store":
        first = [Column("name", _("Store"), numeric=False), Column("associates", _("Associates"))]
    else:
        first = [
            Column("name", _("Associate"), numeric=False, kind="link"),
            Column("department", _("Store"), numeric=False),
            Column("verified", _("Verified"), numeric=False),
        ]
    return first + _common_columns()


def _rolled_sql(campaign: Campaign, associates, by: str) -> tuple[str, list]:
    """Per associate (or store: main department) as ``grp``, the funnel and the results of
    the whole campaign from its per-associate roll-up (``CampaignAssociate``): the
    associates given a task, over the scope's associates only."""
    rolled, associate = _table_name(CampaignAssociate), _table_name(Associate)
    scope, scope_params = _scope_sql(associates)
    scope = scope.replace("t.associate_id", "ca.associate_id")
    names = (*FUNNEL[:-1], *COUNTS)
    if by == "store":
        sums = ", ".join(f"SUM(ca.{name}) AS {name}" for name in names)
        sql = (f"SELECT a.main_department_id AS grp, {sums} FROM {rolled} ca "
               f"JOIN {associate} a ON a.id = ca.associate_id "
               f"WHERE ca.campaign_id = %s AND ca.assigned > 0{scope} GROUP BY a.main_department_id")  # fmt: skip
    else:
        columns = ", ".join(f"ca.{name}" for name in names)
        sql = (f"SELECT ca.associate_id AS grp, {columns} FROM {rolled} ca "
               f"WHERE ca.campaign_id = %s AND ca.assigned > 0{scope}")  # fmt: skip
    return sql, [campaign.pk, *scope_params]


def _leaderboard_sql(*, campaign, associates, filters: Filters, by: str) -> tuple[str, list]:
    group = "a.main_department_id" if by == "store" else "a.id"
    if filters.start or filters.end:  # a range of days: from the tasks and the associate days
        task_group = "associate__main_department_id" if by == "store" else "associate_id"
        tasks_sql, tasks_params = _tasks_sql(campaign, associates, filters, task_group)
        results_sql, results_params = _results_sql(campaign, associates, filters, group)
        source = f"({tasks_sql}) t LEFT JOIN ({results_sql}) r ON r.grp = t.grp"
        params, counts_of = [*tasks_params, *results_params], "r"
    else:  # the whole campaign: its per-associate roll-up
        rolled_sql, params = _rolled_sql(campaign, associates, by)
        source, counts_of = f"({rolled_sql}) t", "t"
    counts = ", ".join(f"COALESCE({counts_of}.{name}, 0) AS {name}" for name in COUNTS)
    completion = "CASE WHEN t.tasks > 0 THEN 1.0 * t.published / t.tasks ELSE 0 END AS completion"
    funnel = "t.tasks, t.notified, t.opened, t.requested, t.published"
    if by == "store":
        department, associate = _table_name(Department), _table_name(Associate)
        head = (f"d.name AS name, d.wecom_id AS key, (SELECT COUNT(*) FROM {associate} x "
                f"WHERE x.main_department_id = t.grp) AS associates")  # fmt: skip
        join = f"LEFT JOIN {department} d ON d.id = t.grp"
    else:
        department, associate = _table_name(Department), _table_name(Associate)
        head = ("a.name AS name, a.userid AS key, d.name AS department, "
                "CASE WHEN a.is_verified THEN 1 ELSE 0 END AS verified")  # fmt: skip
        join = f"JOIN {associate} a ON a.id = t.grp LEFT JOIN {department} d ON d.id = a.main_department_id"
    code, contact, member = _table_name(ChannelCode), _table_name(Contact), _table_name(Associate)
    member_group = "x.main_department_id" if by == "store" else "x.id"
    # Contacts added through the campaign's channel codes (the state of the add), per group.
    joined = f"""
        SELECT {member_group} AS grp, COUNT(*) AS n
        FROM {code} cc JOIN {contact} c ON c.state = cc.state AND c.associate_id = cc.associate_id
        JOIN {member} x ON x.id = cc.associate_id
        WHERE cc.campaign_id = %s GROUP BY {member_group}
    """
    sql = f"""
        SELECT {head}, {funnel}, {completion}, {counts}, COALESCE(nc.n, 0) AS new_contacts
        FROM {source} LEFT JOIN ({joined}) nc ON nc.grp = t.grp {join}
    """
    return sql, [*params, campaign.pk]


def leaderboard(*, user, campaign: Campaign, filters: Filters, by: str, query) -> Table:
    """Associates (or stores: the associates' main departments) of the scope with their
    funnel and results, sorted and paginated in the database: 2 queries."""
    columns = leaderboard_columns(by)
    sort, descending = _sort(query, columns, "-completion")
    associates = _associates_of(units_for(user=user, filters=filters))
    sql, params = _leaderboard_sql(campaign=campaign, associates=associates, filters=filters, by=by)
    order = f"{sort} {'DESC' if descending else 'ASC'}, key ASC"
    # One pass: the page and, on each row, the total (the grouping is not done twice).
    counted = f"SELECT rows.*, COUNT(*) OVER () AS total_rows FROM ({sql}) rows ORDER BY {order} LIMIT %s OFFSET %s"
    wanted = _page(query.get("page"), 10**9)
    rows = _fetch(counted, [*params, PAGE_SIZE, (wanted - 1) * PAGE_SIZE])
    if not rows and wanted > 1:  # past the end: the last page
        total = _fetch(f"SELECT COUNT(*) AS n FROM ({sql}) rows", params)[0]["n"]
        wanted = max(1, -(-total // PAGE_SIZE))
        rows = _fetch(counted, [*params, PAGE_SIZE, (wanted - 1) * PAGE_SIZE])
    total = rows[0]["total_rows"] if rows else 0
    for row in rows:
        del row["total_rows"]
    pages = max(1, -(-total // PAGE_SIZE))
    return Table(columns, rows, total, wanted, pages, sort, descending)


def leaderboard_rows(*, user, campaign: Campaign, filters: Filters, by: str, query):
    """Every row of the leaderboard in its order (the CSV export), streamed."""
    columns = leaderboard_columns(by)
    sort, descending = _sort(query, columns, "-completion")
    associates = _associates_of(units_for(user=user, filters=filters))
    sql, params = _leaderboard_sql(campaign=campaign, associates=associates, filters=filters, by=by)
    yield from _stream(f"{sql} ORDER BY {sort} {'DESC' if descending else 'ASC'}, key ASC", params)


# --- readiness -----------------------------------------------------------------------------------
READINESS_KINDS = ("unverified", "no_photo", "near_limit")
NEAR_SHARE = 0.9  # "near the limit": at least 90% of the unverified reach limit used


def readiness_columns() -> list[Column]:
    return [
        Column("name", _("Associate"), numeric=False, kind="link"),
        Column("department", _("Store"), numeric=False),
        Column("contacts", _("Contacts")),
        Column("lost", _("Customers out of reach")),
        Column("verified", _("Verified"), numeric=False),
        Column("photo", _("Profile photo"), numeric=False),
    ]


def _readiness_sql(*, associates: QuerySet[Associate], kind: str | None, limit: int) -> tuple[str, list]:
    """The accounts of one kind to fix, or (``kind=None``) of any kind, with their active
    contacts: counted in one grouped pass (index-only, ``contact_active_associate``) over the
    associates who need it (when ``kind`` is None, the unverified: only they lose customers)."""
    associate, contact, department = _table_name(Associate), _table_name(Contact), _table_name(Department)
    associates = Associate.objects.all() if associates is None else associates
    scope_sql, scope_params = associates.filter(is_active=True).order_by().values("pk").query.sql_with_params()
    where = {
        "unverified": "NOT {a}.is_verified",
        "no_photo": "({a}.avatar IS NULL OR {a}.avatar = '')",
        "near_limit": "NOT {a}.is_verified",
        None: "(NOT {a}.is_verified OR {a}.avatar IS NULL OR {a}.avatar = '')",
    }[kind]
    counted = "NOT {a}.is_verified" if kind is None else where
    having = ""
    params = [limit, *scope_params, *scope_params]
    if kind == "near_limit":
        having = " WHERE contacts >= %s AND contacts <= %s"
        params_tail = [int(limit * NEAR_SHARE), limit]
    else:
        params_tail = []
    sql = f"""
        SELECT * FROM (
            SELECT a.name AS name, a.userid AS key, d.name AS department,
                   COALESCE(n.contacts, 0) AS contacts,
                   CASE WHEN a.is_verified THEN 1 ELSE 0 END AS verified,
                   CASE WHEN a.avatar IS NULL OR a.avatar = '' THEN 0 ELSE 1 END AS photo,
                   %s AS reach_limit
            FROM {associate} a LEFT JOIN {department} d ON d.id = a.main_department_id
            LEFT JOIN (
                SELECT c.associate_id, COUNT(*) AS contacts FROM {contact} c
                WHERE c.is_active AND c.associate_id IN (
                    SELECT u.id FROM {associate} u WHERE {counted.format(a="u")} AND u.id IN ({scope_sql}))
                GROUP BY c.associate_id
            ) n ON n.associate_id = a.id
            WHERE a.id IN ({scope_sql}) AND {where.format(a="a")}
        ) x{having}
    """
    lost = "CASE WHEN verified = 0 AND contacts > reach_limit THEN contacts - reach_limit ELSE 0 END"
    return f"SELECT name, key, department, contacts, {lost} AS lost, verified, photo FROM ({sql}) y", [
        *params,
        *params_tail,
    ]


@dataclass
class Readiness:
    unverified: int
    no_photo: int
    near_limit: int
    customers_lost: int
    limit: int
    table: Table | None = None


def readiness(*, user, filters: Filters, kind: str, query) -> Readiness:
    """Accounts to fix, with the customers they cost: 4 queries (counts, then one page)."""
    limit = RulesBook().on(timezone.localdate()).unverified_reach_limit
    associates = _associates_of(units_for(user=user, filters=filters))
    # The three counts in one pass over the accounts to fix (each associate's contacts counted once).
    sql, params = _readiness_sql(associates=associates, kind=None, limit=limit)
    counts = _fetch(f"""SELECT COUNT(*) FILTER (WHERE verified = 0) AS unverified,
                              SUM(lost) FILTER (WHERE verified = 0) AS lost,
                              COUNT(*) FILTER (WHERE photo = 0) AS no_photo,
                              COUNT(*) FILTER (WHERE verified = 0 AND contacts >= %s AND contacts <= %s) AS near_limit
                       FROM ({sql}) z""", [int(limit * NEAR_SHARE), limit, *params])[0]  # fmt: skip
    summary = {name: {"n": counts[name] or 0} for name in READINESS_KINDS}
    result = Readiness(
        unverified=summary["unverified"]["n"],
        no_photo=summary["no_photo"]["n"],
        near_limit=summary["near_limit"]["n"],
        customers_lost=counts["lost"] or 0,
        limit=limit,
    )
    columns = readiness_columns()
    sort, descending = _sort(query, columns, "-lost" if kind == "unverified" else "-contacts")
    sql, params = _readiness_sql(associates=associates, kind=kind, limit=limit)
    total = summary[kind]["n"]
    pages = max(1, -(-total // PAGE_SIZE))
    page = _page(query.get("page"), pages)
    rows = _fetch(f"{sql} ORDER BY {sort} {'DESC' if descending else 'ASC'}, key ASC LIMIT %s OFFSET %s",
                  [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE])  # fmt: skip
    result.table = Table(columns, rows, total, page, pages, sort, descending)
    return result


def readiness_rows(*, user, filters: Filters, kind: str, query):
    limit = RulesBook().on(timezone.localdate()).unverified_reach_limit
    columns = readiness_columns()
    sort, descending = _sort(query, columns, "-lost" if kind == "unverified" else "-contacts")
    associates = _associates_of(units_for(user=user, filters=filters))
    sql, params = _readiness_sql(associates=associates, kind=kind, limit=limit)
    yield from _stream(f"{sql} ORDER BY {sort} {'DESC' if descending else 'ASC'}, key ASC", params)


# --- forecast vs actual --------------------------------------------------------------------------
@dataclass
class ForecastVsActual:
    snapshot: ForecastSnapshot | None
    days: list[dict]  # day, forecast and actual deliveries, cap loss, verification loss
    brand_reach: int | None = None  # the forecast's distinct reach (whole brand only)
    brand_contacts: int | None = None

    @property
    def totals(self) -> dict:
        keys = [f"{side}_{name}" for side in ("forecast", "actual")
                for name in ("deliveries", "cap_loss", "verification_loss")]  # fmt: skip
        return {key: sum(day[key] for day in self.days) for key in keys}


def forecast_vs_actual(*, user, campaign: Campaign, filters: Filters) -> ForecastVsActual:
    """The last forecast snapshot of the campaign next to the results, per day, over the
    associates of the scope: 3 queries."""
    units = units_for(user=user, filters=filters)
    snapshot = ForecastSnapshot.objects.filter(campaign=campaign).order_by("-computed_at").first()
    names = ("deliveries", "cap_loss", "verification_loss")
    days: dict[dt.date, dict] = {}

    def row(day):
        return days.setdefault(day, {"day": day, **{f"{s}_{n}": 0 for s in ("forecast", "actual") for n in names}})

    if snapshot is not None:
        planned = ForecastAssociateDay.objects.filter(snapshot=snapshot)
        if units is not None:
            planned = planned.filter(associate__in=_associates_of(units))
        for line in _in_range(planned, filters).values("day").annotate(**{n: Sum(n) for n in names}):
            for name in names:
                row(line["day"])[f"forecast_{name}"] = line[name] or 0
    actual = AssociateDay.objects.filter(campaign=campaign)
    if units is not None:
        actual = actual.filter(associate__in=_associates_of(units))
    for line in _in_range(actual, filters).values("day").annotate(**{n: Sum(n) for n in names}):
        for name in names:
            row(line["day"])[f"actual_{name}"] = line[name] or 0
    result = ForecastVsActual(snapshot=snapshot, days=[days[d] for d in sorted(days)])
    if snapshot is not None and units is None:
        result.brand_reach, result.brand_contacts = snapshot.reach, snapshot.contacts
    return result


# --- the campaigns list --------------------------------------------------------------------------
def campaigns_overview(*, user) -> list[dict]:
    """Each campaign the user may see with its headline numbers (whole brand or the user's
    subtrees): 3 queries whatever the number of campaigns (the list is short: campaigns
    are planned by hand)."""
    campaigns = list(campaigns_for_user(user=user).order_by("-starts_on", "-id")[:200])
    ids = [c.pk for c in campaigns]
    units = units_for(user=user, filters=Filters())
    if units is None:
        totals = {r["campaign_id"]: r for r in CampaignReach.objects.filter(campaign_id__in=ids).values()}
    else:
        totals = {}
        for line in (
            DepartmentReach.objects.filter(campaign_id__in=ids, department__in=units)
            .values("campaign_id")
            .annotate(reached=Sum("customers", filter=Q(day__isnull=False)),
                      base=Sum("customers", filter=Q(day__isnull=True)))
        ):  # fmt: skip
            totals[line["campaign_id"]] = {"customers": line["reached"], "contacts": line["base"]}
    # Published tasks from the per-associate roll-up (as the campaign's funnel), not every task.
    rolled = CampaignAssociate.objects.filter(campaign_id__in=ids)
    if units is not None:
        rolled = rolled.filter(associate__in=_associates_of(units))
    published = dict(
        rolled.values("campaign_id").annotate(n=Sum("published")).values_list("campaign_id", "n")
    ) if ids else {}  # fmt: skip
    lines = []
    for campaign in campaigns:
        line = totals.get(campaign.pk) or {}
        customers, contacts = line.get("customers") or 0, line.get("contacts") or 0
        lines.append({
            "campaign": campaign,
            "customers": customers,
            "contacts": contacts,
            "reach_rate": customers / contacts if contacts else 0.0,
            "published": published.get(campaign.pk, 0),
        })  # fmt: skip
    return lines


def department_choices(*, user) -> QuerySet[Department]:
    """The departments a user may filter by (their subtrees), in tree order."""
    departments = departments_for_user(user=user).exclude(kind=Department.Kind.OTHER)
    if directory_scope(user=user).everything:
        # Thousands of stores make a select nobody can use (and a slow page): the brand's regions;
        # a store is reached through its region's leaderboard, or by its id in the URL.
        departments = departments.exclude(kind=Department.Kind.STORE)
    return departments.order_by("path")[:200]
