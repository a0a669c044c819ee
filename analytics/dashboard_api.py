"""The dashboards' numbers over the API (DRF), for integrations: the same reads as the
pages (``analytics.dashboards``), scoped the same way (a manager's subtrees; another
region's campaign is a 404), filters by ``start``/``end`` (YYYY-MM-DD) and ``department``
(WeCom id) — a bad filter is a 400 that says why — and every table paginated
(``?page=``) or exported whole as CSV (``?export=csv``). Also the platform rules."""

from __future__ import annotations

import re

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import dashboards, exports
from analytics.api import ReadsReach
from analytics.models import PlatformRules
from moments_admin.api import MAX_PAGE, ModelPermissions, Pagination, StrictJson, whole_number

FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (local), YYYY-MM-DD."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (local), YYYY-MM-DD; at most 366 days."),
    OpenApiParameter("department", OpenApiTypes.INT, description="A department's WeCom id, within your scope."),
]
BY = ("associate", "store")


def _sorts(*tables) -> list[str]:
    keys = dict.fromkeys(column.key for columns in tables for column in columns)
    return [*keys, *(f"-{key}" for key in keys)]


def _table_parameters(*tables) -> list[OpenApiParameter]:
    return [
        OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                         description="Page of 50 rows; past the last, the last."),
        OpenApiParameter("sort", OpenApiTypes.STR, enum=_sorts(*tables),
                         description="A column's key (of this table); a leading '-' sorts descending."),
        OpenApiParameter("export", OpenApiTypes.STR, enum=["csv"],
                         description="'csv': every row, as CSV (UTF-8, BOM), instead of a page of JSON."),
    ]  # fmt: skip


def _check_table_query(request, columns) -> None:
    """``page``, ``sort`` and ``export`` as the tables read them, checked: over the API a bad one
    is a 400 that says why (the pages quietly fall back to the default)."""
    query, errors = request.query_params, {}
    page = query.get("page")
    if page is not None and not whole_number(page, 1, MAX_PAGE):
        errors["page"] = [_("A page number, from 1.")]
    sort = query.get("sort")
    if sort is not None and sort.removeprefix("-") not in {column.key for column in columns}:
        errors["sort"] = [_("One of this table's columns: %(keys)s (a leading '-' sorts descending).")
                          % {"keys": ", ".join(column.key for column in columns)}]  # fmt: skip
    if query.get("export") not in (None, "csv"):
        errors["export"] = [_("Only 'csv'.")]
    if errors:
        raise ValidationError(errors)


class ColumnOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class TableOut(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rows in the whole table.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    sort = serializers.CharField(help_text="The column sorted by; a leading '-': descending.")
    columns = ColumnOut(many=True)
    results = serializers.ListField(child=serializers.DictField(), help_text="This page's rows: the columns' keys.")


CSV = OpenApiResponse(OpenApiTypes.BINARY, description="With ?export=csv: every row, as CSV (UTF-8, BOM).")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _filters(request, campaign=None) -> dashboards.Filters:
    """The pages' filters; over the API each given one must be well formed (the pages read an
    empty one as none, and any ISO form of a date)."""
    query, malformed = request.query_params, []
    for name in ("start", "end"):
        if name in query and not _DAY.fullmatch(query[name]):
            malformed.append(_("“%(name)s” is a day, YYYY-MM-DD.") % {"name": name})
    if "department" in query and not (query["department"].isascii() and query["department"].isdigit()):
        malformed.append(_("“department” is a department's WeCom id, a number."))
    if malformed:
        raise ValidationError({"filters": malformed})
    filters = dashboards.filters_from(user=request.user, query=query)
    if filters.errors:
        raise ValidationError({"filters": filters.errors})
    filters.campaign = campaign
    return filters


def _campaign(request, public_id):
    return dashboards.campaign_get_for_user(user=request.user, public_id=public_id)


def _table(request, table: dashboards.Table) -> dict:
    def page_url(number):
        if number < 1 or number > table.pages:
            return None
        query = request.query_params.copy()
        query["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return {
        "count": table.total,
        "next": page_url(table.page + 1),
        "previous": page_url(table.page - 1),
        "sort": ("-" if table.descending else "") + table.sort,
        "columns": [{"key": c.key, "label": str(c.label)} for c in table.columns],
        "results": table.rows,
    }


def _csv(name: str, columns, rows):
    return exports.table_csv(filename=name, columns=columns, rows=rows)


class CampaignsOut(serializers.Serializer):
    campaign = serializers.UUIDField()
    name = serializers.CharField()
    customers = serializers.IntegerField()
    contacts = serializers.IntegerField()
    reach_rate = serializers.FloatField()
    published = serializers.IntegerField()


class DashboardCampaigns(APIView):
    """The campaigns you may see, with their headline numbers."""

    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(responses={200: CampaignsOut(many=True)})
    def get(self, request):
        lines = dashboards.campaigns_overview(user=request.user)
        return Response([{"campaign": line["campaign"].public_id, "name": line["campaign"].name,
                          **{k: line[k] for k in ("customers", "contacts", "published")},
                          "reach_rate": round(line["reach_rate"], 4)} for line in lines])  # fmt: skip


class OverviewOut(serializers.Serializer):
    customers = serializers.IntegerField(help_text="Distinct customers reached by the end of the range.")
    contacts = serializers.IntegerField(help_text="The reach rate's base.")
    reach_rate = serializers.FloatField()
    deliveries = serializers.IntegerField()
    cap_loss = serializers.IntegerField()
    verification_loss = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()
    clicks = serializers.IntegerField()
    new_contacts = serializers.IntegerField()
    funnel = serializers.DictField(child=serializers.IntegerField())
    days = serializers.ListField(child=serializers.DictField())


class DashboardOverview(APIView):
    """A campaign's overview: totals, the funnel (``analytics.selectors.funnel_counts``: targeted tasks, then
    those that reached each step or a later one; failed beside), and per day with the reach so far."""

    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(parameters=FILTERS, responses={200: OverviewOut}, examples=[OpenApiExample(
        "A campaign", response_only=True, value={
            "customers": 5210, "contacts": 8000, "reach_rate": 0.6513, "deliveries": 9120, "cap_loss": 310,
            "verification_loss": 120, "likes": 88, "comments": 12, "clicks": 40, "new_contacts": 6,
            "funnel": {"tasks": 100, "notified": 97, "opened": 81, "requested": 70, "published": 66, "failed": 3},
            "days": [{"day": "2027-02-10", "reach": 4100, "deliveries": 5000, "cap_loss": 100}]})])  # fmt: skip
    def get(self, request, public_id):
        campaign = _campaign(request, public_id)
        overview = dashboards.campaign_overview(
            user=request.user, campaign=campaign, filters=_filters(request, campaign)
        )
        fields = ("customers", "contacts", "deliveries", "cap_loss", "verification_loss", "likes", "comments",
                  "clicks", "new_contacts", "funnel", "days")  # fmt: skip
        return Response({**{name: getattr(overview, name) for name in fields},
                         "reach_rate": round(overview.reach_rate, 4)})  # fmt: skip


class DashboardLeaderboard(APIView):
    """Associates (``by=associate``) or stores (``by=store``) with their funnel and results."""

    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(
        parameters=[
            *FILTERS,
            *_table_parameters(*(dashboards.leaderboard_columns(by) for by in BY)),
            OpenApiParameter("by", OpenApiTypes.STR, enum=list(BY), description="Rows per associate (the default) "
                             "or per store."),
        ],
        responses={(200, "application/json"): TableOut, (200, "text/csv"): CSV},
    )  # fmt: skip
    def get(self, request, public_id):
        by = request.query_params.get("by", "associate")
        if by not in BY:
            raise ValidationError({"by": [_("'associate' or 'store'.")]})
        _check_table_query(request, dashboards.leaderboard_columns(by))
        campaign = _campaign(request, public_id)
        filters = _filters(request, campaign)
        if request.query_params.get("export") == "csv":
            rows = dashboards.leaderboard_rows(user=request.user, campaign=campaign, filters=filters, by=by,
                                               query=request.query_params)  # fmt: skip
            return _csv(f"{campaign.name}-{by}", dashboards.leaderboard_columns(by), rows)
        table = dashboards.leaderboard(user=request.user, campaign=campaign, filters=filters, by=by,
                                       query=request.query_params)  # fmt: skip
        return Response(_table(request, table))


class ForecastTotalsOut(serializers.Serializer):
    forecast_deliveries = serializers.IntegerField()
    forecast_cap_loss = serializers.IntegerField()
    forecast_verification_loss = serializers.IntegerField()
    actual_deliveries = serializers.IntegerField()
    actual_cap_loss = serializers.IntegerField()
    actual_verification_loss = serializers.IntegerField()


class ForecastDayOut(ForecastTotalsOut):
    day = serializers.DateField()


class ForecastVsActualOut(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True, help_text="When the forecast was made; null: never.")
    reach = serializers.IntegerField(allow_null=True, help_text="The forecast's distinct reach (whole brand only).")
    contacts = serializers.IntegerField(allow_null=True, help_text="Its base (whole brand only).")
    totals = ForecastTotalsOut()
    days = ForecastDayOut(many=True)


class DashboardForecast(APIView):
    """The last forecast snapshot per day next to the results, over your scope."""

    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(parameters=FILTERS, responses={200: ForecastVsActualOut})
    def get(self, request, public_id):
        campaign = _campaign(request, public_id)
        result = dashboards.forecast_vs_actual(
            user=request.user, campaign=campaign, filters=_filters(request, campaign)
        )
        snapshot = result.snapshot
        return Response(ForecastVsActualOut({
            "computed_at": snapshot.computed_at if snapshot else None,
            "reach": result.brand_reach, "contacts": result.brand_contacts,
            "totals": result.totals, "days": result.days,
        }).data)  # fmt: skip


class ReadinessOut(TableOut):
    unverified = serializers.IntegerField(help_text="Unverified accounts.")
    no_photo = serializers.IntegerField(help_text="Accounts without a profile photo.")
    near_limit = serializers.IntegerField(help_text="Unverified accounts close to the reach limit.")
    customers_lost = serializers.IntegerField(help_text="Customers the unverified accounts cannot reach.")
    reach_limit = serializers.IntegerField(help_text="An unverified account's reach limit today.")


class DashboardReadiness(APIView):
    """Accounts to fix: ``kind=unverified`` (with the customers they cost), ``no_photo``, ``near_limit``."""

    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(
        parameters=[
            *_table_parameters(dashboards.readiness_columns()),
            FILTERS[2],
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(dashboards.READINESS_KINDS)),
        ],
        responses={(200, "application/json"): ReadinessOut, (200, "text/csv"): CSV},
    )
    def get(self, request):
        kind = request.query_params.get("kind", "unverified")
        if kind not in dashboards.READINESS_KINDS:
            raise ValidationError({"kind": [f"One of {', '.join(dashboards.READINESS_KINDS)}."]})
        _check_table_query(request, dashboards.readiness_columns())
        filters = _filters(request)
        if request.query_params.get("export") == "csv":
            rows = dashboards.readiness_rows(user=request.user, filters=filters, kind=kind, query=request.query_params)
            return _csv(f"readiness-{kind}", dashboards.readiness_columns(), rows)
        result = dashboards.readiness(user=request.user, filters=filters, kind=kind, query=request.query_params)
        return Response({"unverified": result.unverified, "no_photo": result.no_photo,
                         "near_limit": result.near_limit, "customers_lost": result.customers_lost,
                         "reach_limit": result.limit, **_table(request, result.table)})  # fmt: skip


