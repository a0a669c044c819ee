"""The sandbox's control plane, at ``/wecom-sandbox/control/``: what WeCom itself
does not offer, for demos and tests. Seed a directory, act as a member (publish
an enterprise task, post a personal moment) or as a customer (add or remove a
member, like, comment), inject faults, read the messages a member received,
step the behaviour model, reset.

JSON in, JSON out; errors are ``{"error": "…"}`` with a 4xx. It exists only
when the sandbox is enabled, which production settings refuse.

It answers this machine's scripts, tests and the sandbox's own pages, not a page elsewhere
in the browser of whoever runs ``make run``: a body is read only as ``Content-Type:
application/json`` (415 otherwise: a cross-site form or a ``text/plain`` fetch cannot send it
without a CORS preflight, which nothing here grants), and a request from another origin
(``Origin`` or ``Sec-Fetch-Site``) is refused with 403.
"""

from __future__ import annotations

import functools
import json
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from wecom.sandbox import behaviour, brand, contact_ways, events, publishing
from wecom.sandbox.models import (
    CallbackDelivery,
    ContactWay,
    Customer,
    Fault,
    Follow,
    Member,
    Message,
    Moment,
    MomentDelivery,
    MomentInteraction,
    MomentJob,
    WelcomeCode,
)

MAX_HTTP_SEED_FOLLOWS = 1_000_000  # beyond this the seed is queued for the worker (or use `manage.py sandbox_seed`)
MESSAGES_PAGE = 200


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cross_origin(request: HttpRequest) -> bool:
    """Sent by a page of another origin: its browser says so (Origin, Sec-Fetch-Site). Scripts and
    tests send neither; this app's own pages (the sandbox's JS-SDK) send their own origin."""
    if request.headers.get("Sec-Fetch-Site", "") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin.lower() not in {_origin(request.build_absolute_uri("/")), _origin(settings.MOMENTS_PUBLIC_URL)}


def _refusal(request: HttpRequest) -> JsonResponse | None:
    if _cross_origin(request):
        message = "cross-origin requests are refused: the control plane answers this machine's scripts and tests"
        return JsonResponse({"error": message}, status=403)
    has_body = request.method == "POST" or (request.method == "DELETE" and request.body)
    if has_body and request.content_type != "application/json":
        return JsonResponse({"error": "send the body as JSON, with Content-Type: application/json"}, status=415)
    return None


