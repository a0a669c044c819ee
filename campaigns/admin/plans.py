"""Campaigns and moments: the plan, the workflow buttons, previews and the calendar."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.decorators import action

from analytics.models import ForecastJob
from campaigns import rules, selectors, services
from campaigns.admin import channels, forecast_panel
from campaigns.admin.common import history_html, transition_page
from campaigns.models import (
    Campaign,
    EnterpriseTask,
    Moment,
    PublishTask,
    State,
    Variant,
)


# --- campaigns ----------------------------------------------------------------------------------
class MomentForm(forms.ModelForm):
    """The moment's times, checked as at submission (in the past, backwards, outside the campaign)."""

    class Meta:
        model = Moment
        fields = ["campaign", "title", "publish_at", "expires_at", "mode"]

    def clean(self):
        data = super().clean()
        campaign = data.get("campaign") or getattr(self.instance, "campaign", None)
        if data.get("publish_at") and data.get("expires_at") and campaign is not None:
            window = rules.Window(data["publish_at"], data["expires_at"], campaign.starts_on, campaign.ends_on)
            for field, problems in rules.moment_window_errors(window).items():
                for problem in problems:
                    self.add_error(field, problem)
        return data


class MomentInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        for form in self.forms:
            moment = form.instance
            if moment.pk and form.has_changed() and not services.moment_is_editable(moment):
                raise ValidationError(
                    gettext("“%(moment)s” is %(state)s and can no longer be edited.")
                    % {"moment": moment.title, "state": State(moment.state).label}
                )


