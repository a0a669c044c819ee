"""Campaign drafting in the admin (django-unfold): campaigns with their moments,
moments with their variants, variants with photos, hashtags, a call to action
and a phone-feed preview; the libraries; a calendar of moments; the workflow
as buttons on the moment and campaign pages. Every write goes through
``campaigns.services``; forms use ``campaigns.rules`` for their messages."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.decorators import action

from campaigns import images, rules, selectors, services
from campaigns.models import (
    Approval,
    CallToAction,
    Campaign,
    ForbiddenWord,
    Hashtag,
    MediaAsset,
    Moment,
    State,
    StateChange,
    Tone,
    Variant,
    VariantHashtag,
    VariantImage,
)

WORKFLOW_ERRORS = (ValidationError, services.WorkflowError, PermissionDenied)


def _report(request, error: Exception) -> None:
    for message in getattr(error, "messages", None) or [str(error)]:
        messages.error(request, message)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


def _transition(model_admin, request, obj, *, title: str, explanation: str, button: str, run, note: bool = True):
    """A confirmation page for one workflow step: GET shows it, POST runs ``run(note)``."""
    change_url = reverse(f"admin:campaigns_{obj._meta.model_name}_change", args=[obj.pk])
    form = NoteForm(request.POST if request.method == "POST" else None)  # an empty POST is still a POST
    if request.method == "POST" and form.is_valid():
        try:
            result = run(form.cleaned_data["note"])
        except WORKFLOW_ERRORS as error:
            _report(request, error)
        else:
            messages.success(request, result)
        return redirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title, "object": obj, "explanation": explanation, "button": button, "form": form,
        "with_note": note, "cancel_url": change_url, "opts": model_admin.model._meta,
    }  # fmt: skip
    return TemplateResponse(request, "admin/campaigns/transition.html", context)


def _trail(obj) -> str:
    changes = StateChange.objects.filter(**{obj._meta.model_name: obj}).select_related("by", "moment")[:30]
    if not changes:
        return "—"
    return format_html(
        "<ol class='space-y-1'>{}</ol>",
        format_html_join(
            "", "<li>{} · {} → {} · {} {}</li>",
            ((timezone.localtime(c.at).strftime("%Y-%m-%d %H:%M"), State(c.from_state).label, State(c.to_state).label,
              c.by or "—", f"· {c.note}" if c.note else "") for c in changes),
        ),
    )  # fmt: skip


# --- libraries ----------------------------------------------------------------------------------
@admin.register(Tone)
class ToneAdmin(ModelAdmin):
    list_display = ["name", "code", "order", "is_active"]
    list_editable = ["order", "is_active"]
    search_fields = ["name", "code"]


class HashtagForm(forms.ModelForm):
    class Meta:
        model = Hashtag
        fields = ["text", "kind", "is_active"]

    def clean_text(self):
        return rules.hashtag_normalise(self.cleaned_data["text"])


@admin.register(Hashtag)
class HashtagAdmin(ModelAdmin):
    form = HashtagForm
    list_display = ["__str__", "kind", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["text"]


@admin.register(ForbiddenWord)
class ForbiddenWordAdmin(ModelAdmin):
    list_display = ["word", "note", "created_at"]
    search_fields = ["word", "note"]


class CallToActionForm(forms.ModelForm):
    class Meta:
        model = CallToAction
        fields = ["kind", "label", "url", "code", "tier", "group_name", "expires_at"]

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        needs = {
            CallToAction.Kind.DISCOUNT: {"url": _("A discount needs the URL of the offer."),
                                         "expires_at": _("A limited-time discount needs its end time.")},
            CallToAction.Kind.VOUCHER: {"code": _("A voucher needs its code.")},
            CallToAction.Kind.TIER_OFFER: {"tier": _("Choose the tier this offer is for.")},
            CallToAction.Kind.GROUP_QR: {"group_name": _("Name the customer group the QR code joins.")},
            CallToAction.Kind.LINK: {"url": _("A tracked link needs its URL.")},
        }.get(kind, {})  # fmt: skip
        for name, message in needs.items():
            if not data.get(name):
                self.add_error(name, message)
        return data


@admin.register(CallToAction)
class CallToActionAdmin(ModelAdmin):
    form = CallToActionForm
    list_display = ["label", "kind", "code", "tier", "expires_at"]
    list_filter = ["kind"]
    search_fields = ["label", "code", "url"]
    autocomplete_fields = ["tier"]


class MediaAssetForm(forms.ModelForm):
    upload = forms.FileField(
        label=_("File"), required=False,
        help_text=_("A photo (JPEG, PNG or WEBP) or a video (MP4 of at most 30 seconds), at most 10 MB."),
    )  # fmt: skip

    class Meta:
        model = MediaAsset
        fields = ["title"]

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if self.instance.pk is None and upload is None:
            raise ValidationError(_("Choose a photo to upload."))
        if upload is not None:
            self.prepared = services.media_prepare(data=upload.read(images.MAX_UPLOAD_BYTES + 1))
            self.original_name = upload.name
        return upload


@admin.register(MediaAsset)
class MediaAssetAdmin(ModelAdmin):
    form = MediaAssetForm
    list_display = ["thumb", "__str__", "kind", "dimensions", "usage_count", "created_at", "uploaded_by"]
    list_filter = ["kind"]
    search_fields = ["title", "original_name"]
    readonly_fields = ["thumb", "kind", "dimensions", "size", "seconds", "original_name", "uploaded_by", "created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("uploaded_by")
            .annotate(usage_count=Count("variants", distinct=True))
        )

    def get_fields(self, request, obj=None):
        return ["upload", "title"] if obj is None else ["thumb", "title", "kind", "dimensions", "size", "seconds",
                                                        "original_name", "uploaded_by", "created_at"]  # fmt: skip

    @admin.display(description=_("photo"))
    def thumb(self, obj):
        return format_html('<img src="{}" alt="" style="height:48px;border-radius:4px">', obj.thumbnail.url)

    @admin.display(description=_("size"))
    def dimensions(self, obj):
        return f"{obj.width}×{obj.height}"

    @admin.display(description=_("used by variants"), ordering="usage_count")
    def usage_count(self, obj):
        return obj.usage_count

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        return services.media_asset_create(prepared=form.prepared, original_name=form.original_name,
                                           title=form.cleaned_data.get("title", ""), by=request.user)  # fmt: skip

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:  # an upload was stored whole by the service; it has no relations to save
            super().save_related(request, form, formsets, change)


@admin.register(Approval)
class ApprovalAdmin(ModelAdmin):
    list_display = ["decided_at", "campaign", "moment", "decision", "decided_by", "note"]
    list_filter = ["decision"]
    search_fields = ["campaign__name", "moment__title", "note"]
    list_select_related = ["campaign", "moment", "decided_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StateChange)
class StateChangeAdmin(ApprovalAdmin):
    list_display = ["at", "campaign", "moment", "from_state", "to_state", "by", "note"]
    list_filter = ["to_state"]
    search_fields = ["campaign__name", "moment__title", "note"]
    list_select_related = ["campaign", "moment", "by"]


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


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    list_display = ["name", "starts_on", "ends_on", "state", "moment_count", "owner"]
    list_filter = ["state", "starts_on"]
    search_fields = ["name", "goal"]
    date_hierarchy = "starts_on"
    inlines = [MomentInline]
    readonly_fields = ["state", "owner", "trail"]
    fields = ["name", "goal", "starts_on", "ends_on", "state", "owner", "trail"]
    actions_detail = ["submit_plan", "approve_plan", "reject_plan", "clone_plan"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").annotate(moment_total=Count("moments"))

    @admin.display(description=_("moments"), ordering="moment_total")
    def moment_count(self, obj):
        return obj.moment_total

    @admin.display(description=_("history"))
    def trail(self, obj):
        return _trail(obj) if obj.pk else "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save()
        for moment in instances:  # new or changed moments
            services.moment_edited(moment=moment, by=request.user)
        services.campaign_state_refresh(form.instance)

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

        return _transition(self, request, campaign, title=gettext("Submit “%s” for review") % campaign.name,
                           explanation=gettext("Every draft moment of the plan goes to the approvers."),
                           button=gettext("Submit"), run=run)  # fmt: skip

    @action(description=_("Approve the plan"), url_path="approve", permissions=["approve"])
    def approve_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(note):
            services.campaign_decide(campaign=campaign, by=request.user, approve=True, note=note)
            return gettext("The plan is approved.")

        return _transition(self, request, campaign, title=gettext("Approve “%s”") % campaign.name,
                           explanation=gettext("Every moment in review is approved at once."),
                           button=gettext("Approve"), run=run)  # fmt: skip

    @action(description=_("Reject the plan"), url_path="reject", permissions=["approve"])
    def reject_plan(self, request, object_id):
        campaign = self._get(request, object_id)

        def run(note):
            services.campaign_decide(campaign=campaign, by=request.user, approve=False, note=note)
            return gettext("The plan is sent back to its writers.")

        return _transition(self, request, campaign, title=gettext("Reject “%s”") % campaign.name,
                           explanation=gettext("Every moment in review goes back to draft; say why."),
                           button=gettext("Reject"), run=run)  # fmt: skip

    @action(description=_("Clone the campaign"), url_path="clone", permissions=["submit"])
    def clone_plan(self, request, object_id):
        campaign = self._get(request, object_id)
        copy = services.campaign_clone(campaign=campaign, by=request.user)
        messages.success(request, gettext("A draft copy a year later: change its dates and content."))
        return redirect(reverse("admin:campaigns_campaign_change", args=[copy.pk]))


# --- moments ------------------------------------------------------------------------------------
class VariantInline(StackedInline):
    model = Variant
    fields = ["name", "tone", "audience_all", "audience_tags", "target_departments", "target_associates", "copy",
              "allow_personal_touch", "cta"]  # fmt: skip
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
    fields = ["campaign", "title", "publish_at", "expires_at", "mode", "state", "edited_by", "previews", "trail"]
    readonly_fields = ["state", "edited_by", "previews", "trail"]
    actions_detail = ["submit", "approve", "reject", "schedule", "cancel", "clone"]
    actions_list = ["calendar"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.moment_is_editable(obj))

    @admin.display(description=_("preview"))
    def previews(self, obj):
        if not obj.pk:
            return "—"
        variants = [(v.name, selectors.variant_preview(v)) for v in obj.variants.all()]
        return render_to_string("admin/campaigns/previews.html", {"variants": variants})

    @admin.display(description=_("history"))
    def trail(self, obj):
        return _trail(obj) if obj.pk else "—"

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

    def _step(self, request, object_id, *, title, explanation, button, run):
        moment = self._get(request, object_id)
        return _transition(self, request, moment, title=title % moment.title, explanation=explanation,
                           button=button, run=lambda note: run(moment, note))  # fmt: skip

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
        copy = services.moment_clone(moment=self._get(request, object_id), by=request.user)
        messages.success(request, gettext("A draft copy a day later."))
        return redirect(reverse("admin:campaigns_moment_change", args=[copy.pk]))

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


# --- variants -----------------------------------------------------------------------------------
class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


class VariantForm(forms.ModelForm):
    upload_photos = MultipleImageField(
        label=_("Upload photos"), required=False,
        help_text=_("JPEG, PNG or WEBP, at most 10 MB each; they join the media library."),
    )  # fmt: skip

    class Meta:
        model = Variant
        fields = ["moment", "name", "tone", "audience_all", "audience_tags", "target_departments", "target_associates",
                  "copy", "allow_personal_touch", "video", "link_url", "link_title", "link_cover", "cta"]  # fmt: skip
        widgets = {"copy": forms.Textarea(attrs={"rows": 6})}

    def clean_upload_photos(self):
        files = self.cleaned_data.get("upload_photos") or []
        self.prepared = []
        problems = []
        for upload in files:
            try:
                prepared = images.image_prepare(data=upload.read(images.MAX_UPLOAD_BYTES + 1))
                self.prepared.append((prepared, upload.name))
            except ValidationError as error:
                problems.extend(f"{upload.name}: {message}" for message in error.messages)
        if problems:
            raise ValidationError(problems)
        existing = self.instance.images.count() if self.instance.pk else 0
        if existing + len(files) > rules.MAX_IMAGES:
            raise ValidationError(gettext("At most %(max)s photos; this variant has %(n)s.")
                                  % {"max": rules.MAX_IMAGES, "n": existing + len(files)})  # fmt: skip
        return files

    def clean(self):
        data = super().clean()
        moment = data.get("moment") or (self.instance.moment if self.instance.moment_id else None)
        if moment is None:
            return data
        if not services.moment_is_editable(moment):
            raise ValidationError(gettext("“%(moment)s” is %(state)s and can no longer be edited.")
                                  % {"moment": moment.title, "state": State(moment.state).label})  # fmt: skip
        content = rules.VariantContent(
            copy=data.get("copy") or "",
            link_url=data.get("link_url") or "",
            link_title=data.get("link_title") or "",
            has_link_cover=bool(data.get("link_cover")),
            has_video=bool(data.get("video")),
            image_count=(self.instance.images.count() if self.instance.pk else 0) + len(getattr(self, "prepared", [])),
            cta=data.get("cta"),
            audience_all=bool(data.get("audience_all")),
            audience_tag_count=len(data.get("audience_tags") or []),
            department_count=len(data.get("target_departments") or []),
            associate_count=len(data.get("target_associates") or []),
            hashtags=[h.text for h in self.instance.hashtags.all()] if self.instance.pk else [],
        )
        video, cover = data.get("video"), data.get("link_cover")
        if video is not None and video.kind != MediaAsset.Kind.VIDEO:
            self.add_error("video", gettext("This media asset is a photo, not a video."))
        if cover is not None and cover.kind != MediaAsset.Kind.IMAGE:
            self.add_error("link_cover", gettext("A link's cover is a photo."))
        window = services.moment_window(moment)
        for field, problems in rules.variant_errors(content, window, forbidden=selectors.forbidden_words()).items():
            target = field if field in self.fields else None
            for problem in problems:
                self.add_error(target, problem)
        return data


class VariantHashtagInline(TabularInline):
    model = VariantHashtag
    fields = ["hashtag", "position"]
    autocomplete_fields = ["hashtag"]
    extra = 0
    verbose_name = _("hashtag")
    verbose_name_plural = _("hashtags")


class VariantImageFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if any(f.cleaned_data["asset"].kind != MediaAsset.Kind.IMAGE for f in kept if f.cleaned_data.get("asset")):
            raise ValidationError(gettext("Only photos go here; a video is chosen as the variant's video."))
        if len(kept) > rules.MAX_IMAGES:
            raise ValidationError(gettext("At most %(max)s photos; this variant has %(n)s.")
                                  % {"max": rules.MAX_IMAGES, "n": len(kept)})  # fmt: skip


class VariantImageInline(TabularInline):
    model = VariantImage
    formset = VariantImageFormSet
    fields = ["asset", "position", "thumb"]
    readonly_fields = ["thumb"]
    autocomplete_fields = ["asset"]
    extra = 0
    verbose_name = _("photo")
    verbose_name_plural = _("photos")

    @admin.display(description=_("preview"))
    def thumb(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<img src="{}" alt="" style="height:48px">', obj.asset.thumbnail.url)


@admin.register(Variant)
class VariantAdmin(ModelAdmin):
    form = VariantForm
    list_display = ["name", "moment", "tone", "audience_all", "cta"]
    list_filter = ["tone", "audience_all"]
    search_fields = ["name", "copy", "moment__title", "moment__campaign__name"]
    list_select_related = ["moment", "tone", "cta"]
    autocomplete_fields = ["moment", "audience_tags", "target_departments", "target_associates", "video",
                           "link_cover", "cta"]  # fmt: skip
    inlines = [VariantHashtagInline, VariantImageInline]
    readonly_fields = ["preview"]
    fieldsets = [
        (None, {"fields": ["moment", "name", "tone", "preview"]}),
        (_("Audience"), {"fields": ["audience_all", "audience_tags", "target_departments", "target_associates"]}),
        (_("Content"), {"fields": ["copy", "allow_personal_touch", "upload_photos", "video", "link_url",
                                   "link_title", "link_cover", "cta"]}),
    ]  # fmt: skip

    class Media:
        css = {"all": ["campaigns/preview.css"]}
        js = ["campaigns/preview.js"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.moment_is_editable(obj.moment))

    @admin.display(description=_("preview"))
    def preview(self, obj):
        if not obj.pk:
            return gettext("Save to see the preview.")
        return render_to_string("campaigns/preview_card.html", {"preview": selectors.variant_preview(obj)})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        variant = form.instance
        position = variant.images.count()
        for prepared, name in getattr(form, "prepared", []):
            asset = services.media_asset_create(prepared=prepared, original_name=name, by=request.user)
            VariantImage.objects.get_or_create(variant=variant, asset=asset, defaults={"position": position})
            position += 1
        if not change or form.has_changed() or any(formset.has_changed() for formset in formsets):
            services.moment_edited(moment=variant.moment, by=request.user)
