"""The WeCom endpoints the sandbox answers: token, directory, tags, media, app
messages and JS-SDK tickets. Shapes, pagination and errcodes as in wecom-api.md."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from wecom.sandbox import protocol as p
from wecom.sandbox.models import (
    Customer,
    Department,
    Follow,
    FollowTag,
    JsapiTicket,
    Media,
    Member,
    Message,
    Tag,
    TagGroup,
)

# message/send per-member limits (wecom-api.md §3.3): beyond them WeCom drops silently.
MESSAGES_PER_MINUTE = 30
MESSAGES_PER_HOUR = 1000
DUPLICATE_CHECK_DEFAULT = 1800
DUPLICATE_CHECK_MAX = 4 * 3600
MAX_TOUSER = 1000
MEDIA_MAX_BYTES = 10 * 1024 * 1024
MEDIA_MIN_BYTES = 6  # "all files must be larger than 5 bytes"


# --- token and tickets ------------------------------------------------------------------
@p.endpoint("gettoken", method="GET", needs_token=False)
def gettoken(request):
    if request.GET.get("corpid") != settings.WECOM_CORP_ID:
        raise p.SandboxError(p.INVALID_CORPID, "invalid corpid")
    if request.GET.get("corpsecret") != settings.WECOM_SECRET:
        raise p.SandboxError(p.INVALID_SECRET, "invalid credential: corpid and corpsecret do not match")
    token, expires_in = p.issue_token()
    return p.ok(access_token=token, expires_in=expires_in)


@p.endpoint("get_jsapi_ticket", method="GET")
def get_jsapi_ticket(request):
    return p.ok(ticket=_ticket_issue(JsapiTicket.Kind.CORP, "sandbox-jsapi-"), expires_in=TICKET_LIFETIME)


TICKET_LIFETIME = 7200


def _ticket_issue(kind: str, prefix: str) -> str:
    ticket = f"{prefix}{secrets.token_hex(16)}"
    JsapiTicket.objects.create(ticket=ticket, kind=kind, expires_at=timezone.now() + timedelta(seconds=TICKET_LIFETIME))
    return ticket


@p.endpoint("ticket/get", method="GET")
def ticket_get(request):
    if request.GET.get("type") != "agent_config":
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: type must be agent_config")
    return p.ok(ticket=_ticket_issue(JsapiTicket.Kind.AGENT, "sandbox-agent-"), expires_in=TICKET_LIFETIME)


# --- directory ---------------------------------------------------------------------------
def _department_json(department: Department) -> dict:
    return {
        "id": department.id,
        "name": department.name,
        "name_en": department.name_en,
        "parentid": department.parentid,
        "order": department.order,
        "department_leader": [],
    }


def _subtree_ids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pk, parent in Department.objects.values_list("id", "parentid"):
        children.setdefault(parent, []).append(pk)
    found, todo = [], [root]
    while todo:
        node = todo.pop()
        found.append(node)
        todo.extend(children.get(node, []))
    return found


@p.endpoint("department/list", method="GET")
def department_list(request):
    if "id" not in request.GET:
        departments = Department.objects.order_by("id")
    else:
        root = p.int_param(request, "id")
        if not Department.objects.filter(id=root).exists():
            raise p.SandboxError(60003, "department not found")
        departments = Department.objects.filter(id__in=_subtree_ids(root)).order_by("id")
    return p.ok(department=[_department_json(d) for d in departments])


def _member_json(member: Member) -> dict:
    return {
        "userid": member.userid,
        "name": member.name,
        "department": member.department,
        "order": [0] * len(member.department),
        "main_department": member.main_department,
        "position": member.position,
        "gender": member.gender,
        "avatar": member.avatar,
        "thumb_avatar": member.avatar,
        "status": member.status,
        "is_leader_in_dept": [0] * len(member.department),
        "direct_leader": [],
    }


@p.endpoint("user/list", method="GET")
def user_list(request):
    department_id = p.int_param(request, "department_id")
    if not Department.objects.filter(id=department_id).exists():
        raise p.SandboxError(60003, "department not found")
    wanted = set(_subtree_ids(department_id)) if p.int_param(request, "fetch_child", default=0) else {department_id}
    # Department lists are JSON: filter in Python over members (tens of thousands at most).
    members = [m for m in Member.objects.order_by("id") if wanted.intersection(m.department)]
    return p.ok(userlist=[_member_json(m) for m in members])


@p.endpoint("user/list_id", method="POST")
def user_list_id(request):
    body = p.parse_body(request, {"cursor": p.Field(str), "limit": p.Field(int)})
    limit = p.clamp_limit(body.get("limit"), maximum=10000, default=10000, above_max="max")
    members = Member.objects.order_by("id")
    if body.get("cursor"):
        (after,) = p.decode_cursor(body["cursor"], "u")
        members = members.filter(id__gt=after)
    page = list(members[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return p.ok(
        next_cursor=p.encode_cursor("u", page[-1].id) if more else "",
        dept_user=[{"userid": m.userid, "department": d} for m in page for d in m.department],
    )


@p.endpoint("externalcontact/get_follow_user_list", method="GET")
def get_follow_user_list(request):
    userids = Member.objects.filter(status=Member.Status.ACTIVE).order_by("id").values_list("userid", flat=True)
    return p.ok(follow_user=list(userids))


def _member_or_error(userid: str) -> Member:
    member = Member.objects.filter(userid=(userid or "").lower()).first()
    if member is None:
        raise p.SandboxError(p.INVALID_USERID, f"invalid userid: {userid!r}")
    return member


@p.endpoint("externalcontact/list", method="GET")
def externalcontact_list(request):
    member = _member_or_error(request.GET.get("userid", ""))
    ids = list(member.follows.order_by("id").values_list("customer__external_userid", flat=True))
    if not ids:
        raise p.SandboxError(p.NOT_EXTERNAL_CONTACT, "this member has no external contacts")
    return p.ok(external_userid=ids)


def _customer_json(customer: Customer) -> dict:
    return {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "avatar": customer.avatar,
        "type": customer.type,
        "gender": customer.gender,
        **({"corp_name": customer.corp_name, "corp_full_name": customer.corp_name} if customer.type == 2 else {}),
    }


EXTERNAL_CONTACT_FOLLOW_PAGE = 500  # externalcontact/get pages follow_user beyond 500 (wecom-api.md §4)
INVALID_EXTERNAL_USERID = 40096


@p.endpoint("externalcontact/get", method="GET")
def externalcontact_get(request):
    customer = Customer.objects.filter(external_userid=request.GET.get("external_userid", "")).first()
    if customer is None:
        raise p.SandboxError(INVALID_EXTERNAL_USERID, "invalid external userid")
    follows = customer.follows.select_related("member").order_by("id")
    if request.GET.get("cursor"):
        (after,) = p.decode_cursor(request.GET["cursor"], "g")
        follows = follows.filter(id__gt=after)
    page = list(follows[: EXTERNAL_CONTACT_FOLLOW_PAGE + 1])
    more = len(page) > EXTERNAL_CONTACT_FOLLOW_PAGE
    page = page[:EXTERNAL_CONTACT_FOLLOW_PAGE]
    tags: dict[int, list[dict]] = {}
    for follow_id, tag_id, name, group_name in FollowTag.objects.filter(follow_id__in=[f.id for f in page]).values_list(
        "follow_id", "tag__tag_id", "tag__name", "tag__group__name"
    ):
        tags.setdefault(follow_id, []).append({"group_name": group_name, "tag_name": name, "type": 1, "tag_id": tag_id})
    follow_user = [
        {
            "userid": f.member.userid,
            "remark": f.remark,
            "description": f.description,
            "createtime": f.createtime,
            "tags": tags.get(f.id, []),
            "remark_corp_name": "",
            "remark_mobiles": [],
            "oper_userid": f.member.userid,
            "add_way": f.add_way,
            **({"state": f.state} if f.state else {}),
        }
        for f in page
    ]
    cursor = p.encode_cursor("g", page[-1].id) if more else ""
    return p.ok(external_contact=_customer_json(customer), follow_user=follow_user, next_cursor=cursor)


_FOLLOW_COLUMNS = ("id", "member_id", "createtime", "remark", "description", "add_way", "state",
                   "customer__external_userid", "customer__name", "customer__avatar", "customer__type",
                   "customer__gender", "customer__corp_name")  # fmt: skip


def _follow_tag_ids() -> RawSQL:
    """A follow's tag ids as a JSON array (text; NULL without tags), in tag order: a
    correlated subquery, so a page's tags come with its rows, no IN list of its follows."""
    follow_tag, tag, follow = FollowTag._meta.db_table, Tag._meta.db_table, Follow._meta.db_table
    rows = f"FROM {follow_tag} ft JOIN {tag} t ON t.id = ft.tag_id WHERE ft.follow_id = {follow}.id"
    if connection.vendor == "postgresql":
        sql = f"SELECT json_agg(t.tag_id ORDER BY ft.tag_id)::text {rows}"
    else:
        sql = f"SELECT json_group_array(tag_id) FROM (SELECT t.tag_id {rows} ORDER BY ft.tag_id)"
    # Table names from the models, no parameter: nothing from the request reaches this SQL.
    return RawSQL(sql, [], output_field=TextField())  # noqa: S611


