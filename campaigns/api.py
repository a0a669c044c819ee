"""The drafting API (DRF): campaigns, moments, variants, the media library,
hashtags and calls to action, and the workflow steps as operations. Small
input/output serializers; every write calls ``campaigns.services``, so the API
and the admin apply the same rules. Objects are named by public ids."""

from __future__ import annotations

from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import rules, services
from campaigns.models import COPY_MAX_CHARS, CallToAction, Campaign, Hashtag, MediaAsset, Moment, State, Variant
from moments_admin.api import DateTimeField, ModelPermissions, Pagination, StrictJson
from staff.models import CustomerTag


# --- output ------------------------------------------------------------------------------------------
class MediaOut(serializers.ModelSerializer):
    url = serializers.FileField(source="file", read_only=True)
    thumbnail_url = serializers.FileField(source="thumbnail", read_only=True)

    class Meta:
        model = MediaAsset
        fields = ["public_id", "kind", "title", "url", "thumbnail_url", "width", "height", "size", "seconds",
                  "created_at"]  # fmt: skip


class CallToActionOut(serializers.ModelSerializer):
    tier = serializers.SlugRelatedField(slug_field="tag_id", read_only=True, allow_null=True)
    expires_at = DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = CallToAction
        fields = ["public_id", "kind", "label", "url", "code", "tier", "group_name", "expires_at"]


class VariantOut(serializers.ModelSerializer):
    tone = serializers.SlugRelatedField(slug_field="code", read_only=True)
    audience_tags = serializers.SlugRelatedField(slug_field="tag_id", many=True, read_only=True)
    target_departments = serializers.SlugRelatedField(slug_field="wecom_id", many=True, read_only=True)
    target_associates = serializers.SlugRelatedField(slug_field="userid", many=True, read_only=True)
    hashtags = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    video = serializers.SlugRelatedField(slug_field="public_id", read_only=True, allow_null=True)
    link_cover = serializers.SlugRelatedField(slug_field="public_id", read_only=True, allow_null=True)
    cta = serializers.SlugRelatedField(slug_field="public_id", read_only=True, allow_null=True)

    class Meta:
        model = Variant
        fields = ["public_id", "name", "tone", "audience_all", "audience_tags", "target_departments",
                  "target_associates", "copy", "personal_touch", "personal_line_max", "hashtags", "images", "video",
                  "link_url", "link_title", "link_cover", "cta"]  # fmt: skip

    def get_hashtags(self, variant) -> list[str]:
        rows = sorted(variant.varianthashtag_set.all(), key=lambda row: (row.position, row.pk))
        return [row.hashtag.text for row in rows]

    def get_images(self, variant) -> list[str]:
        rows = sorted(variant.variantimage_set.all(), key=lambda row: (row.position, row.pk))
        return [str(row.asset.public_id) for row in rows]


