"""The Customer Moments endpoints (wecom-api.md §1): creating publish tasks as
async jobs, cancelling them, and the read APIs the results sync uses.
Field names, page sizes and errcodes as documented; the platform rules live in
``publishing``."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.utils import timezone

from wecom.sandbox import protocol as p
from wecom.sandbox import publishing
from wecom.sandbox.models import Media, Member, Moment, MomentDelivery, MomentInteraction, MomentJob, MomentTask
from wecom.sandbox.models import MomentVisible as Visible

TEXT_MAX_CHARS = 2000
MAX_IMAGES = 9
LINK_TITLE_MAX_BYTES = 64
MAX_SENDERS = 100_000
TASKS_PER_MINUTE = 10  # add_moment_task, per enterprise
MEDIA_LIFETIME = dt.timedelta(days=3)
MOMENT_LIST_WINDOW = 30 * 86400

TOO_MANY_ATTACHMENTS = 41064
INVALID_ATTACHMENT_TYPE = 41065
INVALID_MOMENT_ID = 41060
WRONG_MOMENT_TYPE = 41067
ATTACHMENTS_EMPTY = 41088
CONTENT_EMPTY = 41089


def job_seconds() -> float:
    """How long an add_moment_task job takes to finish (``WECOM_SANDBOX_JOB_SECONDS``)."""
    return float(getattr(settings, "WECOM_SANDBOX_JOB_SECONDS", 1.0))


# --- add_moment_task ------------------------------------------------------------------------
def _media(media_id, *, kind: str, where: str) -> None:
    if not isinstance(media_id, str) or not media_id:
        raise p.SandboxError(p.INVALID_PARAMETER, f"invalid msg: {where}.media_id missing")
    media = Media.objects.filter(media_id=media_id, attachment_type=1).first()
    if media is None or media.media_type != kind or media.created_at < timezone.now() - MEDIA_LIFETIME:
        raise p.SandboxError(
            p.INVALID_MEDIA_ID,
            f"invalid media_id: {where} needs a {kind} from media/upload_attachment (attachment_type 1, < 3 days old)",
        )


def _check_attachments(attachments: list) -> None:
    kinds = []
    for index, item in enumerate(attachments):
        where = f"attachments[{index}]"
        if not isinstance(item, dict) or item.get("msgtype") not in {"image", "link", "video"}:
            raise p.SandboxError(
                INVALID_ATTACHMENT_TYPE, f"invalid attachments msgtype: {where} is not image/link/video"
            )
        kind = item["msgtype"]
        if set(item) - {"msgtype", kind}:
            raise p.SandboxError(INVALID_ATTACHMENT_TYPE, f"invalid attachments msgtype: {where} mixes content types")
        content = item.get(kind)
        if not isinstance(content, dict):
            raise p.SandboxError(p.INVALID_PARAMETER, f"invalid msg: {where}.{kind} missing")
        kinds.append(kind)
        if kind == "link":
            title, url = content.get("title", ""), content.get("url")
            if not isinstance(title, str) or len(title.encode()) > LINK_TITLE_MAX_BYTES:
                raise p.SandboxError(p.INVALID_PARAMETER, f"invalid msg: {where}.link.title is at most 64 bytes")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise p.SandboxError(p.INVALID_PARAMETER, f"invalid msg: {where}.link.url must be an http(s) URL")
            _media(content.get("media_id"), kind="image", where=f"{where}.link")
        else:
            _media(content.get("media_id"), kind=kind, where=f"{where}.{kind}")
    if len(set(kinds)) > 1:
        raise p.SandboxError(
            INVALID_ATTACHMENT_TYPE, "invalid attachments msgtype: images, a video and a link cannot mix"
        )
    limit = MAX_IMAGES if kinds and kinds[0] == "image" else 1
    if len(kinds) > limit:
        raise p.SandboxError(
            TOO_MANY_ATTACHMENTS, f"invalid attachments size: at most {limit} {kinds[0]} attachment(s)"
        )


def _check_visible_range(visible_range: dict) -> None:
    unknown = set(visible_range) - {"sender_list", "external_contact_list"}
    senders = visible_range.get("sender_list") or {}
    contacts = visible_range.get("external_contact_list") or {}
    if unknown or not isinstance(senders, dict) or not isinstance(contacts, dict):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: visible_range has an unknown or malformed field")
    if set(senders) - {"user_list", "department_list"} or set(contacts) - {"tag_list"}:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: visible_range has an unknown field")
    users, departments, tags = (
        senders.get("user_list", []),
        senders.get("department_list", []),
        contacts.get("tag_list", []),
    )
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: sender_list.user_list must be a list of userids")
    if len(users) > MAX_SENDERS:
        raise p.SandboxError(
            p.INVALID_PARAMETER, f"invalid parameter: sender_list.user_list has more than {MAX_SENDERS:,}"
        )
    if not isinstance(departments, list) or not all(type(d) is int for d in departments):
        raise p.SandboxError(
            p.INVALID_PARAMETER, "invalid parameter: sender_list.department_list must be department ids"
        )
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: external_contact_list.tag_list must be tag ids")


@p.endpoint("externalcontact/add_moment_task", method="POST")
def add_moment_task(request):
    body = p.parse_body(request, {"text": p.Field(dict), "attachments": p.Field(list), "visible_range": p.Field(dict)})
    text = body.get("text") or {}
    if set(text) - {"content"} or not isinstance(text.get("content", ""), str):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: text takes one string field, content")
    content = text.get("content", "")
    if len(content) > TEXT_MAX_CHARS:
        raise p.SandboxError(p.INVALID_PARAMETER, f"invalid text size: at most {TEXT_MAX_CHARS} characters")
    attachments = body.get("attachments")
    if not content.strip():
        if attachments is None:
            raise p.SandboxError(CONTENT_EMPTY, "text and attachments are both empty")
        if not attachments:
            raise p.SandboxError(ATTACHMENTS_EMPTY, "attachment list empty and no text")
    _check_attachments(attachments or [])
    _check_visible_range(body.get("visible_range") or {})
    if not publishing.rate_claim("add_moment_task", per_seconds=60, limit=TASKS_PER_MINUTE):
        raise p.SandboxError(
            p.FREQUENCY_LIMIT, f"api freq out of limit: at most {TASKS_PER_MINUTE} moment tasks a minute"
        )
    now = timezone.now()
    job = MomentJob.objects.create(
        jobid=secrets.token_urlsafe(32),
        request=body,
        created_at=now,
        ready_at=now + dt.timedelta(seconds=job_seconds()),
    )
    return p.ok(jobid=job.jobid)


@p.endpoint("externalcontact/get_moment_task_result", method="GET")
def get_moment_task_result(request):
    job = MomentJob.objects.filter(jobid=request.GET.get("jobid", "")).first()
    if job is None:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid jobid")
    now = timezone.now()
    job = publishing.job_resolve(job, at=now)
    if job.status == MomentJob.Status.DONE:
        return p.ok(status=3, type="add_moment_task", result=job.result)
    halfway = job.created_at + (job.ready_at - job.created_at) / 2
    return p.ok(status=1 if now < halfway else 2, type="add_moment_task")


# --- moments by id -------------------------------------------------------------------------
def _moment(moment_id) -> Moment:
    moment = Moment.objects.filter(moment_id=moment_id).first() if isinstance(moment_id, str) else None
    if moment is None:
        raise p.SandboxError(INVALID_MOMENT_ID, "invalid moment id")
    return moment


def _poster(moment: Moment, userid) -> Member:
    member = Member.objects.filter(userid=userid.lower()).first() if isinstance(userid, str) else None
    if member is None:
        raise p.SandboxError(p.INVALID_USERID, f"invalid userid: {userid!r}")
    try:
        publishing.poster_check(moment, member)
    except publishing.PublishError as error:
        raise p.SandboxError(error.errcode, str(error)) from None
    return member


@p.endpoint("externalcontact/cancel_moment_task", method="POST")
def cancel_moment_task(request):
    body = p.parse_body(request, {"moment_id": p.Field(str, required=True)})
    moment = _moment(body["moment_id"])
    if moment.create_type != Moment.CreateType.ENTERPRISE:
        raise p.SandboxError(WRONG_MOMENT_TYPE, "invalid moment id type: only enterprise moments can be cancelled")
    Moment.objects.filter(pk=moment.pk).update(cancelled=True)  # published copies stay: they cannot be recalled
    return p.ok()


def _page(queryset, body: dict, *, prefix: str, maximum: int, default: int):
    """A keyset page over ``queryset`` ordered by id: (rows, next_cursor)."""
    limit = p.clamp_limit(body.get("limit"), maximum=maximum, default=default)
    if body.get("cursor"):
        (after,) = p.decode_cursor(body["cursor"], prefix)
        queryset = queryset.filter(id__gt=after)
    rows = list(queryset.order_by("id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (p.encode_cursor(prefix, rows[-1].id) if more else "")


_PAGED = {"cursor": p.Field(str), "limit": p.Field(int)}


@p.endpoint("externalcontact/get_moment_task", method="POST")
def get_moment_task(request):
    body = p.parse_body(request, {"moment_id": p.Field(str, required=True), **_PAGED})
    moment = _moment(body["moment_id"])
    if moment.create_type != Moment.CreateType.ENTERPRISE:
        raise p.SandboxError(WRONG_MOMENT_TYPE, "invalid moment id type: get_moment_task takes enterprise moments")
    tasks = MomentTask.objects.filter(moment=moment).select_related("member")
    rows, cursor = _page(tasks, body, prefix="t", maximum=1000, default=500)
    task_list = [{"userid": t.member.userid, "publish_status": t.publish_status} for t in rows]
    return p.ok(next_cursor=cursor, task_list=task_list)


@p.endpoint("externalcontact/get_moment_customer_list", method="POST")
def get_moment_customer_list(request):
    body = p.parse_body(
        request, {"moment_id": p.Field(str, required=True), "userid": p.Field(str, required=True), **_PAGED}
    )
    moment = _moment(body["moment_id"])
    member = _poster(moment, body["userid"])
    visible = Visible.objects.filter(moment=moment, member=member).select_related("customer")
    rows, cursor = _page(visible, body, prefix="v", maximum=1000, default=500)
    customers = [{"userid": member.userid, "external_userid": v.customer.external_userid} for v in rows]
    return p.ok(next_cursor=cursor, customer_list=customers)


@p.endpoint("externalcontact/get_moment_send_result", method="POST")
def get_moment_send_result(request):
    body = p.parse_body(
        request, {"moment_id": p.Field(str, required=True), "userid": p.Field(str, required=True), **_PAGED}
    )
    moment = _moment(body["moment_id"])
    member = _poster(moment, body["userid"])
    deliveries = MomentDelivery.objects.filter(moment=moment, member=member).select_related("customer")
    rows, cursor = _page(deliveries, body, prefix="s", maximum=5000, default=3000)
    return p.ok(next_cursor=cursor, customer_list=[{"external_userid": d.customer.external_userid} for d in rows])


@p.endpoint("externalcontact/get_moment_comments", method="POST")
def get_moment_comments(request):
    body = p.parse_body(request, {"moment_id": p.Field(str, required=True), "userid": p.Field(str, required=True)})
    moment = _moment(body["moment_id"])
    member = _poster(moment, body["userid"])
    found = {"comment": [], "like": []}
    interactions = MomentInteraction.objects.filter(moment=moment, member=member, create_time__lte=timezone.now())
    for item in interactions.order_by("create_time", "id"):
        actor = {"external_userid": item.external_userid} if item.external_userid else {"userid": item.userid}
        found[item.kind].append({**actor, "create_time": int(item.create_time.timestamp())})
    return p.ok(comment_list=found["comment"], like_list=found["like"])


# --- get_moment_list -----------------------------------------------------------------------
def _moment_json(moment: Moment) -> dict:
    item = {
        "moment_id": moment.moment_id,
        "create_time": int(moment.create_time.timestamp()),
        "create_type": moment.create_type,
        "visible_type": moment.visible_type,
    }
    if moment.create_type == Moment.CreateType.PERSONAL:
        item["creator"] = moment.creator.userid  # not returned for moments created by add_moment_task
    if moment.text:
        item["text"] = {"content": moment.text}
    images = [a["image"]["media_id"] for a in moment.attachments if a.get("msgtype") == "image"]
    if images:
        item["image"] = [{"media_id": media_id} for media_id in images]
    for attachment in moment.attachments:
        if attachment.get("msgtype") == "video":
            item["video"] = {"media_id": attachment["video"]["media_id"], "thumb_media_id": ""}
        elif attachment.get("msgtype") == "link":
            item["link"] = {"title": attachment["link"].get("title", ""), "url": attachment["link"]["url"]}
    return item


@p.endpoint("externalcontact/get_moment_list", method="POST")
def get_moment_list(request):
    body = p.parse_body(
        request,
        {
            "start_time": p.Field(int, required=True),
            "end_time": p.Field(int, required=True),
            "creator": p.Field(str),
            "filter_type": p.Field(int),
            **_PAGED,
        },
    )
    start, end = body["start_time"], body["end_time"]
    if end < start or end - start > MOMENT_LIST_WINDOW:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: the time range must be at most 30 days")
    filter_type = body.get("filter_type", 2)
    if filter_type not in {0, 1, 2}:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: filter_type is 0, 1 or 2")
    # WeCom makes the moment of a finished job whether or not anybody polls the job.
    for job in MomentJob.objects.filter(status__lt=MomentJob.Status.DONE, ready_at__lte=timezone.now())[:100]:
        publishing.job_resolve(job)
    moments = Moment.objects.filter(
        create_time__gte=dt.datetime.fromtimestamp(start, tz=dt.UTC),
        create_time__lte=dt.datetime.fromtimestamp(end, tz=dt.UTC),
    ).select_related("creator")
    if filter_type != 2:
        moments = moments.filter(create_type=filter_type)
    if body.get("creator"):
        moments = moments.filter(creator__userid=body["creator"].lower())
    rows, cursor = _page(moments, body, prefix="m", maximum=20, default=20)
    return p.ok(next_cursor=cursor, moment_list=[_moment_json(m) for m in rows])
