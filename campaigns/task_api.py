"""The API's read of what happened to a plan: the publish tasks (one per associate and
variant: notified, opened, published …) and a moment's approvals. Publish tasks are scoped
like the directory (``staff.selectors``); both lists are paginated."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated

from campaigns.models import Approval, Moment, PublishTask
from moments_admin.api import ModelPermissions, Pagination
from staff.selectors import associates_for_user


class PublishTaskOut(serializers.ModelSerializer):
    moment = serializers.UUIDField(source="moment.public_id", read_only=True)
    variant = serializers.UUIDField(source="variant.public_id", read_only=True)
    associate = serializers.CharField(source="associate.userid", read_only=True)

    class Meta:
        model = PublishTask
        fields = ["public_id", "moment", "variant", "associate", "state", "notified_at", "opened_at",
                  "publish_requested_at", "published_at", "via", "reminders_sent", "errcode", "error"]  # fmt: skip


class ApprovalOut(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = Approval
        fields = ["decision", "note", "decided_by", "decided_at"]


class PublishTaskList(generics.ListAPIView):
    """Publish tasks of the associates in your scope, newest moment first; ``?moment=<id>``
    and ``?state=`` narrow the list."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = PublishTaskOut
    queryset = PublishTask.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("moment", OpenApiTypes.UUID),
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(PublishTask.State.values)),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return PublishTask.objects.filter(associate__in=associates_for_user(user=self.request.user))

    def filter_queryset(self, tasks):
        # here, not in get_queryset: the model permissions read that before the method is known
        moment = self.request.query_params.get("moment")
        if moment is not None:
            try:
                tasks = tasks.filter(moment__public_id=serializers.UUIDField().to_internal_value(moment))
            except serializers.ValidationError:
                raise ValidationError({"moment": [_("A moment is named by its public id (a UUID).")]}) from None
        state = self.request.query_params.get("state")
        if state is not None:
            if state not in PublishTask.State.values:
                raise ValidationError(
                    {"state": [_("One of: %(states)s.") % {"states": ", ".join(PublishTask.State.values)}]}
                )
            tasks = tasks.filter(state=state)
        return tasks.select_related("moment", "variant", "associate").order_by(
            "-moment__publish_at", "associate_id", "id"
        )


class MomentApprovals(generics.ListAPIView):
    """A moment's review history (and its campaign's plan decisions), newest first."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = ApprovalOut
    queryset = Approval.objects.none()

    def list(self, request, *args, **kwargs):
        self.moment = get_object_or_404(Moment, public_id=kwargs["public_id"])  # after the permission check
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        moment = getattr(self, "moment", None)
        if moment is None:
            return Approval.objects.none()
        plan = Approval.objects.filter(campaign_id=moment.campaign_id, moment__isnull=True)
        return (
            (plan | Approval.objects.filter(moment=moment)).select_related("decided_by").order_by("-decided_at", "-id")
        )


urlpatterns = [
    path("publish-tasks/", PublishTaskList.as_view(), name="publish-task-list"),
    path("moments/<uuid:public_id>/approvals/", MomentApprovals.as_view(), name="moment-approvals"),
]
