"""The managers' dashboards (DESIGN.md §5.5): server-rendered pages with a login of their
own (not the admin), scoped to the user's departments, charts drawn by the self-hosted
ECharts from numbers the page carries as JSON, every table sortable, paginated and
downloadable as CSV (``?format=csv``). The reads are in ``analytics.dashboards``."""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from analytics import dashboards, edited_posts, exports
from analytics.models import AssociateDay, Delivery
from analytics.selectors import RulesBook, customer_timeline, deliveries_for_user, timeline_caps
from campaigns.models import PublishTask
from staff.selectors import associates_for_user, customers_for_user, directory_scope

VIEW_REACH = "analytics.view_delivery"


class LoginView(auth_views.LoginView):
    template_name = "dashboards/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("dashboards:index")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("dashboards:login")


def dashboard(view):
    """Logged in (else the dashboards' login page) with the right to read reach."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('dashboards:login')}?next={request.get_full_path()}")
        if not request.user.has_perm(VIEW_REACH):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return require_GET(wrapper)


def _context(request, filters: dashboards.Filters | None = None, **extra) -> dict:
    scope = directory_scope(user=request.user)
    return {
        "filters": filters or dashboards.Filters(),
        "departments": dashboards.department_choices(user=request.user),
        "full_scope": scope.everything,
        "csv_url": _with(request, format="csv", page=None),
        **extra,
    }


def _with(request, **changes) -> str:
    query = request.GET.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return f"{request.path}?{query.urlencode()}" if query else request.path


def _wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def _table_csv(filename: str, columns: list[dashboards.Column], rows) -> HttpResponse:
    return exports.table_csv(filename=filename, columns=columns, rows=rows)


# --- pages ---------------------------------------------------------------------------------------
@dashboard
def index(request: HttpRequest) -> HttpResponse:
    lines = dashboards.campaigns_overview(user=request.user)
    if _wants_csv(request):
        header = [_("Campaign"), _("First day"), _("Last day"), _("State"), _("Customers reached"),
                  _("Customers among the associates' contacts"), _("Reach rate"), _("Published")]  # fmt: skip
        return exports.csv_response(filename="campaigns", header=header, rows=lines, row_values=lambda line: [
            line["campaign"].name, line["campaign"].starts_on, line["campaign"].ends_on,
            line["campaign"].get_state_display(), line["customers"], line["contacts"],
            f"{line['reach_rate']:.4f}", line["published"]])  # fmt: skip
    return render(request, "dashboards/index.html", _context(request, lines=lines))


def _campaign(request, public_id):
    campaign = dashboards.campaign_get_for_user(user=request.user, public_id=public_id)
    filters = dashboards.filters_from(user=request.user, query=request.GET)
    filters.campaign = campaign
    return campaign, filters


@dashboard
def campaign(request: HttpRequest, public_id) -> HttpResponse:
    campaign, filters = _campaign(request, public_id)
    overview = dashboards.campaign_overview(user=request.user, campaign=campaign, filters=filters)
    columns = [
        dashboards.Column("day", _("Day"), numeric=False, kind="date"),
        dashboards.Column("reach", _("Reached so far")),
        dashboards.Column("customers_that_day", _("Customers that day")),
        dashboards.Column("deliveries", _("Deliveries")),
        dashboards.Column("cap_loss", _("Cap loss")),
        dashboards.Column("verification_loss", _("Verification loss")),
        dashboards.Column("likes", _("Likes")),
        dashboards.Column("comments", _("Comments")),
        dashboards.Column("clicks", _("CTA clicks")),
    ]
    if _wants_csv(request):
        return _table_csv(f"{campaign.name}-days", columns, overview.days)
    chart = {
        "days": [d["day"].isoformat() for d in overview.days],
        "reach": [d["reach"] for d in overview.days],
        "deliveries": [d["deliveries"] for d in overview.days],
        "cap_loss": [d["cap_loss"] for d in overview.days],
        "verification_loss": [d["verification_loss"] for d in overview.days],
        "engagement": [d["likes"] + d["comments"] for d in overview.days],
        "clicks": [d["clicks"] for d in overview.days],
        "contacts": overview.contacts,
        "funnel": [{"name": str(label), "value": overview.funnel[key]} for key, label in _funnel_labels()],
        "labels": {"reach": _("Reached so far"), "deliveries": _("Deliveries"), "cap_loss": _("Cap loss"),
                   "verification_loss": _("Verification loss"), "engagement": _("Likes and comments"),
                   "clicks": _("CTA clicks")},
    }  # fmt: skip
    context = _context(request, filters, campaign=campaign, overview=overview, columns=columns, chart=chart,
                       funnel=[(label, overview.funnel[key]) for key, label in _funnel_labels()],
                       rows=overview.days, section="overview")  # fmt: skip
    return render(request, "dashboards/campaign.html", context)


def _funnel_labels():
    return [("notified", _("Notified")), ("opened", _("Opened")), ("requested", _("Publish requested")),
            ("published", _("Published"))]  # fmt: skip


@dashboard
def leaderboard(request: HttpRequest, public_id) -> HttpResponse:
    campaign, filters = _campaign(request, public_id)
    by = "store" if request.GET.get("by") == "store" else "associate"
    if _wants_csv(request):
        rows = dashboards.leaderboard_rows(user=request.user, campaign=campaign, filters=filters, by=by,
                                           query=request.GET)  # fmt: skip
        return _table_csv(f"{campaign.name}-{by}", dashboards.leaderboard_columns(by), rows)
    table = dashboards.leaderboard(user=request.user, campaign=campaign, filters=filters, by=by, query=request.GET)
    for row in table.rows:
        if by == "associate":
            row["url"] = reverse("dashboards:associate", args=[row["key"]]) + f"?campaign={campaign.public_id}"
    context = _context(request, filters, campaign=campaign, table=table, by=by, section=f"leaderboard-{by}")
    return render(request, "dashboards/leaderboard.html", context)


@dashboard
def edited(request: HttpRequest, public_id) -> HttpResponse:
    """The campaign's posts with a personal touch: what each associate wrote and what WeCom received."""
    campaign, filters = _campaign(request, public_id)
    if _wants_csv(request):
        rows = edited_posts.edited_posts_rows(user=request.user, campaign=campaign, filters=filters, query=request.GET)
        return _table_csv(f"{campaign.name}-edited-posts", edited_posts.edited_posts_columns(), rows)
    table = edited_posts.edited_posts(user=request.user, campaign=campaign, filters=filters, query=request.GET)
    for row in table.rows:
        row["url"] = reverse("dashboards:associate", args=[row["key"]]) + f"?campaign={campaign.public_id}"
    context = _context(request, filters, campaign=campaign, table=table, section="edited")
    return render(request, "dashboards/edited.html", context)