class MomentInline(TabularInline):
    model = Moment
    form = MomentForm
    formset = MomentInlineFormSet
    fields = ["title", "publish_at", "expires_at", "mode", "state"]
    readonly_fields = ["state"]
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        # Only new moments are added here: the campaign's own are listed read-only, each linking to its page,
        # by ``CampaignAdmin.moment_list`` (one small row each; ten of Unfold's form rows cost ~200 ms of the
        # page, issue #19).
        return super().get_queryset(request).none()


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    list_display = ["name", "starts_on", "ends_on", "state", "moment_count", "owner"]
    list_filter = ["state", "starts_on"]
    search_fields = ["name", "goal"]
    date_hierarchy = "starts_on"
    inlines = [MomentInline]
    readonly_fields = ["state", "owner", "moment_list", "warnings", "channel_codes", "trail"]
    fields = ["name", "goal", "starts_on", "ends_on", "welcome_text", "state", "owner", "moment_list", "warnings",
              "channel_codes", "trail"]  # fmt: skip
    actions_detail = ["submit_plan", "approve_plan", "reject_plan", "clone_plan", "create_channel_codes",
                      "download_channel_codes"]  # fmt: skip
    change_form_outer_after_template = "admin/campaigns/forecast_panel.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").annotate(moment_total=Count("moments"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None and obj.pk:  # the last snapshot (never computed here), not on the add page
            context["reach_forecast"] = forecast_panel.campaign_panel(campaign=obj, user=request.user,
                                                                      admin_site=self.admin_site)  # fmt: skip
            obj._forecast_status = context["reach_forecast"].status  # the warnings field reads it too
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/forecast/status/", view(self.forecast_status),
                 name="campaigns_campaign_forecast_status"),
            path("<path:object_id>/forecast/recompute/", view(self.forecast_recompute),
                 name="campaigns_campaign_forecast_recompute"),
        ] + super().get_urls()  # fmt: skip

    def _viewable(self, request, object_id) -> Campaign:
        campaign = self._get(request, object_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return campaign

    def forecast_status(self, request, object_id):
        """The forecast's recomputation as JSON, for the panel's poll (static/campaigns/forecast-progress.js)."""
        from analytics import snapshots

        campaign = self._viewable(request, object_id)
        job = ForecastJob.objects.filter(campaign=campaign).first()
        return JsonResponse(snapshots.job_progress(job))

    def forecast_recompute(self, request, object_id):
        """POST: recompute the campaign's forecast now (the directory and other campaigns change too)."""
        from analytics import snapshots

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self._viewable(request, object_id)
        snapshots.request(campaign.pk, forced=True, by=request.user, delay=0)
        messages.success(request, gettext("The forecast is being recomputed: the panel shows its progress."))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):  # fmt: skip
            back = reverse(f"{self.admin_site.name}:campaigns_campaign_change", args=[campaign.pk])
        return HttpResponseRedirect(back + "#reach-forecast")

    @admin.display(description=_("moments"), ordering="moment_total")
    def moment_count(self, obj):
        return obj.moment_total

    @admin.display(description=_("history"))
    def trail(self, obj):
        return history_html(obj) if obj.pk else "—"

    @admin.display(description=_("moments"))
    def moment_list(self, obj):
        """The campaign's moments, read-only, each linking to its page (where it is edited, with its variants,
        warnings and forecast): one query, built once (Unfold asks a read-only field several times)."""
        if not obj.pk:
            return "—"
        if not hasattr(obj, "_moment_list"):
            moments = Moment.objects.filter(campaign=obj).order_by("publish_at", "pk").only(
                "pk", "title", "publish_at", "expires_at", "mode", "state")  # fmt: skip
            site = self.admin_site.name
            rows = [{"moment": m, "url": reverse(f"{site}:campaigns_moment_change", args=[m.pk])} for m in moments]
            obj._moment_list = render_to_string("admin/campaigns/moment_list.html", {
                "rows": rows, "fields": {f: Moment._meta.get_field(f).verbose_name for f in
                                         ("title", "publish_at", "expires_at", "mode", "state")}})  # fmt: skip
        return obj._moment_list

    @admin.display(description=_("warnings"))
    def warnings(self, obj):
        if not obj.pk:
            return "—"
        # As the last forecast run checked them (never in the request); Unfold asks a read-only field for
        # its value several times per page: built once.
        if not hasattr(obj, "_drafting_warnings"):
            obj._drafting_warnings = forecast_panel.campaign_warnings_html(
                obj, status=getattr(obj, "_forecast_status", None), site_name=self.admin_site.name
            )
        return obj._drafting_warnings

    @admin.display(description=_("channel QR codes"))
    def channel_codes(self, obj):
        if not hasattr(obj, "_channel_codes"):  # asked for several times per page
            obj._channel_codes = channels.codes_html(obj)
        return obj._channel_codes

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save()
        for moment in instances:  # new or changed moments
            services.moment_edited(moment=moment, by=request.user)
        services.campaign_state_refresh(form.instance)
        if formset.deleted_objects:  # moments deleted from the plan: its forecast follows (analytics.snapshots)
            from analytics import snapshots

            snapshots.plan_changed(form.instance.pk)

    def _get(self, request, object_id) -> Campaign:
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404
        return campaign

    def has_submit_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.submit_moment")

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.approve_moment")

    @action(description=_("Submit the plan for review"), url_path="submit", permissions=["submit"])
    def submit_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(note):
            count = services.campaign_submit(campaign=campaign, by=request.user, note=note)
            return gettext("%(count)s moments are now in review.") % {"count": count}

        return transition_page(self, request, campaign, title=gettext("Submit “%s” for review") % campaign.name,
                               explanation=gettext("Every draft moment of the plan goes to the approvers."),
                               button=gettext("Submit"), run=run)  # fmt: skip

    @action(description=_("Approve the plan"), url_path="approve", permissions=["approve"])
    def approve_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(note):
            services.campaign_decide(campaign=campaign, by=request.user, approve=True, note=note)
            return gettext("The plan is approved.")

        return transition_page(self, request, campaign, title=gettext("Approve “%s”") % campaign.name,
                               explanation=gettext("Every moment in review is approved at once."),
                               button=gettext("Approve"), run=run)  # fmt: skip

    @action(description=_("Reject the plan"), url_path="reject", permissions=["approve"])
    def reject_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(note):
            services.campaign_decide(campaign=campaign, by=request.user, approve=False, note=note)
            return gettext("The plan is sent back to its writers.")

        return transition_page(self, request, campaign, title=gettext("Reject “%s”") % campaign.name,
                               explanation=gettext("Every moment in review goes back to draft; say why."),
                               button=gettext("Reject"), run=run)  # fmt: skip

    def has_create_channel_codes_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.add_channelcode")

    def has_view_channel_codes_permission(self, request, obj=None):
        # The codes name the campaign's associates: only who may see the plan (not a manager of
        # any region: the campaign admin is not scoped to one).
        return request.user.has_perm("campaigns.view_channelcode") and request.user.has_perm("campaigns.view_campaign")

    @action(description=_("Create channel QR codes"), url_path="channel-codes",
            permissions=["create_channel_codes"])  # fmt: skip
    def create_channel_codes(self, request, object_id):
        campaign = self._get(request, object_id)
        return transition_page(
            self, request, campaign, title=gettext("Channel QR codes for “%s”") % campaign.name,
            explanation=gettext("A “contact me” QR code for each associate the campaign targets. Customers who add "
                                "an associate with it count as the campaign's new contacts and get its welcome "
                                "message. Existing codes are kept."),
            button=gettext("Create"), run=lambda _note: channels.codes_create(campaign), note=False,
        )  # fmt: skip

    @action(description=_("Download channel QR codes (CSV)"), url_path="channel-codes.csv",
            permissions=["view_channel_codes"])  # fmt: skip
    def download_channel_codes(self, request, object_id):
        return channels.codes_csv(self._get(request, object_id))

    @action(description=_("Clone the campaign"), url_path="clone", permissions=["submit"])
    def clone_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(_note):
            copy = services.campaign_clone(campaign=campaign, by=request.user)
            return (gettext("A draft copy a year later: change its dates and content."),
                    reverse("admin:campaigns_campaign_change", args=[copy.pk]))  # fmt: skip

        # Confirmed on POST like every other step: a GET (a link, an image on any page) changes nothing.
        return transition_page(self, request, campaign, title=gettext("Clone “%s”") % campaign.name,
                               explanation=gettext("A draft copy of the campaign and its moments, a year later."),
                               button=gettext("Clone"), run=run, note=False)  # fmt: skip


