"""The directory API (DRF): departments, associates, customers and their contacts, read
in the user's scope (``staff.selectors``: a manager sees their subtrees, anything else is a
404), and the directory sync from WeCom, started and followed. Every list is paginated."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from moments_admin.api import MessageOut, ModelPermissions, Pagination
from staff.models import Associate, Contact, Customer, Department, DirectorySyncRun
from staff.selectors import (
    associates_for_user,
    contacts_for_user,
    customers_for_user,
    departments_for_user,
    with_active_contact_count,
)


class DepartmentOut(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent.wecom_id", allow_null=True, read_only=True)

    class Meta:
        model = Department
        fields = ["wecom_id", "name", "kind", "parent"]


class AssociateOut(serializers.ModelSerializer):
    main_department = serializers.IntegerField(source="main_department.wecom_id", allow_null=True, read_only=True)
    contacts = serializers.IntegerField(source="contact_count", read_only=True)

    class Meta:
        model = Associate
        fields = ["userid", "name", "position", "avatar", "is_verified", "is_active", "main_department", "contacts"]


class CustomerOut(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["external_userid", "name", "type", "corp_name"]


class ContactOut(serializers.ModelSerializer):
    associate = serializers.CharField(source="associate.userid", read_only=True)
    customer = serializers.CharField(source="customer.external_userid", read_only=True)

    class Meta:
        model = Contact
        fields = ["associate", "customer", "added_at", "is_active", "add_way", "state"]


class SyncRunOut(serializers.ModelSerializer):
    class Meta:
        model = DirectorySyncRun
        fields = ["id", "status", "stage", "started_at", "finished_at", "counts", "error"]


class DepartmentList(generics.ListAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = DepartmentOut
    queryset = Department.objects.none()  # for the model permissions; the scoped rows come below

    def get_queryset(self):
        return departments_for_user(user=self.request.user).select_related("parent").order_by("path", "id")


class AssociateList(generics.ListAPIView):
    """Associates in the user's scope, with their active contacts (``?department=<wecom_id>``
    narrows to a subtree, ``?verified=0`` to unverified accounts)."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = AssociateOut
    queryset = Associate.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("department", OpenApiTypes.INT, description="A department's WeCom id, within your scope: "
                             "its associates and those of the departments under it."),
            OpenApiParameter("verified", OpenApiTypes.STR, enum=["0", "1"], description="1: verified accounts only; "
                             "0: unverified ones only."),
        ]
    )  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return associates_for_user(user=self.request.user).select_related("main_department")

    def filter_queryset(self, associates):
        # here, not in get_queryset: the model permissions read that before the method is known
        department = self.request.query_params.get("department")
        if department is not None:
            if not (department.isascii() and department.isdigit()) or len(department) > 12:
                raise ValidationError({"department": [_("A department is named by its WeCom id, a number.")]})
            found = departments_for_user(user=self.request.user).filter(wecom_id=int(department)).first()
            if found is None:
                raise ValidationError({"department": [_("There is no such department among yours.")]})
            associates = associates.filter(departments__path__startswith=found.path).distinct()
        verified = self.request.query_params.get("verified")
        if verified is not None:
            if verified not in ("0", "1"):
                raise ValidationError({"verified": [_("1 for verified accounts, 0 for unverified ones.")]})
            associates = associates.filter(is_verified=verified == "1")
        return with_active_contact_count(associates).order_by("userid")


class AssociateDetail(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    serializer_class = AssociateOut
    queryset = Associate.objects.none()
    lookup_field = "userid"

    def get_queryset(self):
        return with_active_contact_count(associates_for_user(user=self.request.user).select_related("main_department"))


class CustomerList(generics.ListAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = CustomerOut
    queryset = Customer.objects.none()

    def get_queryset(self):
        return customers_for_user(user=self.request.user).order_by("external_userid")


class CustomerDetail(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated, ModelPermissions]
    serializer_class = CustomerOut
    queryset = Customer.objects.none()
    lookup_field = "external_userid"

    def get_queryset(self):
        return customers_for_user(user=self.request.user)


class AssociateContacts(generics.ListAPIView):
    """One associate's contacts (the audience graph), oldest first."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = ContactOut
    queryset = Contact.objects.none()

    def list(self, request, *args, **kwargs):
        # after the permission check (DRF's model permissions call get_queryset): then a 404
        get_object_or_404(associates_for_user(user=request.user), userid=kwargs["userid"])
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        return (
            contacts_for_user(user=self.request.user)
            .filter(associate__userid=self.kwargs["userid"])
            .select_related("associate", "customer")
            .order_by("added_at", "id")
        )


class SyncRunList(generics.ListCreateAPIView):
    """The directory syncs from WeCom; POST starts one (the nightly one runs anyway). 409
    while one runs."""

    permission_classes = [IsAuthenticated, ModelPermissions]
    pagination_class = Pagination
    serializer_class = SyncRunOut
    queryset = DirectorySyncRun.objects.order_by("-started_at", "-id")

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(MessageOut, description="The sync is queued: follow it in the list."),
            409: OpenApiResponse(MessageOut, description="A sync is already running."),
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        from staff.tasks import directory_sync_task

        if DirectorySyncRun.objects.filter(status=DirectorySyncRun.Status.RUNNING).exists():
            return Response({"detail": _("A directory sync is already running.")}, status=status.HTTP_409_CONFLICT)
        transaction.on_commit(directory_sync_task.delay)
        return Response({"detail": _("The directory sync starts in a moment.")}, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("directory/departments/", DepartmentList.as_view(), name="department-list"),
    path("directory/associates/", AssociateList.as_view(), name="associate-list"),
    path("directory/associates/<str:userid>/", AssociateDetail.as_view(), name="associate-detail"),
    path("directory/associates/<str:userid>/contacts/", AssociateContacts.as_view(), name="associate-contacts"),
    path("directory/customers/", CustomerList.as_view(), name="customer-list"),
    path("directory/customers/<str:external_userid>/", CustomerDetail.as_view(), name="customer-detail"),
    path("directory/syncs/", SyncRunList.as_view(), name="directory-sync-list"),
]
