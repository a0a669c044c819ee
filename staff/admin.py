"""The directory in the admin (django-unfold). Every queryset is scoped through
``staff.selectors``; an object outside the user's scope is a 404."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import DropdownFilter
from unfold.decorators import action
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.paginator import InfinitePaginator

from staff import selectors, services
from staff.models import (
    Associate,
    AssociateDepartment,
    CallbackEvent,
    Contact,
    ContactTag,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
    ManagerAssignment,
    User,
)


class ScopedAdminMixin:
    """Restrict the admin to the user's directory scope. Out-of-scope objects
    answer 404 (Django's admin would redirect with a message instead)."""

    def scoped_queryset(self, request):
        raise NotImplementedError

    def get_queryset(self, request):
        queryset = self.scoped_queryset(request)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def _require_in_scope(self, request, object_id):
        if object_id is not None and self.get_object(request, unquote(object_id)) is None:
            raise Http404(_("No such record in your part of the directory."))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require_in_scope(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._require_in_scope(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._require_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)


def _department_choices(request):
    departments = selectors.departments_for_user(user=request.user).only("pk", "name", "path")
    return [(str(d.pk), "— " * (d.path.count("/") - 2) + d.name) for d in departments.order_by("path")]


class AssociateDepartmentFilter(DropdownFilter):
    """Associates in a department or anywhere below it."""

    title = _("department")
    parameter_name = "department"

    def lookups(self, request, model_admin):
        return _department_choices(request)

    def queryset(self, request, queryset):
        department = self._chosen_department(request)
        if department is None:
            return queryset
        inside = selectors.departments_for_user(user=request.user).filter(path__startswith=department.path)
        return queryset.filter(pk__in=selectors.associates_in_departments(inside).values("pk"))

    def _chosen_department(self, request):
        if not self.value():
            return None
        try:
            return selectors.departments_for_user(user=request.user).get(pk=int(self.value()))
        except (ValueError, Department.DoesNotExist):
            return None


class ContactDepartmentFilter(AssociateDepartmentFilter):
    def queryset(self, request, queryset):
        department = self._chosen_department(request)
        if department is None:
            return queryset
        inside = selectors.departments_for_user(user=request.user).filter(path__startswith=department.path)
        return queryset.filter(associate__in=selectors.associates_in_departments(inside))


class TagFilter(DropdownFilter):
    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = CustomerTag.objects.filter(is_deleted=False).select_related("group")
        return [(str(tag.pk), str(tag)) for tag in tags]

    def tag_id(self):
        try:
            return int(self.value()) if self.value() else None
        except ValueError:
            return None


class ContactTagFilter(TagFilter):
    def queryset(self, request, queryset):
        tag_id = self.tag_id()
        return queryset if tag_id is None else selectors.contacts_with_tag(queryset, tag_id=tag_id)


class CustomerTagFilter(TagFilter):
    def queryset(self, request, queryset):
        tag_id = self.tag_id()
        return queryset if tag_id is None else selectors.customers_with_tag(queryset, tag_id=tag_id)


class HasProfilePhotoFilter(admin.SimpleListFilter):
    title = _("profile photo")
    parameter_name = "photo"

    def lookups(self, request, model_admin):
        return [("yes", _("has a profile photo")), ("no", _("no profile photo"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(avatar="")
        if self.value() == "no":
            return queryset.filter(avatar="")
        return queryset


@admin.register(Department)
class DepartmentAdmin(ScopedAdminMixin, ModelAdmin):
    list_display = ["indented_name", "kind", "wecom_id", "parent", "member_count"]
    list_filter = ["kind"]
    search_fields = ["name", "=wecom_id"]
    ordering = ["path"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    fields = ["name", "wecom_id", "kind", "parent", "order"]

    def scoped_queryset(self, request):
        members = (
            AssociateDepartment.objects.filter(department_id=OuterRef("pk"))
            .order_by()
            .values("department_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return selectors.departments_for_user(user=request.user).annotate(
            member_count=Coalesce(Subquery(members, output_field=IntegerField()), 0)
        )

    @admin.display(description=_("name"), ordering="path")
    def indented_name(self, obj):
        return "— " * max(obj.path.count("/") - 2, 0) + obj.name

    @admin.display(description=_("associates"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    def save_model(self, request, obj, form, change):
        services.department_save(department=obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        instance = obj

        class DepartmentForm(form):
            def clean_parent(self):
                parent = self.cleaned_data.get("parent")
                if instance is not None:
                    try:
                        services.department_check_parent(department=instance, parent=parent)
                    except services.DirectoryError as error:
                        raise ValidationError(str(error)) from None
                return parent

        return DepartmentForm


class AssociateDepartmentInline(TabularInline):
    model = AssociateDepartment
    extra = 0
    autocomplete_fields = ["department"]
    verbose_name = _("department")
    verbose_name_plural = _("departments")


@admin.register(Associate)
class AssociateAdmin(ScopedAdminMixin, ModelAdmin):
    list_display = ["name", "userid", "main_department", "is_verified", "photo", "contact_count", "is_active"]
    list_filter = ["is_verified", "is_active", AssociateDepartmentFilter, HasProfilePhotoFilter]
    list_filter_submit = True
    search_fields = ["=userid", "^name"]
    ordering = ["userid"]
    list_select_related = ["main_department"]
    autocomplete_fields = ["main_department"]
    inlines = [AssociateDepartmentInline]
    readonly_fields = ["created_at", "updated_at", "deactivated_at"]
    fields = [
        "userid",
        "name",
        "position",
        "avatar",
        "main_department",
        "is_verified",
        "is_active",
        "deactivated_at",
        "created_at",
        "updated_at",
    ]

    def scoped_queryset(self, request):
        return selectors.with_active_contact_count(selectors.associates_for_user(user=request.user))

    @admin.display(description=_("contacts"), ordering="contact_count")
    def contact_count(self, obj):
        return obj.contact_count

    @admin.display(description=_("profile photo"), boolean=True)
    def photo(self, obj):
        return obj.has_profile_photo

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class AssociateForm(form):
            def clean_userid(self):
                # WeCom user ids are case-insensitive; we keep one spelling (see the model).
                return self.cleaned_data["userid"].strip().lower()

        return AssociateForm


@admin.register(Customer)
class CustomerAdmin(ScopedAdminMixin, ModelAdmin):
    list_display = ["name", "external_userid", "type", "gender", "contact_count"]
    list_filter = ["type", "gender", CustomerTagFilter]
    list_filter_submit = True
    search_fields = ["=external_userid", "^name"]
    ordering = ["external_userid"]
    # Millions of rows: page through without COUNT(*) over the whole table.
    paginator = InfinitePaginator
    show_full_result_count = False
    readonly_fields = ["created_at"]

    def scoped_queryset(self, request):
        return selectors.with_contact_count_of_customer(selectors.customers_for_user(user=request.user))

    @admin.display(description=_("associates"), ordering="contact_count")
    def contact_count(self, obj):
        return obj.contact_count


class CustomerTagInline(TabularInline):
    model = CustomerTag
    extra = 0
    fields = ["name", "tag_id", "order", "is_deleted"]


@admin.register(CustomerTagGroup)
class CustomerTagGroupAdmin(ModelAdmin):
    list_display = ["name", "group_id", "is_tier", "order", "is_deleted"]
    list_filter = ["is_tier", "is_deleted"]
    search_fields = ["name", "=group_id"]
    inlines = [CustomerTagInline]


@admin.register(CustomerTag)
class CustomerTagAdmin(ModelAdmin):
    list_display = ["name", "group", "tag_id", "order", "is_deleted"]
    list_filter = ["group", "is_deleted"]
    list_select_related = ["group"]
    search_fields = ["name", "=tag_id"]


class ContactTagInline(TabularInline):
    model = ContactTag
    extra = 0
    autocomplete_fields = ["tag"]
    verbose_name = _("tag")
    verbose_name_plural = _("tags")


@admin.register(Contact)
class ContactAdmin(ScopedAdminMixin, ModelAdmin):
    list_display = ["customer", "associate", "added_at", "add_way", "state", "is_active"]
    list_filter = ["is_active", "add_way", ContactDepartmentFilter, ContactTagFilter]
    list_filter_submit = True
    # Exact matches only: a LIKE over 10M contacts would scan them all.
    search_fields = ["=associate__userid", "=customer__external_userid", "=state"]
    search_help_text = _("An associate's userid, a customer's external userid or a channel, exactly.")
    list_select_related = ["associate", "customer"]
    autocomplete_fields = ["associate", "customer"]
    inlines = [ContactTagInline]
    # Tens of millions of rows: newest first by primary key (indexed; a global
    # ORDER BY added_at would sort the table), and no COUNT(*) per page.
    ordering = ["-pk"]
    paginator = InfinitePaginator
    show_full_result_count = False

    def scoped_queryset(self, request):
        return selectors.contacts_for_user(user=request.user)


class ManagerAssignmentInline(TabularInline):
    model = ManagerAssignment
    extra = 0
    autocomplete_fields = ["department"]


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    inlines = [ManagerAssignmentInline]
    list_display = ["username", "email", "is_staff", "is_active", "roles"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def roles(self, obj):
        return ", ".join(group.name for group in obj.groups.all())

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.manager_assignments.exists() and not form.instance.is_staff:
            messages.warning(request, _("This user manages departments but is not staff, so cannot log in here."))


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(DirectorySyncRun)
class DirectorySyncRunAdmin(ModelAdmin):
    """Each sync run and what it changed; the button starts one."""

    list_display = ["started_at", "status", "stage", "finished_at", "changes", "error"]
    list_filter = ["status"]
    readonly_fields = ["status", "stage", "started_at", "finished_at", "checkpoint_userid", "counts", "error"]
    actions_list = ["sync_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_sync_permission(self, request):
        return request.user.has_perm("staff.add_directorysyncrun")

    @admin.display(description=_("changes"))
    def changes(self, obj):
        return ", ".join(f"{name} {count}" for name, count in sorted(obj.counts.items()) if count) or "—"

    @action(description=_("Sync from WeCom now"), url_path="sync-now", permissions=["sync"])
    def sync_now(self, request):
        changelist = "admin:staff_directorysyncrun_changelist"
        if request.method == "POST":
            from staff.tasks import directory_sync_task

            transaction.on_commit(directory_sync_task.delay)
            messages.success(request, _("The directory sync has started; refresh this page to follow it."))
            return redirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sync the directory from WeCom"),
            "running": DirectorySyncRun.objects.filter(status=DirectorySyncRun.Status.RUNNING).exists(),
            "cancel_url": redirect(changelist).url,
        }
        return TemplateResponse(request, "admin/staff/directory_sync_confirm.html", context)


@admin.register(CallbackEvent)
class CallbackEventAdmin(ModelAdmin):
    """WeCom callbacks as received and what applying them did."""

    list_display = ["received_at", "event", "change_type", "applied_at", "outcome"]
    list_filter = ["event", "change_type"]
    search_fields = ["=key"]
    readonly_fields = ["key", "event", "change_type", "payload", "received_at", "applied_at", "outcome"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