@p.endpoint("externalcontact/batch/get_by_user", method="POST")
def batch_get_by_user(request):
    body = p.parse_body(
        request,
        {"userid_list": p.Field(list, required=True, max_items=100), "cursor": p.Field(str), "limit": p.Field(int)},
    )
    userids = [u for u in body["userid_list"] if isinstance(u, str)]
    if not userids or len(userids) != len(body["userid_list"]):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: userid_list must be 1 to 100 userids")
    members = dict(Member.objects.filter(userid__in=[u.lower() for u in userids]).values_list("id", "userid"))
    if not members:
        raise p.SandboxError(p.INVALID_USERID, "invalid userid: none of userid_list exists")
    limit = p.clamp_limit(body.get("limit"), maximum=100, default=50, above_max="max")
    member_ids = sorted(members)
    follows = Follow.objects.order_by("member_id", "id")
    if body.get("cursor"):
        member_id, follow_id = p.decode_cursor(body["cursor"], "f")
        # Only the members from the cursor's on, so the index scan on (member, id) starts
        # there: a page costs its own rows, not every row of the chunk before it.
        member_ids = [pk for pk in member_ids if pk >= member_id]
        follows = follows.filter(Q(member_id__gt=member_id) | Q(id__gt=follow_id))
    follows = follows.filter(member_id__in=member_ids)
    follows = follows.annotate(tag_ids=_follow_tag_ids()).values_list(*_FOLLOW_COLUMNS, "tag_ids")
    page = list(follows[: limit + 1]) if member_ids else []  # tuples, not models; the tags in the same query
    more = len(page) > limit
    page = page[:limit]
    items = []
    for *row, tag_ids in page:
        fid, member_id, createtime, remark, description, add_way, state, ext, name, avatar, kind, gender, corp = row
        userid = members[member_id]
        customer = {"external_userid": ext, "name": name, "avatar": avatar, "type": kind, "gender": gender}
        if kind == 2:
            customer.update(corp_name=corp, corp_full_name=corp)
        follow_info = {
            "userid": userid, "remark": remark, "description": description, "createtime": createtime,
            "tag_id": json.loads(tag_ids) if tag_ids else [], "remark_corp_name": "", "remark_mobiles": [],
            "oper_userid": userid,
            "add_way": add_way,
        }  # fmt: skip
        if state:
            follow_info["state"] = state
        items.append({"external_contact": customer, "follow_info": follow_info})
    cursor = p.encode_cursor("f", page[-1][1], page[-1][0]) if more else ""
    return p.ok(external_contact_list=items, next_cursor=cursor)