def control(*methods: str):
    """A control-plane JSON view: method, origin and content-type checks, body parsing, errors as JSON."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method not in methods:
                return JsonResponse({"error": f"use {' or '.join(methods)}"}, status=405)
            if refused := _refusal(request):
                return refused
            try:
                body = json.loads(request.body or b"{}") if request.method in {"POST", "DELETE"} else {}
            except (ValueError, UnicodeDecodeError):
                return JsonResponse({"error": "the body is not valid JSON"}, status=400)
            if not isinstance(body, dict):
                return JsonResponse({"error": "the body must be a JSON object"}, status=400)
            try:
                answer = view(request, body, *args, **kwargs)
                payload, status = answer if isinstance(answer, tuple) else (answer, 200)
                return JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})
            except ControlError as error:
                return JsonResponse({"error": str(error)}, status=error.status)
            except publishing.PublishError as error:
                return JsonResponse({"error": str(error), "errcode": error.errcode}, status=409)
            except contact_ways.ScanError as error:
                return JsonResponse({"error": str(error)}, status=error.status)

        return wrapper

    return decorate


def _member(userid: str) -> Member:
    member = Member.objects.filter(userid=userid.lower()).first()
    if member is None:
        raise ControlError(f"no member with userid {userid!r}", status=404)
    return member


def _customer(external_userid: str) -> Customer:
    customer = Customer.objects.filter(external_userid=external_userid).first()
    if customer is None:
        raise ControlError(f"no customer with external_userid {external_userid!r}", status=404)
    return customer


def _moment(moment_id) -> Moment:
    moment = Moment.objects.filter(moment_id=str(moment_id or "")).first()
    if moment is None:
        raise ControlError(f"no moment with moment_id {moment_id!r}", status=404)
    return moment


def _text(body: dict, name: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or (required and not value):
        raise ControlError(f"{name!r} must be a non-empty string" if required else f"{name!r} must be a string")
    return value


def _number(body: dict, name: str, default, *, kind=int, minimum=None, maximum=None):
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise ControlError(f"{name!r} must be a number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ControlError(f"{name!r} must be between {minimum} and {maximum}")
    return value


# --- overview ---------------------------------------------------------------------------------
def index(request):
    """A page for people: what the sandbox holds and what the control plane offers."""
    counts = {
        "members": Member.objects.count(),
        "customers": Customer.objects.count(),
        "follows": Follow.objects.count(),
        "moments": Moment.objects.count(),
        "deliveries": MomentDelivery.objects.count(),
        "messages": Message.objects.count(),
        "callbacks": CallbackDelivery.objects.count(),
        "contact ways": ContactWay.objects.count(),
        "welcome messages": WelcomeCode.objects.filter(sent_at__isnull=False).count(),
        "faults": Fault.objects.count(),
    }
    return render(request, "wecom_sandbox/control.html", {"counts": counts})


@control("GET")
def state(request, body):
    jobs = dict(MomentJob.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "members": Member.objects.count(),
        "unverified_members": Member.objects.filter(is_verified=False).count(),
        "customers": Customer.objects.count(),
        "follows": Follow.objects.count(),
        "moments": Moment.objects.count(),
        "moment_jobs": {str(k): v for k, v in jobs.items()},
        "deliveries": MomentDelivery.objects.count(),
        "interactions": MomentInteraction.objects.count(),
        "messages": Message.objects.count(),
        "contact_ways": ContactWay.objects.count(),
        "welcome_messages": WelcomeCode.objects.filter(sent_at__isnull=False).count(),
        "faults": Fault.objects.count(),
    }


# --- directory --------------------------------------------------------------------------------
@control("POST")
def seed(request, body):
    size = brand.BrandSize(
        members=_number(body, "members", 60, minimum=1, maximum=brand.MAX_MEMBERS),
        follows_per_member=_number(body, "follows_per_member", 120, minimum=1, maximum=brand.MAX_FOLLOWS_PER_MEMBER),
        unverified_share=_number(body, "unverified_share", 0.15, kind=float, minimum=0, maximum=1),
        seed=_number(body, "seed", 42),
    )
    if size.members * size.follows_per_member > MAX_HTTP_SEED_FOLLOWS:
        from wecom.sandbox.tasks import sandbox_seed_task

        if not body.get("flush") and not brand.sandbox_is_empty():
            raise ControlError('The sandbox already has a directory; pass "flush": true to replace it.', status=409)
        arguments = [size.members, size.follows_per_member, size.unverified_share, size.seed, bool(body.get("flush"))]
        transaction.on_commit(lambda: sandbox_seed_task.delay(*arguments))
        message = (
            f"more than {MAX_HTTP_SEED_FOLLOWS:,} follows: queued for the Celery worker; watch control/state, "
            "or run `python manage.py sandbox_seed` for progress bars"
        )
        return {"queued": True, "message": message}, 202
    if body.get("flush"):
        brand.sandbox_flush()
    try:
        summary = brand.brand_create(size=size)
    except brand.BrandError as error:
        raise ControlError(str(error), status=409) from None
    return json.loads(summary.as_json())


@control("POST")
def reset(request, body):
    brand.sandbox_flush()
    Fault.objects.all().delete()
    return {"reset": True}


@control("POST")
def member_update(request, body, userid):
    """Facts WeCom keeps about a member that the API does not show (verified, licensed) and status."""
    member = _member(userid)
    changes = {}
    for name in ("is_verified", "is_licensed"):
        if name in body:
            if not isinstance(body[name], bool):
                raise ControlError(f"{name!r} must be true or false")
            changes[name] = body[name]
    if "status" in body:
        if body["status"] not in Member.Status.values:
            raise ControlError(f"'status' must be one of {Member.Status.values}")
        changes["status"] = body["status"]
    if not changes:
        raise ControlError("nothing to change: give is_verified, is_licensed or status")
    Member.objects.filter(pk=member.pk).update(**changes)
    return {"userid": member.userid, **changes}


@control("POST")
def follow_add(request, body):
    """A customer adds a member (a new customer if the external_userid is new); the app gets a callback."""
    member = _member(_text(body, "userid"))
    external_userid = _text(body, "external_userid")
    with transaction.atomic():
        customer, _ = Customer.objects.get_or_create(
            external_userid=external_userid, defaults={"name": _text(body, "name", required=False) or external_userid}
        )
        follow, created = Follow.objects.get_or_create(
            member=member, customer=customer,
            defaults={"createtime": int(timezone.now().timestamp()), "add_way": 1, "state": body.get("state") or ""},
        )  # fmt: skip
        if created:
            events.contact_added(userid=member.userid, external_userid=external_userid, state=follow.state)
    return {"created": created, "userid": member.userid, "external_userid": external_userid}


@control("POST")
def follow_remove(request, body):
    """The customer removes the member (``by: "customer"``) or the member removes the customer."""
    member = _member(_text(body, "userid"))
    customer = _customer(_text(body, "external_userid"))
    by = body.get("by", "customer")
    if by not in {"customer", "member"}:
        raise ControlError("'by' is 'customer' or 'member'")
    with transaction.atomic():
        deleted, _ = Follow.objects.filter(member=member, customer=customer).delete()
        if deleted:
            events.contact_removed(
                userid=member.userid, external_userid=customer.external_userid, by_customer=by == "customer"
            )
    return {"removed": bool(deleted)}


# --- acting as a member or customer ------------------------------------------------------------
@control("POST")
def member_publish(request, body, userid):
    """The member publishes their task of an enterprise moment (found by moment_id or jobid)."""
    member = _member(userid)
    if body.get("jobid"):
        job = MomentJob.objects.filter(jobid=str(body["jobid"])).first()
        if job is None:
            raise ControlError(f"no job {body['jobid']!r}", status=404)
        job = publishing.job_resolve(job, at=max(timezone.now(), job.ready_at))
        moment_id = (job.result or {}).get("moment_id")
    else:
        moment_id = body.get("moment_id")
    moment = _moment(moment_id)
    delivered = publishing.publish_enterprise(moment, member)
    return {"moment_id": moment.moment_id, "userid": member.userid, "delivered": delivered}


@control("POST")
def member_post(request, body, userid):
    """The member posts a personal moment (text, optionally visible to some tags only)."""
    member = _member(userid)
    tag_ids = body.get("tag_ids") or []
    if not isinstance(tag_ids, list) or not all(isinstance(t, str) for t in tag_ids):
        raise ControlError("'tag_ids' must be a list of tag ids")
    moment, delivered = publishing.publish_personal(member, text=_text(body, "text"), tag_ids=tag_ids)
    return {"moment_id": moment.moment_id, "userid": member.userid, "delivered": delivered}


@control("GET")
def member_messages(request, body, userid):
    """The app messages this member received (newest first), with what WeCom did with each."""
    member = _member(userid)
    rows = Message.objects.filter(userid=member.userid).order_by("-received_at", "-id")[:MESSAGES_PAGE]
    return {
        "userid": member.userid,
        "messages": [
            {
                "msgid": m.msgid,
                "msgtype": m.msgtype,
                "content": m.content,
                "outcome": m.outcome,
                "received_at": m.received_at.isoformat(),
            }
            for m in rows
        ],  # fmt: skip
    }


@control("POST")
def contact_way_scan(request, body, config_id):
    """A customer scans a contact way's QR code and adds its member (for a type 2 way,
    ``userid`` picks which): the follow carries the way's state, and the app gets
    ``add_external_contact`` with State and a WelcomeCode good for 20 s."""
    return contact_ways.contact_way_scan(
        config_id=config_id,
        external_userid=_text(body, "external_userid"),
        name=_text(body, "name", required=False),
        userid=_text(body, "userid", required=False),
    )


@control("GET")
def customer_welcome(request, body, external_userid):
    """The welcome messages this customer received (send_welcome_msg), newest first."""
    return {"external_userid": external_userid,
            "welcome_messages": contact_ways.welcome_messages(external_userid, limit=MESSAGES_PAGE)}  # fmt: skip


@control("POST")
def customer_interact(request, body, external_userid, kind):
    """The customer likes or comments on a member's copy of a moment they have in their feed."""
    customer = _customer(external_userid)
    moment = _moment(body.get("moment_id"))
    member = _member(_text(body, "userid"))
    content = _text(body, "content") if kind == "comment" else ""
    item = publishing.interact(moment, member, kind=kind, customer=customer, content=content)
    return {"kind": item.kind, "moment_id": moment.moment_id, "userid": member.userid,
            "create_time": int(item.create_time.timestamp())}  # fmt: skip