class MomentOut(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    variants = VariantOut(many=True, read_only=True)

    class Meta:
        model = Moment
        fields = ["public_id", "campaign", "title", "publish_at", "expires_at", "mode", "state", "variants"]


class CampaignOut(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    moment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Campaign
        fields = ["public_id", "name", "goal", "starts_on", "ends_on", "state", "owner", "moment_count"]


def _variants():
    return Prefetch(
        "variants",
        queryset=Variant.objects.select_related("tone", "video", "link_cover", "cta").prefetch_related(
            "audience_tags",
            "target_departments",
            "target_associates",
            "varianthashtag_set__hashtag",
            "variantimage_set__asset",
        ),
    )


# --- input -------------------------------------------------------------------------------------------
class CampaignIn(StrictJson, serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["name", "goal", "starts_on", "ends_on"]

    def validate(self, data):
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if self.instance is not None:
            starts, ends = starts or self.instance.starts_on, ends or self.instance.ends_on
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": "The last day cannot be before the first day."})
        return data


class MomentIn(StrictJson, serializers.Serializer):
    campaign = serializers.SlugRelatedField(slug_field="public_id", queryset=Campaign.objects.all())
    title = serializers.CharField(max_length=128)
    publish_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    mode = serializers.ChoiceField(choices=Moment.Mode.choices, default=Moment.Mode.ASSOCIATE)

    def validate(self, data):
        campaign = data["campaign"]
        window = rules.Window(data["publish_at"], data["expires_at"], campaign.starts_on, campaign.ends_on)
        errors = rules.moment_window_errors(window)
        if errors:
            raise serializers.ValidationError(errors)
        return data


class VariantIn(StrictJson, serializers.Serializer):
    name = serializers.CharField(max_length=64)
    tone = serializers.CharField(max_length=32)
    audience_all = serializers.BooleanField(default=True)
    audience_tags = serializers.ListField(child=serializers.CharField(max_length=64), default=list, max_length=200)
    target_departments = serializers.ListField(child=serializers.IntegerField(), default=list, max_length=2000)
    target_associates = serializers.ListField(child=serializers.CharField(max_length=64), default=list,
                                              max_length=100_000)  # fmt: skip
    copy = serializers.CharField(allow_blank=True, default="", max_length=20_000, trim_whitespace=False)
    personal_touch = serializers.ChoiceField(choices=Variant.PersonalTouch.choices, default=Variant.PersonalTouch.NONE)
    personal_line_max = serializers.IntegerField(min_value=1, max_value=COPY_MAX_CHARS, default=140)
    hashtags = serializers.ListField(child=serializers.CharField(max_length=40), default=list, max_length=50)
    images = serializers.ListField(child=serializers.UUIDField(), default=list, max_length=50)
    video = serializers.UUIDField(allow_null=True, default=None)
    link_url = serializers.URLField(allow_blank=True, default="", max_length=1024)
    link_title = serializers.CharField(allow_blank=True, default="", max_length=200)
    link_cover = serializers.UUIDField(allow_null=True, default=None)
    cta = serializers.UUIDField(allow_null=True, default=None)


_SEND_A_FILE = "Send the photo or video in the multipart field 'file'."


class MediaUploadIn(serializers.Serializer):
    file = serializers.FileField(
        help_text="A JPEG, PNG or WebP photo, or an MP4 video: checked by its content, then re-encoded.",
        error_messages={"required": _SEND_A_FILE, "invalid": _SEND_A_FILE},
    )
    title = serializers.CharField(allow_blank=True, default="", max_length=128)


class NoteIn(StrictJson, serializers.Serializer):
    note = serializers.CharField(allow_blank=True, default="", max_length=2000)


class HashtagIn(StrictJson, serializers.Serializer):
    text = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=Hashtag.Kind.choices, default=Hashtag.Kind.CAMPAIGN)


class HashtagOut(serializers.ModelSerializer):
    class Meta:
        model = Hashtag
        fields = ["text", "kind", "is_active"]


class CallToActionIn(StrictJson, serializers.ModelSerializer):
    tier = serializers.SlugRelatedField(
        slug_field="tag_id", required=False, allow_null=True, queryset=CustomerTag.objects.all()
    )

    class Meta:
        model = CallToAction
        fields = ["kind", "label", "url", "code", "tier", "group_name", "expires_at"]

    def validate(self, data):
        needs = {
            "discount": ("url", "expires_at"), "voucher": ("code",), "tier_offer": ("tier",),
            "group_qr": ("group_name", "url"), "link": ("url",),
        }[data["kind"]]  # fmt: skip
        missing = {name: "This kind of call to action needs it." for name in needs if not data.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        return data


# --- views ---------------------------------------------------------------------------------------------
class CampaignList(generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    queryset = (
        Campaign.objects.select_related("owner").annotate(moment_count=Count("moments")).order_by("-starts_on", "-id")
    )

    def get_serializer_class(self):
        return CampaignIn if self.request.method == "POST" else CampaignOut

    @extend_schema(request=CampaignIn, responses={201: CampaignOut})
    def post(self, request):
        data = CampaignIn(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = Campaign.objects.create(owner=request.user, **data.validated_data)
        campaign.moment_count = 0
        return Response(CampaignOut(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetail(generics.RetrieveUpdateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    queryset = Campaign.objects.select_related("owner").annotate(moment_count=Count("moments"))
    lookup_field = "public_id"
    http_method_names = ["get", "patch", "head", "options"]

    def get_serializer_class(self):
        return CampaignIn if self.request.method == "PATCH" else CampaignOut

    @extend_schema(request=CampaignIn, responses={200: CampaignOut})
    def patch(self, request, public_id):
        campaign = self.get_object()
        data = CampaignIn(campaign, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        data.save()
        return Response(CampaignOut(self.get_object()).data)


class MomentList(generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("campaign", OpenApiTypes.UUID, description="Only this campaign's moments."),
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(State.values), description="Only those in it."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return Moment.objects.select_related("campaign").prefetch_related(_variants()).order_by("publish_at", "id")

    def filter_queryset(self, moments):
        # here, not in get_queryset: the model permissions read that before the method is known
        campaign = self.request.query_params.get("campaign")
        if campaign is not None:
            try:
                campaign = serializers.UUIDField().to_internal_value(campaign)
            except serializers.ValidationError:
                raise ValidationError({"campaign": [_("A campaign is named by its public id (a UUID).")]}) from None
            moments = moments.filter(campaign__public_id=campaign)
        state = self.request.query_params.get("state")
        if state is not None:
            if state not in State.values:
                raise ValidationError({"state": [_("One of: %(states)s.") % {"states": ", ".join(State.values)}]})
            moments = moments.filter(state=state)
        return moments

    def get_serializer_class(self):
        return MomentIn if self.request.method == "POST" else MomentOut

    @extend_schema(request=MomentIn, responses={201: MomentOut})
    def post(self, request):
        data = MomentIn(data=request.data)
        data.is_valid(raise_exception=True)
        moment = Moment.objects.create(**data.validated_data)
        services.moment_edited(moment=moment, by=request.user)
        services.campaign_state_refresh(moment.campaign)
        return Response(MomentOut(moment).data, status=status.HTTP_201_CREATED)


class MomentDetail(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    queryset = Moment.objects.select_related("campaign").prefetch_related(_variants())
    lookup_field = "public_id"
    serializer_class = MomentOut


class VariantCreate(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=VariantIn, responses={201: VariantOut})
    def post(self, request, public_id):
        if not request.user.has_perm("campaigns.add_variant"):
            return Response({"detail": "You may not add variants."}, status=status.HTTP_403_FORBIDDEN)
        moment = get_object_or_404(Moment, public_id=public_id)
        data = VariantIn(data=request.data)
        data.is_valid(raise_exception=True)
        variant = services.variant_save(moment=moment, by=request.user, values=data.validated_data)
        return Response(VariantOut(variant).data, status=status.HTTP_201_CREATED)


class VariantDetail(APIView):
    permission_classes = [IsAuthenticated]

    def _get(self, request, public_id, permission):
        if not request.user.has_perm(f"campaigns.{permission}_variant"):
            return None
        return get_object_or_404(Variant.objects.select_related("moment__campaign"), public_id=public_id)

    @extend_schema(responses={200: VariantOut})
    def get(self, request, public_id):
        variant = self._get(request, public_id, "view")
        if variant is None:
            return Response({"detail": "You may not view variants."}, status=status.HTTP_403_FORBIDDEN)
        return Response(VariantOut(variant).data)

    @extend_schema(request=VariantIn, responses={200: VariantOut})
    def put(self, request, public_id):
        variant = self._get(request, public_id, "change")
        if variant is None:
            return Response({"detail": "You may not change variants."}, status=status.HTTP_403_FORBIDDEN)
        data = VariantIn(data=request.data)
        data.is_valid(raise_exception=True)
        variant = services.variant_save(moment=variant.moment, by=request.user, values=data.validated_data,
                                        variant=variant)  # fmt: skip
        return Response(VariantOut(variant).data)


class SeesPlans(permissions.BasePermission):
    message = "You do not have permission to act on moments."

    def has_permission(self, request, view):
        return request.user.has_perm("campaigns.view_moment")


def _transition(name: str, run, *, summary: str, out=None):
    """A workflow step as ``POST …/<name>/`` with an optional note, answering the moment (or,
    for a step on a whole plan, ``out=CampaignOut``: the campaign)."""

    class Step(APIView):
        # Who may not even see the plans is refused before any lookup (403, not 404); the step
        # itself then checks its own right (submit, approve …).
        permission_classes = [IsAuthenticated, SeesPlans]

        @extend_schema(request=NoteIn, responses={200: out or MomentOut}, summary=summary, operation_id=name)
        def post(self, request, public_id):
            data = NoteIn(data=request.data)
            data.is_valid(raise_exception=True)
            result = run(request, public_id, data.validated_data["note"])
            return Response(result)

    Step.__name__ = Step.__qualname__ = "".join(part.title() for part in name.split("_"))
    return Step.as_view()


def _moment(public_id) -> Moment:
    return get_object_or_404(Moment.objects.select_related("campaign"), public_id=public_id)


def _campaign(public_id) -> Campaign:
    return get_object_or_404(Campaign, public_id=public_id)


def _moment_out(moment: Moment) -> dict:
    return MomentOut(Moment.objects.prefetch_related(_variants()).get(pk=moment.pk)).data


def _campaign_out(campaign: Campaign) -> dict:
    return CampaignOut(Campaign.objects.annotate(moment_count=Count("moments")).get(pk=campaign.pk)).data


def _moment_step(call):
    """A workflow step on one moment: ``call(moment, user, note)``, answering with the moment."""

    def run(request, public_id, note):
        moment = _moment(public_id)
        call(moment, request.user, note)
        return _moment_out(moment)

    return run


def _campaign_step(call):
    """A workflow step on a whole plan: ``call(campaign, user, note)``, answering with the campaign."""

    def run(request, public_id, note):
        campaign = _campaign(public_id)
        call(campaign, request.user, note)
        return _campaign_out(campaign)

    return run


_moment_submit = _moment_step(lambda m, user, note: services.moment_submit(moment=m, by=user, note=note))
_moment_schedule = _moment_step(lambda m, user, note: services.moment_schedule(moment=m, by=user))
_moment_cancel = _moment_step(lambda m, user, note: services.moment_cancel(moment=m, by=user, note=note))
_campaign_submit = _campaign_step(lambda c, user, note: services.campaign_submit(campaign=c, by=user, note=note))


def _moment_decide(approve: bool):
    return _moment_step(lambda m, user, note: services.moment_decide(moment=m, by=user, approve=approve, note=note))


def _campaign_decide(approve: bool):
    return _campaign_step(
        lambda c, user, note: services.campaign_decide(campaign=c, by=user, approve=approve, note=note)
    )


def _campaign_clone(request, public_id, note):
    if not request.user.has_perm("campaigns.add_campaign"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Only marketing admins clone campaigns.")
    return _campaign_out(services.campaign_clone(campaign=_campaign(public_id), by=request.user))


class MediaList(generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = MediaOut
    parser_classes = [MultiPartParser]
    queryset = MediaAsset.objects.order_by("-created_at", "-id")

    @extend_schema(request={"multipart/form-data": MediaUploadIn}, responses={201: MediaOut})
    def post(self, request):
        data = MediaUploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        from campaigns import images

        asset = services.media_asset_create(data=upload.read(images.MAX_UPLOAD_BYTES + 1), original_name=upload.name,
                                            title=data.validated_data["title"], by=request.user)  # fmt: skip
        return Response(MediaOut(asset, context={"request": request}).data, status=status.HTTP_201_CREATED)


class HashtagList(generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    queryset = Hashtag.objects.order_by("kind", "text")
    serializer_class = HashtagOut

    @extend_schema(request=HashtagIn, responses={201: HashtagOut})
    def post(self, request):
        data = HashtagIn(data=request.data)
        data.is_valid(raise_exception=True)
        hashtag = services.hashtag_create(**data.validated_data)
        return Response(HashtagOut(hashtag).data, status=status.HTTP_201_CREATED)


class CallToActionList(generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    queryset = CallToAction.objects.select_related("tier").order_by("-created_at", "-id")

    def get_serializer_class(self):
        return CallToActionIn if self.request.method == "POST" else CallToActionOut

    @extend_schema(request=CallToActionIn, responses={201: CallToActionOut})
    def post(self, request):
        data = CallToActionIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(CallToActionOut(data.save()).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("campaigns/", CampaignList.as_view(), name="campaign-list"),
    path("campaigns/<uuid:public_id>/", CampaignDetail.as_view(), name="campaign-detail"),
    path("campaigns/<uuid:public_id>/submit/", _transition("campaign_submit", _campaign_submit,
         summary="Submit every draft moment for review", out=CampaignOut), name="campaign-submit"),
    path("campaigns/<uuid:public_id>/approve/", _transition("campaign_approve", _campaign_decide(True),
         summary="Approve every moment in review", out=CampaignOut), name="campaign-approve"),
    path("campaigns/<uuid:public_id>/reject/", _transition("campaign_reject", _campaign_decide(False),
         summary="Send every moment in review back to draft", out=CampaignOut), name="campaign-reject"),
    path("campaigns/<uuid:public_id>/clone/", _transition("campaign_clone", _campaign_clone,
         summary="A draft copy a year later", out=CampaignOut), name="campaign-clone"),
    path("moments/", MomentList.as_view(), name="moment-list"),
    path("moments/<uuid:public_id>/", MomentDetail.as_view(), name="moment-detail"),
    path("moments/<uuid:public_id>/variants/", VariantCreate.as_view(), name="moment-variants"),
    path("moments/<uuid:public_id>/submit/", _transition("moment_submit", _moment_submit,
         summary="Submit for review"), name="moment-submit"),
    path("moments/<uuid:public_id>/approve/", _transition("moment_approve", _moment_decide(True),
         summary="Approve"), name="moment-approve"),
    path("moments/<uuid:public_id>/reject/", _transition("moment_reject", _moment_decide(False),
         summary="Reject (a note is required)"), name="moment-reject"),
    path("moments/<uuid:public_id>/schedule/", _transition("moment_schedule", _moment_schedule,
         summary="Schedule an approved moment"), name="moment-schedule"),
    path("moments/<uuid:public_id>/cancel/", _transition("moment_cancel", _moment_cancel,
         summary="Cancel"), name="moment-cancel"),
    path("variants/<uuid:public_id>/", VariantDetail.as_view(), name="variant-detail"),
    path("media/", MediaList.as_view(), name="media-list"),
    path("hashtags/", HashtagList.as_view(), name="hashtag-list"),
    path("ctas/", CallToActionList.as_view(), name="cta-list"),
]  # fmt: skip
