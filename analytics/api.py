"""The reach API (DRF): the forecast of a campaign or of a set of planned moments, a
campaign's reach, an associate's and a customer's. Every read is scoped like the
dashboards (``analytics.selectors``): a manager sees their subtree, and an associate or
customer outside it is a 404. Objects are named by public ids (WeCom's ids for people)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import forecast, selectors, snapshots
from analytics.models import ForecastJob
from campaigns.models import Campaign, Moment, State, Variant
from moments_admin.api import DateTimeField, MessageOut, Pagination, StrictJson
from staff.models import Associate
from staff.selectors import associates_for_user, customers_for_user, directory_scope

MAX_SPAN_DAYS = 92


def _needs(permission: str):
    class Needs(BasePermission):
        message = _("You do not have permission to read this.")

        def has_permission(self, request, view):
            return request.user.has_perm(permission)

    return Needs


ReadsReach = _needs("analytics.view_delivery")
ReadsCampaigns = _needs("campaigns.view_campaign")


# --- the forecast --------------------------------------------------------------------------------
# Never computed in a request (issue #19): a campaign's forecast is its last snapshot, recomputed in the
# background when the plan changes or when asked (``analytics.snapshots``); chosen moments are a job too.
class MomentRefOut(serializers.Serializer):
    public_id = serializers.UUIDField()
    title = serializers.CharField()
    campaign = serializers.CharField(help_text="The campaign's name.")


class VariantDayOut(serializers.Serializer):
    variant = serializers.UUIDField(allow_null=True, help_text="Null: deleted since the forecast.")
    moment = MomentRefOut(allow_null=True, help_text="Null: deleted since the forecast.")
    day = serializers.DateField()
    associates = serializers.IntegerField()
    audience = serializers.IntegerField(help_text="Distinct customers in the audience.")
    audience_contacts = serializers.IntegerField(help_text="(associate, customer) pairs.")
    deliveries = serializers.IntegerField()
    reach = serializers.IntegerField(help_text="Distinct customers delivered.")
    cap_loss = serializers.IntegerField(help_text="Pairs hidden by the feed cap.")
    verification_loss = serializers.IntegerField(help_text="Pairs beyond an unverified associate's reach.")
    monthly_cap_loss = serializers.IntegerField(help_text="Pairs hidden by the enterprise monthly cap.")
    unpublishable = serializers.IntegerField(help_text="Pairs lost because nobody can publish the moment in time.")


class CollidedWithOut(serializers.Serializer):
    """Another planned moment, ``{"personal_posts": true}`` (the associates' own posts), or
    ``{"deleted": true}`` (a moment deleted since the forecast)."""

    public_id = serializers.UUIDField(required=False)
    title = serializers.CharField(required=False)
    campaign = serializers.CharField(required=False)
    personal_posts = serializers.BooleanField(required=False)
    deleted = serializers.BooleanField(required=False)


# "with" is a Python keyword: the field is declared by name.
CollisionOut = type("CollisionOut", (serializers.Serializer,), {
    "__module__": __name__,
    "__doc__": "Customers of ``variant`` hidden by the feed cap on ``day`` because ``with`` took their slots first.",
    "variant": serializers.CharField(help_text="The variant's public id; empty: deleted since the forecast."),
    "day": serializers.DateField(),
    "with": CollidedWithOut(),
    "planned": serializers.BooleanField(help_text="A planned moment (else a delivery already in the feeds)."),
    "customers": serializers.IntegerField(),
    "associates": serializers.IntegerField(),
})  # fmt: skip


class CapLossOut(serializers.Serializer):
    associate = serializers.CharField(allow_null=True, help_text="The associate's WeCom userid.")
    day = serializers.DateField()
    cap_loss = serializers.IntegerField()


class VerificationOut(serializers.Serializer):
    associate = serializers.CharField(allow_null=True, help_text="An unverified associate's WeCom userid.")
    customers = serializers.IntegerField(help_text="Customers beyond their reach.")


class VerifyOut(serializers.Serializer):
    accounts = serializers.IntegerField(help_text="Verify this many accounts …")
    more_customers = serializers.IntegerField(help_text="… to reach this many more customers.")


class ForecastOut(serializers.Serializer):
    reach = serializers.IntegerField(help_text="Distinct customers with at least one delivery.")
    contacts = serializers.IntegerField(help_text="Distinct customers among the targeted associates' contacts.")
    reach_rate = serializers.FloatField()
    deliveries = serializers.IntegerField()
    cap_loss = serializers.IntegerField()
    verification_loss = serializers.IntegerField()
    monthly_cap_loss = serializers.IntegerField()
    duplicate_exposure = serializers.IntegerField(help_text="Customers reached through two or more associates.")
    verify = VerifyOut()
    variants = VariantDayOut(many=True)
    collisions = CollisionOut(many=True)
    cap_loss_by_associate_day = CapLossOut(many=True, help_text="The worst first.")
    verification = VerificationOut(many=True)
    computed_at = DateTimeField(help_text="When the plan was read for this forecast.")


class JobOut(serializers.Serializer):
    """A forecast asked for, and how far it got."""

    public_id = serializers.UUIDField(help_text="Follow it at /api/v1/analytics/forecast/jobs/<public_id>/.")
    campaign = serializers.UUIDField(allow_null=True, help_text="A campaign's recomputation; null: chosen moments.")
    state = serializers.ChoiceField(choices=ForecastJob.State.choices)
    text = serializers.CharField(help_text="The state in a sentence (empty when done).")
    requested_at = DateTimeField(allow_null=True)
    due_at = DateTimeField(allow_null=True, help_text="Debounced: a plan change waits for the next one.")
    started_at = DateTimeField(allow_null=True)
    finished_at = DateTimeField(allow_null=True)
    stage = serializers.CharField(help_text="plan, campaign or moments; empty before it starts.")
    steps_done = serializers.IntegerField()
    steps_total = serializers.IntegerField()
    elapsed_seconds = serializers.IntegerField(allow_null=True, help_text="While running.")
    error = serializers.CharField(help_text="Why the last run failed; empty if it did not.")
    forecast = ForecastOut(allow_null=True, help_text="Chosen moments, once done; a campaign's is its snapshot.")


class SnapshotOut(ForecastOut):
    """A campaign's last forecast snapshot, whether the plan changed since, and its recomputation."""

    stale = serializers.BooleanField(help_text="The plan changed since this forecast (it is being recomputed).")
    changes = serializers.ListField(child=serializers.CharField(), help_text="What changed since, in sentences.")
    job = JobOut(allow_null=True, help_text="The campaign's recomputation (null: never asked for).")


def _forecast_out(result: forecast.Forecast, *, computed_at) -> dict:
    """The forecast with our public ids and titles (three queries, whatever its size). A moment or variant
    deleted since the forecast is null."""
    moment_ids = {v.moment_id for v in result.variants} | {c.moment_id for c in result.collisions if c.moment_id}
    moments = {m.pk: m for m in Moment.objects.filter(pk__in=moment_ids).select_related("campaign")}
    variants = dict(Variant.objects.filter(pk__in={v.variant_id for v in result.variants})
                    .values_list("pk", "public_id"))  # fmt: skip
    associate_ids = {row["associate_id"] for row in result.cap_loss_by_associate_day + result.verification}
    userids = dict(Associate.objects.filter(pk__in=associate_ids).values_list("pk", "userid"))

    def moment(pk):
        found = moments.get(pk)
        if found is None:
            return None
        return {"public_id": str(found.public_id), "title": found.title, "campaign": found.campaign.name}

    def variant(pk):
        return str(variants[pk]) if pk in variants else None

    return {
        "reach": result.reach,
        "contacts": result.contacts,
        "reach_rate": round(result.reach_rate, 4),
        "deliveries": result.deliveries,
        "cap_loss": result.cap_loss,
        "verification_loss": result.verification_loss,
        "monthly_cap_loss": result.monthly_cap_loss,
        "duplicate_exposure": result.duplicate_exposure,
        "verify": {"accounts": result.verify_accounts, "more_customers": result.verify_gain},
        "variants": [
            {
                **{k: value for k, value in asdict(v).items() if k not in ("variant_id", "moment_id")},
                "variant": variant(v.variant_id),
                "moment": moment(v.moment_id),
            }
            for v in result.variants
        ],  # fmt: skip
        "collisions": [
            {
                "variant": variant(c.variant_id) or "",
                "day": c.day,
                "with": ({"personal_posts": True} if c.moment_id is None else moment(c.moment_id) or {"deleted": True}),
                "planned": c.planned,
                "customers": c.customers,
                "associates": c.associates,
            }
            for c in result.collisions
        ],  # fmt: skip
        "cap_loss_by_associate_day": [
            {"associate": userids.get(r["associate_id"]), "day": r["day"], "cap_loss": r["cap_loss"]}
            for r in result.cap_loss_by_associate_day
        ],  # fmt: skip
        "verification": [
            {"associate": userids.get(r["associate_id"]), "customers": r["customers"]} for r in result.verification
        ],  # fmt: skip
        "computed_at": computed_at,
    }


def _job_out(job: ForecastJob, campaign: Campaign | None = None) -> dict:
    progress = snapshots.job_progress(job)
    answer = None
    if job.campaign_id is None and job.state == ForecastJob.State.DONE and job.result is not None:
        answer = _forecast_out(snapshots.forecast_from_json(job.result), computed_at=job.started_at)
    return {
        "public_id": job.public_id, "campaign": campaign.public_id if campaign else (
            job.campaign.public_id if job.campaign_id else None),
        "state": job.state, "text": progress["text"], "requested_at": job.requested_at, "due_at": job.due_at,
        "started_at": job.started_at, "finished_at": job.finished_at, "stage": job.stage,
        "steps_done": job.steps_done, "steps_total": job.steps_total,
        "elapsed_seconds": progress["elapsed_seconds"], "error": job.error, "forecast": answer,
    }  # fmt: skip


def _job_answer(job: ForecastJob, *, code=status.HTTP_200_OK, campaign=None) -> Response:
    url = reverse("analytics-api:forecast-job", args=[job.public_id])
    return Response(JobOut(_job_out(job, campaign)).data, status=code, headers={"Location": url})


class CampaignForecast(APIView):
    permission_classes = [IsAuthenticated, ReadsCampaigns]

    @extend_schema(
        responses={200: SnapshotOut, 404: OpenApiResponse(MessageOut, description=(
            "No such campaign, or no forecast of it yet: ask for one (POST …/job/)."))},
        summary="A campaign's last reach forecast (recomputed in the background when its plan changes)",
    )  # fmt: skip
    def get(self, request, public_id):
        campaign = get_object_or_404(Campaign, public_id=public_id)
        status_ = snapshots.campaign_status(campaign.pk)
        if status_.forecast is None:
            return Response({"detail": _("No forecast of this campaign yet: ask for one (POST …/job/).")},
                            status=status.HTTP_404_NOT_FOUND)  # fmt: skip
        return Response(SnapshotOut({
            **_forecast_out(status_.forecast, computed_at=status_.computed_at), "stale": status_.stale,
            "changes": status_.changes, "job": _job_out(status_.job, campaign) if status_.job else None,
        }).data)  # fmt: skip


class CampaignForecastJob(APIView):
    permission_classes = [IsAuthenticated, ReadsCampaigns]

    @extend_schema(
        responses={200: JobOut, 404: OpenApiResponse(MessageOut, description=(
            "No such campaign, or no recomputation of it asked for yet."))},
        summary="Follow the recomputation of a campaign's forecast",
    )  # fmt: skip
    def get(self, request, public_id):
        campaign = get_object_or_404(Campaign, public_id=public_id)
        job = get_object_or_404(ForecastJob, campaign=campaign)
        return _job_answer(job, campaign=campaign)

    @extend_schema(request=None, responses={202: JobOut},
                   summary="Recompute a campaign's forecast now (in the background; one run at a time)")  # fmt: skip
    def post(self, request, public_id):
        campaign = get_object_or_404(Campaign, public_id=public_id)
        job = snapshots.request(campaign.pk, forced=True, by=request.user, delay=0)
        return _job_answer(job, code=status.HTTP_202_ACCEPTED, campaign=campaign)


class MomentsIn(StrictJson, serializers.Serializer):
    moments = serializers.SlugRelatedField(
        slug_field="public_id", many=True, queryset=Moment.objects.exclude(state=State.CANCELLED), allow_empty=False
    )

    def validate_moments(self, moments):
        if len(moments) > snapshots.MAX_CHOSEN_MOMENTS:
            raise ValidationError(_("Choose at most %(count)s moments.") % {"count": snapshots.MAX_CHOSEN_MOMENTS})
        return moments


class MomentsForecast(APIView):
    permission_classes = [IsAuthenticated, ReadsCampaigns]

    @extend_schema(request=MomentsIn, responses={202: JobOut},
                   summary="Forecast chosen moments together (in the background: follow the job)")  # fmt: skip
    def post(self, request):
        data = MomentsIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = snapshots.moments_request(moments=data.validated_data["moments"], by=request.user)
        return _job_answer(job, code=status.HTTP_202_ACCEPTED)


class ForecastJobDetail(APIView):
    permission_classes = [IsAuthenticated, ReadsCampaigns]

    @extend_schema(responses={200: JobOut}, summary="Follow a forecast asked for (its answer once done)")
    def get(self, request, public_id):
        job = get_object_or_404(ForecastJob.objects.select_related("campaign"), public_id=public_id)
        return _job_answer(job)


# --- results -------------------------------------------------------------------------------------
class CampaignDayOut(serializers.Serializer):
    day = serializers.DateField()
    deliveries = serializers.IntegerField()
    customers = serializers.IntegerField(help_text="Customers delivered that day.")
    reach = serializers.IntegerField(help_text="Distinct customers reached so far.")


class CampaignReachOut(serializers.Serializer):
    campaign = serializers.UUIDField()
    customers = serializers.IntegerField(help_text="Distinct customers reached: the campaign's reach.")
    contacts = serializers.IntegerField(help_text="The reach rate's base.")
    reach_rate = serializers.FloatField()
    deliveries = serializers.IntegerField()
    cap_loss = serializers.IntegerField()
    verification_loss = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()
    by_day = CampaignDayOut(many=True)


class CampaignReach(APIView):
    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(responses={200: CampaignReachOut}, summary="A campaign's reach (within the user's scope)")
    def get(self, request, public_id):
        campaign = get_object_or_404(Campaign, public_id=public_id)
        if not directory_scope(user=request.user).everything:
            # a manager: only a campaign that went out, or is planned, to their people (as the dashboards)
            from analytics.dashboards import campaign_get_for_user

            campaign = campaign_get_for_user(user=request.user, public_id=public_id)
        result = selectors.campaign_result(user=request.user, campaign=campaign)
        return Response(CampaignReachOut({**asdict(result), "reach_rate": round(result.reach_rate, 4),
                                          "campaign": public_id}).data)  # fmt: skip


class CampaignSync(APIView):
    permission_classes = [IsAuthenticated, _needs("campaigns.change_campaign")]

    @extend_schema(request=None, responses={202: OpenApiResponse(MessageOut, description="The sync is queued.")},
                   summary="Sync a campaign's results now")  # fmt: skip
    def post(self, request, public_id):
        from analytics.tasks import results_sync_task

        campaign = get_object_or_404(Campaign, public_id=public_id)
        results_sync_task.delay(campaign_id=campaign.pk)
        return Response({"detail": _("Results sync started.")}, status=status.HTTP_202_ACCEPTED)


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _span(request) -> tuple[dt.date, dt.date]:
    """``start``/``end`` (YYYY-MM-DD), by default the last 7 local days; at most 92 days."""
    query = request.query_params
    try:
        if any(name in query and not _DAY.fullmatch(query[name]) for name in ("start", "end")):
            raise ValueError
        end = dt.date.fromisoformat(query["end"]) if "end" in query else timezone.localdate()
        start = dt.date.fromisoformat(query["start"]) if "start" in query else end - dt.timedelta(days=6)
    except (ValueError, OverflowError):  # OverflowError: the default start before year 1 (end=0001-01-01)
        raise ValidationError({"start": [_("Dates are written YYYY-MM-DD, e.g. 2027-02-14.")]}) from None
    if start > end:
        raise ValidationError({"start": [_("The start comes after the end.")]})
    if (end - start).days >= MAX_SPAN_DAYS:
        raise ValidationError({"start": [_("Ask for at most %(days)s days at a time.") % {"days": MAX_SPAN_DAYS}]})
    return start, end


def _associate(request, userid) -> Associate:
    return get_object_or_404(associates_for_user(user=request.user), userid=userid)


class AssociateDayOut(serializers.Serializer):
    day = serializers.DateField()
    deliveries = serializers.IntegerField()
    customers = serializers.IntegerField(help_text="Customers delivered that day.")
    cap_loss = serializers.IntegerField()
    verification_loss = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()


class AssociateReachOut(serializers.Serializer):
    associate = serializers.CharField(help_text="The associate's WeCom userid.")
    name = serializers.CharField()
    verified = serializers.BooleanField()
    customers = serializers.IntegerField(help_text="Distinct customers reached.")
    deliveries = serializers.IntegerField()
    cap_loss = serializers.IntegerField()
    verification_loss = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()
    by_day = AssociateDayOut(many=True)


class AssociateReach(APIView):
    permission_classes = [IsAuthenticated, ReadsReach]

    @extend_schema(
        parameters=[OpenApiParameter("campaign", OpenApiTypes.UUID, description="only this campaign")],
        responses={200: AssociateReachOut},
        summary="An associate's reach",
    )
    def get(self, request, userid):
        associate = _associate(request, userid)
        campaign = None
        if request.query_params.get("campaign") is not None:
            try:
                campaign = Campaign.objects.filter(public_id=request.query_params["campaign"]).first()
            except DjangoValidationError:  # not a UUID
                campaign = None
            if campaign is None:
                raise ValidationError({"campaign": [_("No such campaign.")]})
        return Response(AssociateReachOut({
            "associate": associate.userid, "name": associate.name, "verified": associate.is_verified,
            **selectors.associate_result(associate=associate, campaign=campaign),
        }).data)  # fmt: skip


class SlotOut(serializers.Serializer):
    day = serializers.DateField()
    customer = serializers.CharField(source="customer__external_userid")
    name = serializers.CharField(source="customer__name")
    used = serializers.IntegerField()
    feed_cap = serializers.IntegerField()


class AssociateSlots(ListAPIView):
    """Slots of the feed cap used per customer per day by one associate, fullest first."""

    permission_classes = [IsAuthenticated, ReadsReach]
    pagination_class = Pagination
    serializer_class = SlotOut

    @extend_schema(
        parameters=[OpenApiParameter("start", OpenApiTypes.DATE), OpenApiParameter("end", OpenApiTypes.DATE)]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        start, end = _span(self.request)
        return selectors.associate_slots(
            associate=_associate(self.request, self.kwargs["userid"]), start=start, end=end
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        book = selectors.RulesBook()
        for row in page:
            row["feed_cap"] = book.on(row["day"]).feed_cap
        return page


class TimelineOut(serializers.Serializer):
    day = serializers.DateField()
    associate = serializers.CharField(source="associate.userid")
    associate_name = serializers.CharField(source="associate.name")
    post = serializers.CharField(source="post.wecom_moment_id")
    personal = serializers.SerializerMethodField()
    moment = serializers.SerializerMethodField()
    slot = serializers.IntegerField()
    used = serializers.IntegerField()
    feed_cap = serializers.IntegerField()

    def get_personal(self, row) -> bool:
        return row.post.kind == row.post.Kind.PERSONAL

    def get_moment(self, row) -> dict | None:
        if row.moment is None:
            return None
        return {"public_id": str(row.moment.public_id), "title": row.moment.title, "campaign": row.moment.campaign.name}


class CustomerTimeline(ListAPIView):
    """Every moment delivered to one customer, from whom, and the slots used that day."""

    permission_classes = [IsAuthenticated, ReadsReach]
    pagination_class = Pagination
    serializer_class = TimelineOut

    def get_queryset(self):
        customer = get_object_or_404(customers_for_user(user=self.request.user),
                                     external_userid=self.kwargs["external_userid"])  # fmt: skip
        return selectors.customer_timeline(user=self.request.user, customer=customer)

    def paginate_queryset(self, queryset):
        return selectors.timeline_caps(super().paginate_queryset(queryset))


urlpatterns = [
    path("analytics/forecast/", MomentsForecast.as_view(), name="forecast-moments"),
    path("analytics/forecast/campaigns/<uuid:public_id>/", CampaignForecast.as_view(), name="forecast-campaign"),
    path(
        "analytics/forecast/campaigns/<uuid:public_id>/job/",
        CampaignForecastJob.as_view(),
        name="forecast-campaign-job",
    ),
    path("analytics/forecast/jobs/<uuid:public_id>/", ForecastJobDetail.as_view(), name="forecast-job"),
    path("analytics/campaigns/<uuid:public_id>/reach/", CampaignReach.as_view(), name="campaign-reach"),
    path("analytics/campaigns/<uuid:public_id>/sync/", CampaignSync.as_view(), name="campaign-sync"),
    path("analytics/associates/<str:userid>/reach/", AssociateReach.as_view(), name="associate-reach"),
    path("analytics/associates/<str:userid>/slots/", AssociateSlots.as_view(), name="associate-slots"),
    path("analytics/customers/<str:external_userid>/timeline/", CustomerTimeline.as_view(), name="customer-timeline"),
]