# --- faults, behaviour, callbacks -------------------------------------------------------------
def _fault_json(fault: Fault) -> dict:
    return {
        "id": fault.pk, "endpoint": fault.endpoint, "rate": fault.rate, "errcode": fault.errcode,
        "http_status": fault.http_status, "latency_ms": fault.latency_ms, "drop_connection": fault.drop_connection,
        "remaining": fault.remaining, "after_effect": fault.after_effect,
    }  # fmt: skip


@control("GET", "POST", "DELETE")
def faults(request, body):
    """GET lists, POST adds one, DELETE removes all (or ``{"id": …}``)."""
    if request.method == "POST":
        fault = Fault(
            endpoint=_text(body, "endpoint", required=False, default="*") or "*",
            rate=_number(body, "rate", 1.0, kind=float, minimum=0, maximum=1),
            errcode=_number(body, "errcode", None, minimum=-1) if body.get("errcode") is not None else None,
            http_status=_number(body, "http_status", 500, minimum=400, maximum=599)
            if body.get("http_status")
            else None,
            latency_ms=_number(body, "latency_ms", 0, minimum=0, maximum=60_000),
            drop_connection=bool(body.get("drop_connection", False)),
            remaining=_number(body, "remaining", 0, minimum=1) if body.get("remaining") is not None else None,
            after_effect=bool(body.get("after_effect", False)),
        )
        if fault.errcode is None and not fault.http_status and not fault.latency_ms and not fault.drop_connection:
            raise ControlError("a fault needs an errcode, an http_status, a latency_ms or drop_connection")
        fault.save()
        return _fault_json(fault)
    if request.method == "DELETE":
        faults_qs = Fault.objects.filter(pk=body["id"]) if body.get("id") else Fault.objects.all()
        deleted, _ = faults_qs.delete()
        return {"deleted": deleted}
    return {"faults": [_fault_json(f) for f in Fault.objects.order_by("id")]}