@dashboard
def forecast(request: HttpRequest, public_id) -> HttpResponse:
    campaign, filters = _campaign(request, public_id)
    result = dashboards.forecast_vs_actual(user=request.user, campaign=campaign, filters=filters)
    names = [("deliveries", _("Deliveries")), ("cap_loss", _("Cap loss")), ("verification_loss",
             _("Verification loss"))]  # fmt: skip
    columns = [dashboards.Column("day", _("Day"), numeric=False, kind="date")]
    for name, label in names:
        columns += [dashboards.Column(f"forecast_{name}", _("%(what)s, forecast") % {"what": label}),
                    dashboards.Column(f"actual_{name}", _("%(what)s, actual") % {"what": label})]  # fmt: skip
    if _wants_csv(request):
        return _table_csv(f"{campaign.name}-forecast", columns, result.days)
    chart = {
        "days": [d["day"].isoformat() for d in result.days],
        "series": [{"name": str(col.label), "values": [d[col.key] for d in result.days]} for col in columns[1:]],
    }
    may_refresh = request.user.has_perm("campaigns.view_campaign")
    context = _context(request, filters, campaign=campaign, result=result, columns=columns, rows=result.days,
                       chart=chart, section="forecast", may_refresh=may_refresh)  # fmt: skip
    return render(request, "dashboards/forecast.html", context)


@require_POST
def forecast_refresh(request: HttpRequest, public_id) -> HttpResponse:
    """Ask for a new forecast snapshot (planners only: the forecast reads the plan)."""
    if not request.user.is_authenticated or not request.user.has_perm("campaigns.view_campaign"):
        raise PermissionDenied
    campaign = dashboards.campaign_get_for_user(user=request.user, public_id=public_id)
    from analytics import snapshots

    snapshots.request(campaign.pk, forced=True, by=request.user, delay=0)
    return redirect(reverse("dashboards:forecast", args=[campaign.public_id]) + "?refreshing=1")


@dashboard
def readiness(request: HttpRequest) -> HttpResponse:
    filters = dashboards.filters_from(user=request.user, query=request.GET)
    kind = request.GET.get("kind")
    kind = kind if kind in dashboards.READINESS_KINDS else "unverified"
    if _wants_csv(request):
        rows = dashboards.readiness_rows(user=request.user, filters=filters, kind=kind, query=request.GET)
        return _table_csv(f"readiness-{kind}", dashboards.readiness_columns(), rows)
    result = dashboards.readiness(user=request.user, filters=filters, kind=kind, query=request.GET)
    for row in result.table.rows:
        row["url"] = reverse("dashboards:associate", args=[row["key"]])
    kinds = [("unverified", _("Unverified accounts"), result.unverified),
             ("no_photo", _("No profile photo"), result.no_photo),
             ("near_limit", _("Near the reach limit"), result.near_limit)]  # fmt: skip
    context = _context(request, filters, result=result, table=result.table, kind=kind, kinds=kinds,
                       section="readiness")  # fmt: skip
    return render(request, "dashboards/readiness.html", context)