@p.endpoint("externalcontact/get_corp_tag_list", method="POST")
def get_corp_tag_list(request):
    body = p.parse_body(request, {"tag_id": p.Field(list), "group_id": p.Field(list)})
    groups = TagGroup.objects.prefetch_related("tags").order_by("order", "id")
    tag_ids = set(body.get("tag_id") or [])
    if body.get("group_id"):  # group_id wins when both are given
        groups = groups.filter(group_id__in=body["group_id"])
        tag_ids = set()
    result = []
    for group in groups:
        tags = [t for t in group.tags.all() if not tag_ids or t.tag_id in tag_ids]
        if tag_ids and not tags:
            continue
        result.append(
            {
                "group_id": group.group_id,
                "group_name": group.name,
                "create_time": group.create_time,
                "order": group.order,
                "deleted": group.deleted,
                "tag": [
                    {
                        "id": t.tag_id,
                        "name": t.name,
                        "create_time": t.create_time,
                        "order": t.order,
                        "deleted": t.deleted,
                    }
                    for t in sorted(tags, key=lambda t: (t.order, t.id))
                ],  # fmt: skip
            }
        )
    return p.ok(tag_group=result)


# --- media -------------------------------------------------------------------------------
def _sniff(content: bytes) -> str | None:
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content[4:8] == b"ftyp":
        return "mp4"
    return None


