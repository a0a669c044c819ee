"""Variants: content, photos, hashtags and the live preview."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from campaigns import images, rules, selectors, services
from campaigns.models import (
    MediaAsset,
    State,
    Variant,
    VariantHashtag,
    VariantImage,
)


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
                  "copy", "personal_touch", "personal_line_max", "video", "link_url", "link_title", "link_cover",
                  "cta"]  # fmt: skip
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
            audience_tag_pks=tuple(t.pk for t in data.get("audience_tags") or []),
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
        (_("Content"), {"fields": ["copy", "personal_touch", "personal_line_max", "upload_photos", "video", "link_url",
                                   "link_title", "link_cover", "cta"]}),
    ]  # fmt: skip

    class Media:
        css = {"all": ["campaigns/preview.css"]}
        js = ["campaigns/preview.js"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.moment_is_editable(obj.moment))

    def get_readonly_fields(self, request, obj=None):
        """A saved variant stays in its moment: moving it would change two moments' content, one unseen."""
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "moment"] if obj is not None and obj.pk else fields

    def has_delete_permission(self, request, obj=None):
        """A moment past approval keeps its variants: what was approved is what goes out."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or services.moment_is_editable(obj.moment))

    def delete_model(self, request, obj):
        services.variant_delete(variant=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for variant in queryset.select_related("moment"):
            try:
                services.variant_delete(variant=variant, by=request.user)
            except services.WorkflowError as refused:
                messages.error(request, str(refused))

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