@control("POST")
def tick(request, body):
    """Run one step of the behaviour model now (beat does it every minute in the demo)."""
    return behaviour.behaviour_tick(personal=bool(body.get("personal", True)))


@control("GET")
def callbacks(request, body):
    rows = CallbackDelivery.objects.order_by("-id")[:MESSAGES_PAGE]
    return {
        "callbacks": [
            {
                "id": c.pk,
                "event": c.event,
                "change_type": c.change_type,
                "attempts": c.attempts,
                "status_code": c.status_code,
                "error": c.error,
                "delivered": c.delivered_at is not None,
            }
            for c in rows
        ]  # fmt: skip
    }


# --- the WeCom client's JS-SDK, as the page inside it sees it -----------------------------------
def jssdk_script(request):
    """A stand-in for WeCom's JS-SDK (``wx.agentConfig``, ``wx.invoke("shareToExternalMoments")``)
    for pages opened in a browser that plays the WeCom client: its user agent carries
    ``wxwork`` and ``wxwork-sandbox-user/<userid>`` (the member signed in to the client)."""
    from django.http import HttpResponse
    from django.template.loader import render_to_string

    script = render_to_string(
        "wecom_sandbox/jssdk.js", {"control": request.build_absolute_uri("/wecom-sandbox/control/")}
    )
    return HttpResponse(script, content_type="text/javascript; charset=utf-8")


@control("POST")
def jssdk_agent_config(request, body):
    """Check a page's ``wx.agentConfig``: our corp and app, and a signature made from a
    ticket this sandbox issued and has not expired, over the page's URL."""
    from wecom.jssdk import signature
    from wecom.sandbox.models import JsapiTicket

    if body.get("corpid") != settings.WECOM_CORP_ID or str(body.get("agentid")) != str(settings.WECOM_AGENT_ID):
        return {"errMsg": "agentConfig:fail corpid or agentid mismatch"}
    try:
        nonce, timestamp, url = _text(body, "nonceStr"), int(body.get("timestamp")), _text(body, "url")
    except (TypeError, ValueError):
        return {"errMsg": "agentConfig:fail timestamp must be a number"}
    tickets = JsapiTicket.objects.filter(kind=JsapiTicket.Kind.AGENT, expires_at__gt=timezone.now())
    for ticket in tickets.values_list("ticket", flat=True):
        if signature(ticket=ticket, nonce=nonce, timestamp=timestamp, url=url) == body.get("signature"):
            return {"errMsg": "agentConfig:ok"}
    return {"errMsg": "agentConfig:fail invalid signature"}


@control("POST")
def jssdk_share(request, body):
    """``shareToExternalMoments`` confirmed by the member in the client: a personal post."""
    member = _member(_text(body, "userid"))
    moment, delivered = publishing.publish_personal(member, text=_text(body, "text"), tag_ids=[])
    return {"errMsg": "shareToExternalMoments:ok", "moment_id": moment.moment_id, "delivered": delivered}