@p.endpoint("media/upload_attachment", method="POST")
def upload_attachment(request):
    media_type = request.GET.get("media_type", "")
    if media_type not in {"image", "video", "file"}:
        raise p.SandboxError(p.INVALID_MEDIA_TYPE, "invalid media type: image, video or file")
    attachment_type = p.int_param(request, "attachment_type")
    if attachment_type not in {1, 2}:
        raise p.SandboxError(p.WRONG_ATTACHMENT_SCENE, "invalid attachment_type: 1 (moments) or 2 (product album)")
    if attachment_type == 1 and media_type == "file":
        raise p.SandboxError(p.WRONG_ATTACHMENT_SCENE, "moments accept only image and video attachments")
    upload = request.FILES.get("media")
    if upload is None:
        raise p.SandboxError(p.MISSING_MEDIA, "media data missing: send the file in the multipart field 'media'")
    content = upload.read(MEDIA_MAX_BYTES + 1)
    if not MEDIA_MIN_BYTES <= len(content) <= MEDIA_MAX_BYTES:
        raise p.SandboxError(p.INVALID_FILE_SIZE, "invalid file size: more than 5 bytes and at most 10 MB")
    kind = _sniff(content)
    if (media_type == "image" and kind not in {"jpg", "png"}) or (media_type == "video" and kind != "mp4"):
        raise p.SandboxError(p.INVALID_FILE_TYPE, "invalid file type: images are JPG or PNG, videos MP4")
    media = Media.objects.create(
        media_id=f"3{secrets.token_urlsafe(40)}",
        media_type=media_type,
        attachment_type=attachment_type,
        filename=upload.name or "",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    return p.ok(type=media_type, media_id=media.media_id, created_at=int(media.created_at.timestamp()))


# --- app messages ----------------------------------------------------------------------
_SEND_SCHEMA = {
    "touser": p.Field(str),
    "toparty": p.Field(str),
    "totag": p.Field(str),
    "msgtype": p.Field(str, required=True),
    "agentid": p.Field(int, required=True),
    "textcard": p.Field(dict),
    "text": p.Field(dict),
    "safe": p.Field(int),
    "enable_id_trans": p.Field(int),
    "enable_duplicate_check": p.Field(int),
    "duplicate_check_interval": p.Field(int),
}


def _check_textcard(card: dict | None) -> dict:
    if not isinstance(card, dict):
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: textcard missing")
    title, description, url = card.get("title"), card.get("description"), card.get("url")
    if not isinstance(title, str) or not title or len(title) > 128:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: textcard.title is 1 to 128 characters")
    if not isinstance(description, str) or not description or len(description) > 512:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: textcard.description is 1 to 512 characters")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url.encode()) > 2048:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: textcard.url is an http(s) URL of ≤2048 bytes")
    btntxt = card.get("btntxt", "")
    if not isinstance(btntxt, str) or len(btntxt) > 4:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: textcard.btntxt is at most 4 characters")
    return {"title": title, "description": description, "url": url, "btntxt": btntxt or "详情"}


