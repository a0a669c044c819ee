"""The associate's one-click page (DESIGN.md §5.4): phone-first, no JS framework.
GET shows the moment as customers will see it; POST (CSRF) asks WeCom to
create the moment task for this associate. Bad links get a clear page.

Customers' short links (DESIGN.md §5.5, campaigns.links): ``/go/<code>`` counts a
click and redirects, its QR code is ``/go/<code>/qr.png`` or ``.svg``; unknown or
malformed codes get a friendly 404 page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from analytics.selectors import feed_slots_left  # the one upward need (DESIGN.md §2): today's feed slots
from campaigns import dispatch, links, rules, selectors
from campaigns.models import Moment, PublishTask, State
from campaigns.opener import ASK_AGAIN, OpenerRefused, opener_check
from wecom import jssdk as wecom_jssdk
from wecom import oauth
from wecom.client import client_from_settings
from wecom.errors import WeComError


def _refusal(request, kind: str, status: int, associate=None) -> HttpResponse:
    context = {"kind": kind, "associate": associate, "ask_again": f"{request.path}?who={ASK_AGAIN}"}
    return render(request, "campaigns/publish_refused.html", context, status=status)


@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest, token: str) -> HttpResponse:
    try:
        task = dispatch.publish_task_from_token(token)
    except dispatch.LinkInvalid:
        return _refusal(request, "invalid", 404)
    try:
        if asked := opener_check(request, task.associate, may_redirect=request.method == "GET"):
            return asked  # through WeCom's OAuth first: who opened this link?
    except OpenerRefused as refused:
        return _refusal(request, refused.kind, 403, task.associate)
    if task.moment.state == State.CANCELLED or task.state == PublishTask.State.CANCELLED:
        return _refusal(request, "cancelled", 410)
    done = task.state in (PublishTask.State.PUBLISH_REQUESTED, PublishTask.State.PUBLISHED)
    if task.moment.expires_at <= timezone.now() and not done:
        return _refusal(request, "expired", 410)
    error, problems = "", []
    if task.version_id is None:
        return _refusal(request, "cancelled", 410)  # nothing approved to post (no task is made so since versions)
    content = dispatch.task_content(task)  # the approved version: the page shows and posts nothing else
    enterprise = task.moment.mode == Moment.Mode.ENTERPRISE  # WeCom pushed the task; it is published there
    if enterprise:
        done = task.state == PublishTask.State.PUBLISHED
    if request.method == "POST" and not done and not enterprise:
        try:
            with client_from_settings() as client:
                dispatch.publish_task_request(task=task, copy=request.POST.get("copy"), client=client)
        except dispatch.PersonalTouchRefused as refused:
            error, problems = "touch", refused.problems
        except dispatch.PublishRefused as refused:
            error = str(refused)
        task.refresh_from_db()
        done = task.state in (PublishTask.State.PUBLISH_REQUESTED, PublishTask.State.PUBLISHED)
    if request.method == "GET":
        dispatch.publish_task_open(task)
    jssdk = None
    in_wecom = oauth.in_wecom(request.headers.get("User-Agent", ""))
    # A tagged variant never takes the JS-SDK path (it carries no visible range): the server creates its task.
    tagged = bool(content.tag_ids)
    if in_wecom and not enterprise and not done and content.video is None and not tagged:
        try:
            with client_from_settings() as client:
                jssdk = wecom_jssdk.agent_config(client=client, url=request.build_absolute_uri())
        except WeComError:
            jssdk = None  # no ticket now: the Publish button takes the server path
    # The short links this associate posts (the moment's own in enterprise mode, where WeCom posts one content).
    tracked = links.posted_links(content, associate=None if enterprise else task.associate)
    written = request.POST.get("copy", "") if problems else task.edited_copy
    touch = rules.PersonalTouch(policy=content.personal_touch, max_chars=content.personal_line_max)
    shown = rules.personal_text(content.copy, task.edited_copy, touch) if done else None  # as posted, once posted
    preview = selectors.content_preview(content, tracked=tracked, author=task.associate,
                                        publish_at=task.moment.publish_at, copy=shown)  # fmt: skip
    # The same moment's other variants for this associate (one notification stands for them all).
    siblings = [
        (dispatch.task_variant_name(other), reverse("campaigns:publish", args=[dispatch.publish_link_token(other)]))
        for other in dispatch.sibling_tasks(task)
    ]
    context = {
        "task": task,
        "token": token,
        "preview": preview,
        "done": done,
        "enterprise": enterprise,
        "tagged": tagged,
        "jssdk": jssdk,
        "jssdk_urls": settings.WECOM_JSSDK_URLS if jssdk else [],
        "error": error,
        "problems": problems,
        "content": content,
        "touch": touch,
        "slots_left": feed_slots_left(associate_id=task.associate_id),
        "siblings": siblings,
        "copy": written or (content.copy if touch.policy == "edit" else ""),
        "my_tasks_url": reverse("campaigns:my-tasks", args=[dispatch.my_tasks_token(task.associate)]),
    }
    return render(request, "campaigns/publish.html", context)


@require_http_methods(["POST"])
def share(request: HttpRequest, token: str) -> JsonResponse:
    """Inside the WeCom client: claim the task and answer what the page passes to
    ``shareToExternalMoments``; ``undo`` when the associate closed WeCom's composer."""
    try:
        task = dispatch.publish_task_from_token(token)
    except dispatch.LinkInvalid:
        return JsonResponse({"error": "invalid"}, status=404)
    try:
        opener_check(request, task.associate, may_redirect=False)
    except OpenerRefused as refused:
        return JsonResponse({"error": refused.kind}, status=403)
    if request.POST.get("undo"):
        return JsonResponse({"undone": dispatch.publish_task_share_undo(task)})
    try:
        payload = dispatch.publish_task_share(task=task, copy=request.POST.get("copy"),
                                              public_url=request.build_absolute_uri("/"))  # fmt: skip
    except dispatch.PersonalTouchRefused as refused:
        return JsonResponse({"error": "touch", "problems": refused.problems}, status=409)
    except dispatch.PublishRefused as refused:
        return JsonResponse({"error": str(refused)}, status=409)
    if payload is None:
        return JsonResponse({"error": "already"}, status=409)
    return JsonResponse({"share": payload})


