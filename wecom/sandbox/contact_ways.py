"""``externalcontact/add_contact_way`` and ``externalcontact/send_welcome_msg`` as WeCom
answers them: fields, limits and errcodes of docs/wecom-contact-way.md. Also what the
control plane needs: a customer adding a member through a contact way, and the QR image
the ``qr_code`` URL points to (WeCom serves it from its CDN; the sandbox draws it)."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone

from wecom.sandbox import events
from wecom.sandbox import protocol as p
from wecom.sandbox.api import _subtree_ids
from wecom.sandbox.models import ContactWay, Customer, Department, Follow, Media, Member, WelcomeCode

# Limits (docs/wecom-contact-way.md)
STATE_MAX_CHARS = 30
REMARK_MAX_CHARS = 30
MEMBERS_MAX = 100  # members of one contact way, departments expanded (41041)
CONTACT_WAYS_MAX = 500_000  # per enterprise through the API, temporary ones apart (41045)
TEMP_SECONDS_MAX = 14 * 86400  # expires_in and chat_expires_in of a temporary contact way
STYLES = {1: {1, 2, 3}, 2: {1, 2}}  # button styles of scene 1, by type
WELCOME_SECONDS = 20  # a WelcomeCode is good once, within 20 s of the event
WELCOME_TEXT_MAX_BYTES = 4000
WELCOME_ATTACHMENTS_MAX = 9

# errcodes (WORKWX, from path/90313)
CONTACT_WAY_TYPE_MISSING = 41037
CONTACT_WAY_SCENE_MISSING = 41038
CONTACT_WAY_INVALID_TYPE = 41039
CONTACT_WAY_INVALID_SCENE = 41040
CONTACT_WAY_TOO_MANY_MEMBERS = 41041
CONTACT_WAY_INVALID_STYLE = 41042
CONTACT_WAYS_USED_UP = 41045
MEMBER_NOT_ACTIVATED = 41054
INVALID_DEPARTMENTS = 40066
WELCOME_CODE_MISSING = 41049
WELCOME_CODE_INVALID = 41050
WELCOME_ALREADY_SENT = 41051
TOO_MANY_ATTACHMENTS = 41064
INVALID_ATTACHMENT_TYPE = 41065

_ADD_SCHEMA = {
    "type": p.Field(int),
    "scene": p.Field(int),
    "style": p.Field(int),
    "remark": p.Field(str),
    "skip_verify": p.Field(bool),
    "state": p.Field(str),
    "user": p.Field(list),
    "party": p.Field(list),
    "is_temp": p.Field(bool),
    "expires_in": p.Field(int),
    "chat_expires_in": p.Field(int),
    "unionid": p.Field(str),
    "conclusions": p.Field(dict),
}


def _invalid(message: str) -> p.SandboxError:
    return p.SandboxError(p.INVALID_PARAMETER, f"invalid parameter: {message}")


def _check_kind_and_scene(body: dict) -> tuple[int, int]:
    if "type" not in body:
        raise p.SandboxError(CONTACT_WAY_TYPE_MISSING, "contact way type missing")
    if "scene" not in body:
        raise p.SandboxError(CONTACT_WAY_SCENE_MISSING, "contact way scene missing")
    kind, scene = body["type"], body["scene"]
    if kind not in (1, 2):
        raise p.SandboxError(CONTACT_WAY_INVALID_TYPE, "invalid contact way type: 1 (single) or 2 (multi)")
    if scene not in (1, 2):
        raise p.SandboxError(CONTACT_WAY_INVALID_SCENE, "invalid contact way scene: 1 (mini-program) or 2 (QR code)")
    if scene == 1 and body.get("style") is not None and body["style"] not in STYLES[kind]:
        raise p.SandboxError(CONTACT_WAY_INVALID_STYLE, f"invalid contact way style for type {kind}")
    return kind, scene


def _check_temp(body: dict, kind: int) -> None:
    if not body.get("is_temp"):
        return  # the temporary-session fields are ignored ("仅在is_temp为true时有效")
    if kind != 1:
        raise _invalid("a temporary contact way has a single member")
    for name in ("expires_in", "chat_expires_in"):
        if name in body and not 0 < body[name] <= TEMP_SECONDS_MAX:
            raise _invalid(f"{name} is 1 second to 14 days")


def _members(kind: int, userids: list, party: list) -> list[str]:
    """The contact way's members (lower-cased userids), departments expanded."""
    if not all(isinstance(u, str) for u in userids) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in party
    ):
        raise _invalid("user is a list of userids, party a list of department ids")
    if kind == 1 and len(userids) != 1:
        raise _invalid("a single contact way (type 1) has exactly one user")
    if kind == 1:
        party = []  # "只在type为2时有效"
    if kind == 2 and not userids and not party:
        raise _invalid("user and party are both empty")
    wanted = list(dict.fromkeys(u.lower() for u in userids))
    found = {m.userid: m for m in Member.objects.filter(userid__in=wanted)}
    for userid in wanted:
        member = found.get(userid)
        if member is None or member.status in (Member.Status.LEFT, Member.Status.DISABLED):
            raise p.SandboxError(p.INVALID_USERID, f"invalid userid: {userid!r}")
        if member.status == Member.Status.NOT_ACTIVATED:
            raise p.SandboxError(MEMBER_NOT_ACTIVATED, f"user {userid!r} is not activated")
    known = set(Department.objects.filter(id__in=party).values_list("id", flat=True)) if party else set()
    if known != set(party):
        raise p.SandboxError(INVALID_DEPARTMENTS, "invalid party: a department is not in the directory")
    if len(set(wanted) | _party_members(party)) > MEMBERS_MAX:
        raise p.SandboxError(CONTACT_WAY_TOO_MANY_MEMBERS, f"a contact way has at most {MEMBERS_MAX} members")
    return wanted


