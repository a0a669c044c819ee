"""What the campaigns admin pages share: the workflow confirmation page and the history."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from campaigns import services
from campaigns.models import (
    State,
    StateChange,
)

WORKFLOW_ERRORS = (ValidationError, services.WorkflowError, PermissionDenied)


def _report(request, error: Exception) -> None:
    for message in getattr(error, "messages", None) or [str(error)]:
        messages.error(request, message)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


def transition_page(model_admin, request, obj, *, title: str, explanation: str, button: str, run, note: bool = True):
    """A confirmation page for one workflow step: GET shows it, POST runs ``run(note)``.

    ``run`` returns the success message, or (message, URL) to go elsewhere than back to ``obj``
    (a clone opens the copy)."""
    change_url = reverse(f"admin:campaigns_{obj._meta.model_name}_change", args=[obj.pk])
    form = NoteForm(request.POST if request.method == "POST" else None)  # an empty POST is still a POST
    if request.method == "POST" and form.is_valid():
        try:
            result = run(form.cleaned_data["note"])
        except WORKFLOW_ERRORS as error:
            _report(request, error)
        else:
            if isinstance(result, tuple):
                result, change_url = result
            messages.success(request, result)
        return redirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title, "object": obj, "explanation": explanation, "button": button, "form": form,
        "with_note": note, "cancel_url": change_url, "opts": model_admin.model._meta,
    }  # fmt: skip
    return TemplateResponse(request, "admin/campaigns/transition.html", context)


def history_html(obj) -> str:
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