# --- moments ------------------------------------------------------------------------------------
class VariantInline(StackedInline):
    model = Variant
    fields = ["name", "tone", "audience_all", "audience_tags", "target_departments", "target_associates", "copy",
              "personal_touch", "personal_line_max", "cta"]  # fmt: skip
    autocomplete_fields = ["audience_tags", "target_departments", "target_associates", "cta", "tone"]
    extra = 0
    show_change_link = True


@admin.register(Moment)
class MomentAdmin(ModelAdmin):
    form = MomentForm
    list_display = ["title", "campaign", "publish_at", "expires_at", "mode", "state", "edited_by"]
    list_filter = ["state", "mode", "campaign"]
    search_fields = ["title", "campaign__name"]
    list_select_related = ["campaign", "edited_by"]
    date_hierarchy = "publish_at"
    inlines = [VariantInline]
    autocomplete_fields = ["campaign"]
    fields = ["campaign", "title", "publish_at", "expires_at", "mode", "state", "edited_by", "approved_versions",
              "warnings", "funnel", "previews", "trail"]  # fmt: skip
    readonly_fields = ["state", "edited_by", "approved_versions", "warnings", "funnel", "previews", "trail"]
    actions_detail = ["submit", "approve", "reject", "schedule", "cancel", "clone"]
    actions_list = ["calendar"]
    change_form_outer_after_template = "admin/campaigns/forecast_panel.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None and obj.pk:  # the last snapshot (never computed here), not on the add page
            # A refused form leaves its unsaved values on obj: show the forecast of what is saved.
            saved = obj if request.method == "GET" else Moment.objects.get(pk=obj.pk)
            context["reach_forecast"] = forecast_panel.moment_panel(moment=saved, user=request.user,
                                                                    admin_site=self.admin_site)  # fmt: skip
            obj._forecast_status = context["reach_forecast"].status  # the warnings field reads it too
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.moment_is_editable(obj))

    @admin.display(description=_("associates"))
    def funnel(self, obj):
        """The funnel of ``analytics.selectors.funnel_counts`` (the dashboards' too): targeted
        (not cancelled), notified, opened, publish requested, published, and failed (one query)."""
        from analytics.selectors import moment_funnel

        if not obj.pk:
            return "—"
        counts = moment_funnel(obj)
        if not any(counts.values()):
            return "—"
        states = PublishTask.State
        steps = [("tasks", gettext("targeted")), ("notified", states.NOTIFIED.label), ("opened", states.OPENED.label),
                 ("requested", states.PUBLISH_REQUESTED.label), ("published", states.PUBLISHED.label),
                 ("failed", states.FAILED.label)]  # fmt: skip
        text = " → ".join(f"{label} {counts[key]}" for key, label in steps)
        if obj.mode == Moment.Mode.ENTERPRISE:  # and the state of its WeCom tasks (one query)
            wecom = [f"{t.variant.name}: {t.get_state_display()}" + (f" ({t.error})" if t.error else "")
                     for t in EnterpriseTask.objects.filter(variant__moment=obj).select_related("variant")]  # fmt: skip
            if wecom:
                text += " · " + gettext("WeCom tasks") + ": " + "; ".join(wecom)
        return text

    @admin.display(description=_("warnings"))
    def warnings(self, obj):
        if not obj.pk:
            return "—"
        if not hasattr(obj, "_drafting_warnings"):  # as the campaign's: checked in the background, built once
            obj._drafting_warnings = forecast_panel.moment_warnings_html(
                obj, status=getattr(obj, "_forecast_status", None)
            )
        return obj._drafting_warnings

    @admin.display(description=_("approved versions"))
    def approved_versions(self, obj):
        """Per variant: which version is approved, by whom and when; the version awaiting review and what it
        changes against the approved one (the approver's difference)."""
        if not obj.pk:
            return "—"
        return render_to_string("admin/campaigns/versions.html", {"rows": selectors.moment_versions(obj)})

    @admin.display(description=_("preview"))
    def previews(self, obj):
        if not obj.pk:
            return "—"
        variants = [(v.name, selectors.variant_preview(v)) for v in obj.variants.all()]
        return render_to_string("admin/campaigns/previews.html", {"variants": variants})

    @admin.display(description=_("history"))
    def trail(self, obj):
        return history_html(obj) if obj.pk else "—"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change or form.has_changed() or any(formset.has_changed() for formset in formsets):
            services.moment_edited(moment=form.instance, by=request.user)

    def _get(self, request, object_id) -> Moment:
        moment = Moment.objects.select_related("campaign").filter(pk=unquote(object_id)).first()
        if moment is None or not self.has_view_permission(request, moment):
            raise Http404
        return moment

    def has_submit_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.submit_moment")

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.approve_moment")

    def _step(self, request, object_id, *, title, explanation, button, run, note=True):
        moment = self._get(request, object_id)
        return transition_page(self, request, moment, title=title % moment.title, explanation=explanation,
                               button=button, run=lambda text: run(moment, text), note=note)  # fmt: skip

    @action(description=_("Submit for review"), url_path="submit", permissions=["submit"])
    def submit(self, request, object_id):
        def run(moment, note):
            services.moment_submit(moment=moment, by=request.user, note=note)
            return gettext("Submitted for review.")

        return self._step(request, object_id, title=gettext("Submit “%s” for review"),
                          explanation=gettext("Approvers will see it; any edit sends it back to draft."),
                          button=gettext("Submit"), run=run)  # fmt: skip

    @action(description=_("Approve"), url_path="approve", permissions=["approve"])
    def approve(self, request, object_id):
        def run(moment, note):
            services.moment_decide(moment=moment, by=request.user, approve=True, note=note)
            return gettext("Approved.")

        return self._step(request, object_id, title=gettext("Approve “%s”"),
                          explanation=gettext("It can then be scheduled."),
                          button=gettext("Approve"), run=run)  # fmt: skip

    @action(description=_("Reject"), url_path="reject", permissions=["approve"])
    def reject(self, request, object_id):
        def run(moment, note):
            services.moment_decide(moment=moment, by=request.user, approve=False, note=note)
            return gettext("Sent back to draft.")

        return self._step(request, object_id, title=gettext("Reject “%s”"),
                          explanation=gettext("It goes back to draft; say why."),
                          button=gettext("Reject"), run=run)  # fmt: skip

    @action(description=_("Schedule"), url_path="schedule", permissions=["submit"])
    def schedule(self, request, object_id):
        def run(moment, note):
            services.moment_schedule(moment=moment, by=request.user)
            return gettext("Scheduled: associates will be notified at the publish time.")

        return self._step(request, object_id, title=gettext("Schedule “%s”"),
                          explanation=gettext("At the publish time each target associate gets a notification."),
                          button=gettext("Schedule"), run=run)  # fmt: skip

    @action(description=_("Cancel"), url_path="cancel", permissions=["submit"])
    def cancel(self, request, object_id):
        def run(moment, note):
            services.moment_cancel(moment=moment, by=request.user, note=note)
            return gettext("Cancelled.")

        return self._step(request, object_id, title=gettext("Cancel “%s”"),
                          explanation=gettext("It will not be sent. This cannot be undone."),
                          button=gettext("Cancel the moment"), run=run)  # fmt: skip

    @action(description=_("Clone"), url_path="clone", permissions=["submit"])
    def clone(self, request, object_id):
        def run(moment, _note):
            copy = services.moment_clone(moment=moment, by=request.user)
            return gettext("A draft copy a day later."), reverse("admin:campaigns_moment_change", args=[copy.pk])

        return self._step(request, object_id, title=gettext("Clone “%s”"),
                          explanation=gettext("A draft copy of the moment and its variants, a day later."),
                          button=gettext("Clone"), run=run, note=False)  # fmt: skip

    @action(description=_("Calendar"), url_path="calendar", icon="calendar_month", permissions=["view"])
    def calendar(self, request):
        return self.calendar_view(request)

    def calendar_view(self, request):
        today = timezone.localdate()
        week = request.GET.get("week")
        try:
            if week:
                first = dt.date.fromisoformat(week)
                first -= dt.timedelta(days=first.weekday())
                last, month, mode = first + dt.timedelta(days=6), None, "week"
            else:
                year, month = (int(x) for x in request.GET.get("month", today.strftime("%Y-%m")).split("-"))
                first, last = selectors.month_bounds(year, month)
                mode = "month"
        except ValueError:
            messages.error(request, gettext("That is not a date: showing this month."))
            first, last = selectors.month_bounds(today.year, today.month)
            month, mode = today.month, "month"
        previous_month = (first.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        next_month = (last + dt.timedelta(days=1)).strftime("%Y-%m")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Calendar of moments"),
            "opts": Moment._meta,
            "weeks": selectors.calendar_weeks(first, last, month=month),
            "first": first, "last": last, "mode": mode,
            "previous": {"month": previous_month} if mode == "month" else {"week": (first - dt.timedelta(days=7))},
            "next": {"month": next_month} if mode == "month" else {"week": (first + dt.timedelta(days=7))},
            "weekdays": [gettext(d) for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")],
        }  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/calendar.html", context)


@admin.register(PublishTask)
class PublishTaskAdmin(ModelAdmin):
    """Each associate's task: who was notified, opened, asked to publish, published, or failed and why."""

    list_display = ["associate", "moment", "variant", "state", "notified_at", "opened_at", "publish_requested_at",
                    "published_at", "error"]  # fmt: skip
    list_filter = ["state", "moment__campaign"]
    search_fields = ["=associate__userid", "associate__name", "moment__title"]
    list_select_related = ["associate", "moment", "variant"]
    readonly_fields = [f.name for f in PublishTask._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