@dashboard
def associate(request: HttpRequest, userid: str) -> HttpResponse:
    associate = get_object_or_404(associates_for_user(user=request.user).select_related("main_department"),
                                  userid=userid)  # fmt: skip
    campaign = None
    if request.GET.get("campaign"):
        try:
            campaign = dashboards.campaign_get_for_user(user=request.user, public_id=request.GET["campaign"])
        except (Http404, ValueError):
            campaign = None
    days = AssociateDay.objects.filter(associate=associate)
    if campaign is not None:
        days = days.filter(campaign=campaign)
    by_campaign = list(
        days.values("campaign__name", "campaign__public_id")
        .annotate(**{n: Sum(n) for n in dashboards.COUNTS}, customers=Sum("customers"))
        .order_by("campaign__name")[:100]
    )
    columns = [dashboards.Column("campaign__name", _("Campaign"), numeric=False)] + [
        dashboards.Column(n, label) for n, label in (("deliveries", _("Deliveries")), ("cap_loss", _("Cap loss")),
                                                      ("verification_loss", _("Verification loss")),
                                                      ("likes", _("Likes")), ("comments", _("Comments")),
                                                      ("clicks", _("CTA clicks")))]  # fmt: skip
    if _wants_csv(request):
        return _table_csv(f"associate-{associate.userid}", columns, by_campaign)
    tasks = (
        PublishTask.objects.filter(associate=associate)
        .select_related("moment__campaign")
        .order_by("-moment__publish_at", "-id")[:30]
    )
    contacts = associate.contacts.filter(is_active=True).count()
    today = timezone.localdate()
    slots = list(
        Delivery.objects.filter(associate=associate, day__gte=today - dt.timedelta(days=6))
        .values("day")
        .annotate(customers=Count("customer_id", distinct=True), deliveries=Count("id"))
        .order_by("-day")
    )
    book = RulesBook()
    for line in slots:
        line["feed_cap"] = book.on(line["day"]).feed_cap
    context = _context(request, None, associate=associate, campaign=campaign, rows=by_campaign, columns=columns,
                       tasks=tasks, contacts=contacts, slots=slots,
                       limit=book.on(today).unverified_reach_limit, section="associate")  # fmt: skip
    return render(request, "dashboards/associate.html", context)


@dashboard
def customers(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:64]
    found = []
    if q:
        found = list(
            customers_for_user(user=request.user)
            .filter(Q(external_userid=q) | Q(name__icontains=q))
            .order_by("name", "id")[:50]
        )
    return render(request, "dashboards/customers.html", _context(request, None, q=q, found=found,
                                                                   section="customers"))  # fmt: skip


@dashboard
def customer(request: HttpRequest, external_userid: str) -> HttpResponse:
    customer = get_object_or_404(customers_for_user(user=request.user), external_userid=external_userid)
    rows = customer_timeline(user=request.user, customer=customer)
    columns = [
        dashboards.Column("day", _("Day"), numeric=False, kind="date"),
        dashboards.Column("associate", _("From"), numeric=False),
        dashboards.Column("campaign", _("Campaign"), numeric=False),
        dashboards.Column("moment", _("Moment"), numeric=False),
        dashboards.Column("slot", _("Slot")),
        dashboards.Column("used", _("Slots used that day")),
        dashboards.Column("feed_cap", _("Cap")),
    ]

    def line(delivery) -> dict:
        moment = delivery.moment
        return {"day": delivery.day, "associate": delivery.associate.name,
                "campaign": moment.campaign.name if moment else _("personal post"),
                "moment": moment.title if moment else "", "slot": delivery.slot, "used": delivery.used,
                "feed_cap": delivery.feed_cap}  # fmt: skip

    if _wants_csv(request):
        book = RulesBook()

        def lines():
            for delivery in rows.iterator(chunk_size=2000):
                delivery.feed_cap = book.on(delivery.day).feed_cap
                yield line(delivery)

        return _table_csv(f"customer-{customer.external_userid}", columns, lines())
    page = Paginator(rows, dashboards.PAGE_SIZE).get_page(request.GET.get("page"))
    timeline_caps(page.object_list)
    context = _context(request, None, customer=customer, page=page, columns=columns,
                       rows=[line(d) for d in page.object_list], section="customers",
                       seen_by=deliveries_for_user(user=request.user).filter(customer=customer).count())  # fmt: skip
    return render(request, "dashboards/customer.html", context)
