"""The associate's one-click page (DESIGN.md §5.4): phone-first, no JS framework.
GET shows the moment as customers will see it; POST (CSRF) asks WeCom to
create the moment task for this associate. Bad links get a clear page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from campaigns import dispatch, selectors
from campaigns.models import Moment, PublishTask, State
from wecom.client import client_from_settings


def _refusal(request, kind: str, status: int) -> HttpResponse:
    return render(request, "campaigns/publish_refused.html", {"kind": kind}, status=status)


@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest, token: str) -> HttpResponse:
    try:
        task = dispatch.publish_task_from_token(token)
    except dispatch.LinkInvalid:
        return _refusal(request, "invalid", 404)
    if task.moment.state == State.CANCELLED or task.state == PublishTask.State.CANCELLED:
        return _refusal(request, "cancelled", 410)
    done = task.state in (PublishTask.State.PUBLISH_REQUESTED, PublishTask.State.PUBLISHED)
    if task.moment.expires_at <= timezone.now() and not done:
        return _refusal(request, "expired", 410)
    error = ""
    enterprise = task.moment.mode == Moment.Mode.ENTERPRISE  # WeCom pushed the task; it is published there
    if enterprise:
        done = task.state == PublishTask.State.PUBLISHED
    if request.method == "POST" and not done and not enterprise:
        try:
            with client_from_settings() as client:
                dispatch.publish_task_request(task=task, copy=request.POST.get("copy"), client=client)
        except dispatch.PublishRefused as refused:
            error = str(refused)
        task.refresh_from_db()
        done = task.state in (PublishTask.State.PUBLISH_REQUESTED, PublishTask.State.PUBLISHED)
    if request.method == "GET":
        dispatch.publish_task_open(task)
    preview = selectors.variant_preview(task.variant)
    preview.author_name, preview.author_avatar = task.associate.name, task.associate.avatar
    context = {
        "task": task,
        "preview": preview,
        "done": done,
        "enterprise": enterprise,
        "error": error,
        "slots_left": dispatch.feed_slots_left(task.associate_id),
        "copy": task.edited_copy or task.variant.copy,
        "my_tasks_url": reverse("campaigns:my-tasks", args=[dispatch.my_tasks_token(task.associate)]),
    }
    return render(request, "campaigns/publish.html", context)


@require_http_methods(["GET"])
def my_tasks(request: HttpRequest, token: str) -> HttpResponse:
    """Today's open tasks of one associate (the link is signed for one local day)."""
    try:
        associate, day = dispatch.my_tasks_from_token(token)
    except dispatch.LinkInvalid:
        return _refusal(request, "invalid", 404)
    if day != timezone.localdate():
        return _refusal(request, "expired", 410)
    tasks = [(task, reverse("campaigns:publish", args=[dispatch.publish_link_token(task)]))
             for task in dispatch.my_open_tasks(associate)]  # fmt: skip
    context = {"associate": associate, "tasks": tasks, "slots_left": dispatch.feed_slots_left(associate.pk)}
    return render(request, "campaigns/my_tasks.html", context)