def _party_members(party: list[int]) -> set[str]:
    """Active members of these departments and their subtrees."""
    if not party:
        return set()
    subtree = {d for root in party for d in _subtree_ids(root)}
    active = Member.objects.filter(status=Member.Status.ACTIVE).values_list("userid", "department")
    return {userid for userid, departments in active if subtree.intersection(departments)}


@p.endpoint("externalcontact/add_contact_way", method="POST")
def add_contact_way(request):
    body = p.parse_body(request, _ADD_SCHEMA)
    kind, scene = _check_kind_and_scene(body)
    for name, limit in (("remark", REMARK_MAX_CHARS), ("state", STATE_MAX_CHARS)):
        if len(body.get(name) or "") > limit:
            raise _invalid(f"{name} is at most {limit} characters")
    _check_temp(body, kind)
    userids = _members(kind, body.get("user") or [], body.get("party") or [])
    is_temp = bool(body.get("is_temp"))
    # A count, then an insert: two racing calls may pass the last slot together. The
    # limit is half a million; the sandbox only needs to show the errcode.
    if not is_temp and ContactWay.objects.filter(is_temp=False).count() >= CONTACT_WAYS_MAX:
        raise p.SandboxError(CONTACT_WAYS_USED_UP, "the contact ways created through the API are used up")
    config_id = secrets.token_hex(16)
    way = ContactWay.objects.create(
        config_id=config_id, type=kind, scene=scene, style=body.get("style") if scene == 1 else None,
        remark=body.get("remark") or "", skip_verify=body.get("skip_verify", True), state=body.get("state") or "",
        user=userids, party=(body.get("party") or []) if kind == 2 else [], is_temp=is_temp,
        expires_in=body.get("expires_in") if is_temp else None,
        chat_expires_in=body.get("chat_expires_in") if is_temp else None,
        unionid=(body.get("unionid") or "") if is_temp else "",
        conclusions=body.get("conclusions") if is_temp else None,
        qr_code=request.build_absolute_uri(reverse("wecom_sandbox:contact-way-qr", args=[config_id]))
        if scene == 2 else "",
        created_at=timezone.now(),
    )  # fmt: skip
    return p.ok(config_id=way.config_id, **({"qr_code": way.qr_code} if scene == 2 else {}))


