"""The libraries: tones, hashtags, forbidden words, calls to action, media; approvals and history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin

from campaigns import images, rules, services
from campaigns.models import (
    Approval,
    CallToAction,
    ForbiddenWord,
    Hashtag,
    MediaAsset,
    StateChange,
    Tone,
)


# --- libraries ----------------------------------------------------------------------------------
class LibraryAdmin(ModelAdmin):
    """A library object the moments' versions are made from: a change goes through
    ``services.library_object_save`` (the moments using it go back to review), and the change page says
    which moments that will be before saving."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if request.method == "GET" else None
        if obj is not None and (affected := services.library_impact(obj)):
            names = "、".join(f"{m.campaign.name} · {m.title}" for m in affected[:20])
            messages.warning(request, ngettext(
                "Saving a change here sends %(n)s moment back to review: %(moments)s.",
                "Saving a change here sends %(n)s moments back to review: %(moments)s.", len(affected),
            ) % {"n": len(affected), "moments": names + (" …" if len(affected) > 20 else "")})  # fmt: skip
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        affected = services.library_object_save(obj=obj, by=request.user)
        if affected:
            messages.info(request, ngettext("%(n)s moment went back to review.", "%(n)s moments went back to review.",
                                            len(affected)) % {"n": len(affected)})  # fmt: skip


@admin.register(Tone)
class ToneAdmin(LibraryAdmin):
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
class HashtagAdmin(LibraryAdmin):
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
            CallToAction.Kind.GROUP_QR: {"group_name": _("Name the customer group the QR code joins."),
                                         "url": _("A group QR code needs the URL that joins the group.")},
            CallToAction.Kind.LINK: {"url": _("A tracked link needs its URL.")},
        }.get(kind, {})  # fmt: skip
        for name, message in needs.items():
            if not data.get(name):
                self.add_error(name, message)
        return data


@admin.register(CallToAction)
class CallToActionAdmin(LibraryAdmin):
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

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        """A refused upload answers 400 (the form again, with the message on its field), not 200."""
        response = super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
        if request.method == "POST" and context["adminform"].form.errors:
            response.status_code = 400
        return response

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