class RulesOut(StrictJson, serializers.ModelSerializer):
    # The model's field is an int4 on PostgreSQL, a bigint on SQLite: the range both hold.
    unverified_reach_limit = serializers.IntegerField(min_value=1, max_value=2_147_483_647, default=200)

    class Meta:
        model = PlatformRules
        fields = ["effective_from", "feed_cap", "unverified_reach_limit", "enterprise_monthly_cap", "time_zone"]


class RulesList(generics.ListCreateAPIView):
    """The platform's rules as dated versions; marketing admins add a version."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = RulesOut
    queryset = PlatformRules.objects.order_by("-effective_from")

    def perform_create(self, serializer):
        rules = PlatformRules(**serializer.validated_data)
        rules.full_clean()  # the model's own checks, as the admin applies them
        rules.save()
        serializer.instance = rules


urlpatterns = [
    path("analytics/dashboards/campaigns/", DashboardCampaigns.as_view(), name="campaigns"),
    path("analytics/dashboards/campaigns/<uuid:public_id>/overview/", DashboardOverview.as_view(), name="overview"),
    path("analytics/dashboards/campaigns/<uuid:public_id>/leaderboard/", DashboardLeaderboard.as_view(),
         name="leaderboard"),
    path("analytics/dashboards/campaigns/<uuid:public_id>/forecast-vs-actual/", DashboardForecast.as_view(),
         name="forecast-vs-actual"),
    path("analytics/dashboards/readiness/", DashboardReadiness.as_view(), name="readiness"),
    path("analytics/rules/", RulesList.as_view(), name="rules"),
]  # fmt: skip