def qr_png(request, config_id: str):
    """The image behind a contact way's ``qr_code``: it encodes the control plane's scan URL."""
    if request.method != "GET" or not ContactWay.objects.filter(config_id=config_id, scene=2).exists():
        raise Http404("no such contact way")
    import segno

    scan = request.build_absolute_uri(reverse("wecom_sandbox:control-contact-way-scan", args=[config_id]))
    buffer = io.BytesIO()
    segno.make(scan, error="m").save(buffer, kind="png", scale=6, border=2)
    return HttpResponse(buffer.getvalue(), content_type="image/png")


# --- send_welcome_msg -------------------------------------------------------------------------
_WELCOME_SCHEMA = {"welcome_code": p.Field(str), "text": p.Field(dict), "attachments": p.Field(list)}
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")


def _short(value, *, max_bytes: int, required: bool = True) -> bool:
    if value is None or value == "":
        return not required
    return isinstance(value, str) and len(value.encode()) <= max_bytes


def _url(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2048


def _media_ok(media_id) -> bool:
    return isinstance(media_id, str) and bool(media_id) and Media.objects.filter(media_id=media_id).exists()


def _check_attachment(item) -> dict:
    if not isinstance(item, dict) or item.get("msgtype") not in ATTACHMENT_TYPES:
        raise p.SandboxError(INVALID_ATTACHMENT_TYPE, "invalid attachment type: image, link, miniprogram, video, file")
    kind = item["msgtype"]
    content = item.get(kind)
    if not isinstance(content, dict):
        raise _invalid(f"the attachment's {kind!r} object must match its msgtype")
    if kind == "image":
        if content.get("media_id"):
            if not _media_ok(content["media_id"]):
                raise p.SandboxError(p.INVALID_MEDIA_ID, "invalid media_id")
        elif not _url(content.get("pic_url")):
            raise _invalid("an image needs media_id or pic_url")
    elif kind == "link":
        if not (_short(content.get("title"), max_bytes=128) and _url(content.get("url"))
                and _short(content.get("desc"), max_bytes=512, required=False)
                and (content.get("picurl") in (None, "") or _url(content.get("picurl")))):  # fmt: skip
            raise _invalid("a link needs a title (≤ 128 bytes) and a url; desc is ≤ 512 bytes")
    elif kind == "miniprogram":
        if not (_short(content.get("title"), max_bytes=64) and _short(content.get("appid"), max_bytes=64)
                and _short(content.get("page"), max_bytes=1024)):  # fmt: skip
            raise _invalid("a miniprogram needs a title (≤ 64 bytes), pic_media_id, appid and page")
        if not _media_ok(content.get("pic_media_id")):
            raise p.SandboxError(p.INVALID_MEDIA_ID, "invalid pic_media_id")
    elif not _media_ok(content.get("media_id")):  # video, file
        raise p.SandboxError(p.INVALID_MEDIA_ID, "invalid media_id")
    return {"msgtype": kind, kind: content}


@p.endpoint("externalcontact/send_welcome_msg", method="POST")
def send_welcome_msg(request):
    body = p.parse_body(request, _WELCOME_SCHEMA)
    code = body.get("welcome_code") or ""
    if not code:
        raise p.SandboxError(WELCOME_CODE_MISSING, "welcome_code missing")
    text = ""
    if "text" in body:
        text = body["text"].get("content")
        if set(body["text"]) - {"content"} or not isinstance(text, str):
            raise _invalid('text is {"content": "…"}')
        if len(text.encode()) > WELCOME_TEXT_MAX_BYTES:
            raise _invalid(f"text.content is at most {WELCOME_TEXT_MAX_BYTES} bytes")
    attachments = body.get("attachments") or []
    if len(attachments) > WELCOME_ATTACHMENTS_MAX:
        raise p.SandboxError(TOO_MANY_ATTACHMENTS, f"at most {WELCOME_ATTACHMENTS_MAX} attachments")
    attachments = [_check_attachment(item) for item in attachments]
    if not text and not attachments:
        raise _invalid("text and attachments are both empty")

    row = WelcomeCode.objects.filter(code=code).first()
    if row is None:
        raise p.SandboxError(WELCOME_CODE_INVALID, "invalid welcome code")
    if row.sent_at is not None:
        raise p.SandboxError(WELCOME_ALREADY_SENT, "externaluser has started chatting")
    now = timezone.now()
    if row.issued_at <= now - timedelta(seconds=WELCOME_SECONDS):
        raise p.SandboxError(WELCOME_CODE_INVALID, "invalid welcome code: it is good for 20 s after the add")
    # Once: a conditional update, so two concurrent calls cannot both send.
    claimed = WelcomeCode.objects.filter(pk=row.pk, sent_at__isnull=True).update(
        sent_at=now, text=text, attachments=attachments
    )
    if not claimed:
        raise p.SandboxError(WELCOME_ALREADY_SENT, "externaluser has started chatting")
    return p.ok()


# --- the control plane's side ------------------------------------------------------------------
class ScanError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def contact_way_scan(*, config_id: str, external_userid: str, name: str = "", userid: str = "") -> dict:
    """A customer adds a member through a contact way: the follow carries its ``state``
    (add_way 1, QR code) and the app gets ``add_external_contact`` with State and WelcomeCode."""
    way = ContactWay.objects.filter(config_id=config_id).first()
    if way is None:
        raise ScanError(f"no contact way {config_id!r}", status=404)
    # Type 1: its one member. Type 2: WeCom picks one of its members; here the caller may.
    members = [*way.user, *sorted(_party_members(way.party) - set(way.user))]
    userid = (userid or (members[0] if members else "")).lower()
    if userid not in members:
        raise ScanError(f"{userid!r} is not a member of this contact way")
    member = Member.objects.filter(userid=userid, status=Member.Status.ACTIVE).first()
    if member is None:
        raise ScanError(f"no active member {userid!r} on this contact way", status=404)
    with transaction.atomic():
        if way.is_temp and way.adds:  # "添加好友完成后该二维码即刻失效"
            raise ScanError("a temporary contact way works for one add only", status=409)
        customer, _ = Customer.objects.get_or_create(external_userid=external_userid,
                                                     defaults={"name": name or external_userid})  # fmt: skip
        follow, created = Follow.objects.get_or_create(
            member=member, customer=customer,
            defaults={"createtime": int(timezone.now().timestamp()), "add_way": 1, "state": way.state},
        )  # fmt: skip
        code = ""
        if created:
            ContactWay.objects.filter(pk=way.pk).update(adds=F("adds") + 1)
            events.contact_added(userid=member.userid, external_userid=external_userid, state=way.state)
            code = WelcomeCode.objects.filter(userid=member.userid, external_userid=external_userid).latest("id").code
    return {"created": created, "userid": member.userid, "external_userid": external_userid, "state": follow.state,
            "welcome_code": code}  # fmt: skip


def welcome_messages(external_userid: str, *, limit: int = 200) -> list[dict]:
    rows = WelcomeCode.objects.filter(external_userid=external_userid, sent_at__isnull=False).order_by("-sent_at")
    return [
        {"userid": w.userid, "text": w.text, "attachments": w.attachments, "sent_at": w.sent_at.isoformat(),
         "welcome_code": w.code}
        for w in rows[:limit]
    ]  # fmt: skip