@require_http_methods(["GET"])
def my_tasks(request: HttpRequest, token: str) -> HttpResponse:
    """Today's open tasks of one associate (the link is signed for one local day)."""
    try:
        associate, day = dispatch.my_tasks_from_token(token)
    except dispatch.LinkInvalid:
        return _refusal(request, "invalid", 404)
    try:
        if asked := opener_check(request, associate, may_redirect=True):
            return asked
    except OpenerRefused as refused:
        return _refusal(request, refused.kind, 403, associate)
    if day != timezone.localdate():
        return _refusal(request, "expired", 410)
    tasks = [(task, reverse("campaigns:publish", args=[dispatch.publish_link_token(task)]))
             for task in dispatch.my_open_tasks(associate)]  # fmt: skip
    context = {"associate": associate, "tasks": tasks, "slots_left": feed_slots_left(associate_id=associate.pk)}
    return render(request, "campaigns/my_tasks.html", context)


# --- customers' short links -------------------------------------------------------------------------------
QR_MAX_AGE = 24 * 3600  # a code's QR code never changes (it encodes the code's short URL)


@require_http_methods(["GET", "HEAD"])
def go_missing(request: HttpRequest, rest: str = "") -> HttpResponse:
    """An unknown or malformed short link: a page that says so, never an error."""
    return render(request, "campaigns/go_missing.html", status=404)


@never_cache  # every tap must reach us to be counted
@require_http_methods(["GET", "HEAD"])
def go(request: HttpRequest, code: str) -> HttpResponse:
    """Count the click (GET only, and not a link previewer's) and redirect to the link's target.
    Two queries: the link, and the click's INSERT."""
    link = links.tracked_link_get(code)
    if link is None or not links.trackable(link.target_url):
        return go_missing(request)
    if request.method == "GET":
        links.link_click_record(link=link, user_agent=request.headers.get("User-Agent", ""))
    response = HttpResponseRedirect(link.target_url)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "HEAD"])
def go_qr(request: HttpRequest, code: str, kind: str) -> HttpResponse:
    """The QR code of a short link (a group QR code: scans are counted like taps); ``?download=1``
    offers it as a file."""
    link = links.tracked_link_get(code)
    if link is None:
        return go_missing(request)
    if kind == "svg":
        response = HttpResponse(links.group_qr_svg(link=link), content_type="image/svg+xml")
    else:
        response = HttpResponse(links.group_qr_png(link=link), content_type="image/png")
    response["Cache-Control"] = f"public, max-age={QR_MAX_AGE}"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="group-qr-{link.code}.{kind}"'
    return response