@p.endpoint("message/send", method="POST")
def message_send(request):
    body = p.parse_body(request, _SEND_SCHEMA)
    if body["agentid"] != settings.WECOM_AGENT_ID:
        raise p.SandboxError(p.INVALID_AGENTID, "invalid agentid")
    touser = [u for u in (body.get("touser") or "").split("|") if u]
    if not touser and not body.get("toparty") and not body.get("totag"):
        raise p.SandboxError(p.RECIPIENTS_EMPTY, "touser, toparty and totag are all empty")
    if len(touser) > MAX_TOUSER:
        raise p.SandboxError(p.INVALID_PARAMETER, f"invalid parameter: touser has more than {MAX_TOUSER} userids")
    if body["msgtype"] == "textcard":
        content = {"textcard": _check_textcard(body.get("textcard"))}
    elif body["msgtype"] == "text" and isinstance(body.get("text"), dict) and body["text"].get("content"):
        content = {"text": {"content": str(body["text"]["content"])[:2048]}}
    else:
        raise p.SandboxError(p.INVALID_PARAMETER, f"invalid parameter: unsupported msgtype {body['msgtype']!r}")
    interval = body.get("duplicate_check_interval") or DUPLICATE_CHECK_DEFAULT
    if not 0 < interval <= DUPLICATE_CHECK_MAX:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: duplicate_check_interval is at most 4 hours")

    lowered = [u.lower() for u in touser]
    members = {m.userid: m for m in Member.objects.filter(userid__in=lowered)}
    invalid = [u for u in lowered if u not in members or members[u].status != Member.Status.ACTIVE]
    unlicensed = [u for u in lowered if u in members and not members[u].is_licensed and u not in invalid]
    recipients = [u for u in dict.fromkeys(lowered) if u not in invalid and u not in unlicensed]
    if not recipients:
        raise p.SandboxError(
            p.ALL_RECIPIENTS_INVALID, "no privilege to access/modify contact/party/agent",
            invaliduser="|".join(invalid), unlicenseduser="|".join(unlicensed),
        )  # fmt: skip
    msgid = secrets.token_urlsafe(24)
    _deliver(msgid, recipients, body["msgtype"], content, body.get("enable_duplicate_check") == 1, interval)
    return p.ok(
        invaliduser="|".join(invalid),
        invalidparty="",
        invalidtag="",
        unlicenseduser="|".join(unlicensed),
        msgid=msgid,
    )


def _deliver(msgid, recipients, msgtype, content, duplicate_check, interval) -> None:
    """Record one row per recipient with what WeCom would do with it. One query
    reads every recipient's recent deliveries (up to 1000 recipients a call)."""
    now = timezone.now()
    content_hash = hashlib.sha256(json.dumps([msgtype, content], sort_keys=True).encode()).hexdigest()
    since = now - max(timedelta(hours=1), timedelta(seconds=interval))
    recent = (
        Message.objects.filter(userid__in=recipients, outcome=Message.Outcome.DELIVERED, received_at__gt=since)
        .values("userid")
        .annotate(
            hour=Count("id", filter=Q(received_at__gt=now - timedelta(hours=1))),
            minute=Count("id", filter=Q(received_at__gt=now - timedelta(minutes=1))),
            same=Count("id", filter=Q(content_hash=content_hash, received_at__gt=now - timedelta(seconds=interval))),
        )
    )
    stats = {row["userid"]: row for row in recent}
    rows = []
    for userid in recipients:
        seen = stats.get(userid, {"hour": 0, "minute": 0, "same": 0})
        if duplicate_check and seen["same"]:
            outcome = Message.Outcome.DUPLICATE
        elif seen["minute"] >= MESSAGES_PER_MINUTE or seen["hour"] >= MESSAGES_PER_HOUR:
            outcome = Message.Outcome.DROPPED  # silently: the API still says ok
        else:
            outcome = Message.Outcome.DELIVERED
        rows.append(
            Message(
                msgid=msgid,
                userid=userid,
                msgtype=msgtype,
                content=content,
                content_hash=content_hash,
                outcome=outcome,
                received_at=now,
            )  # fmt: skip
        )
    Message.objects.bulk_create(rows)
