"""How the sandbox speaks: WeCom's JSON envelope, errcodes and errmsg format,
access-token checks, body validation and injected faults.

Every answer is HTTP 200 with ``{"errcode": …, "errmsg": …}`` like WeCom
(wecom-api.md §0, §7), except injected HTTP faults. Bad input of any kind gets
an errcode, never a 500.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from wecom.sandbox.models import AccessToken, Fault

# errcodes the sandbox answers with (wecom-api.md §3.1, §7, and the moment codes of §1.6)
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_MEDIA_TYPE = 40004
INVALID_FILE_TYPE = 40005
INVALID_FILE_SIZE = 40006
INVALID_MEDIA_ID = 40007
INVALID_CORPID = 40013
INVALID_TOKEN = 40014
INVALID_AGENTID = 40056
INVALID_PARAMETER = 40058
MISSING_TOKEN = 41001
MISSING_MEDIA = 41005
WRONG_ATTACHMENT_SCENE = 41072
TOKEN_EXPIRED = 42001
FREQUENCY_LIMIT = 45009
ALL_RECIPIENTS_INVALID = 81013
RECIPIENTS_EMPTY = 82001
NOT_EXTERNAL_CONTACT = 84061

TOKEN_LIFETIME = 7200


class SandboxError(Exception):
    def __init__(self, errcode: int, errmsg: str, **payload):
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg
        self.payload = payload


def errmsg(code: int, text: str) -> str:
    """WeCom's errmsg shape: text, a hint, the caller's IP and the lookup link."""
    return (
        f"{text}, hint: [{int(time.time())}_{secrets.token_hex(6)}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    )


def ok(**payload) -> JsonResponse:
    return JsonResponse({"errcode": 0, "errmsg": "ok", **payload}, json_dumps_params={"ensure_ascii": False})


def failure(error: SandboxError) -> JsonResponse:
    body = {"errcode": error.errcode, "errmsg": errmsg(error.errcode, error.errmsg), **error.payload}
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


# --- body validation ----------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    required: bool = False
    max_items: int | None = None  # for lists


def parse_body(request: HttpRequest, schema: dict[str, Field]) -> dict:
    """The JSON body, checked against ``schema``. The sandbox is stricter than
    WeCom about unknown fields: a typo in our client should fail loudly here."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise SandboxError(INVALID_PARAMETER, "invalid json: the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SandboxError(INVALID_PARAMETER, "invalid json: the body must be a JSON object")
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise SandboxError(INVALID_PARAMETER, f"invalid parameter: unknown field {unknown[0]!r}")
    for name, field in schema.items():
        if name not in body or body[name] is None:
            if field.required:
                raise SandboxError(INVALID_PARAMETER, f"invalid parameter: missing {name!r}")
            continue
        value = body[name]
        kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
        # bool is an int in Python; WeCom's integer fields do not take true/false.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise SandboxError(INVALID_PARAMETER, f"invalid parameter: {name!r} has the wrong type")
        if field.max_items is not None and isinstance(value, list) and len(value) > field.max_items:
            raise SandboxError(INVALID_PARAMETER, f"invalid parameter: {name!r} has more than {field.max_items} items")
    return body


def int_param(request: HttpRequest, name: str, *, default: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        if default is None:
            raise SandboxError(INVALID_PARAMETER, f"invalid parameter: missing {name!r}")
        return default
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(INVALID_PARAMETER, f"invalid parameter: {name!r} must be an integer") from None


def clamp_limit(value, *, maximum: int, default: int, above_max: str = "default") -> int:
    """Page sizes: WeCom's moment endpoints fall back to the default above the max;
    batch/get_by_user clamps to the max (wecom-api.md §1.1, §4)."""
    if value is None or value <= 0:
        return default
    if value > maximum:
        return default if above_max == "default" else maximum
    return value


# --- cursors ------------------------------------------------------------------------------
def decode_cursor(cursor: str, prefix: str) -> tuple[int, ...]:
    try:
        kind, *numbers = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if kind != prefix:
            raise ValueError
        return tuple(int(n) for n in numbers)
    except (ValueError, UnicodeDecodeError):
        raise SandboxError(INVALID_PARAMETER, "invalid parameter: invalid cursor") from None


def encode_cursor(prefix: str, *numbers: int) -> str:
    return base64.urlsafe_b64encode(":".join([prefix, *map(str, numbers)]).encode()).decode()


# --- tokens ---------------------------------------------------------------------------
def issue_token() -> tuple[str, int]:
    token = secrets.token_urlsafe(48)
    AccessToken.objects.create(token=token, expires_at=timezone.now() + timezone.timedelta(seconds=TOKEN_LIFETIME))
    return token, TOKEN_LIFETIME


def check_token(request: HttpRequest) -> None:
    token = request.GET.get("access_token")
    if not token:
        raise SandboxError(MISSING_TOKEN, "access_token missing: pass it in the URL query string")
    row = AccessToken.objects.filter(token=token).only("expires_at").first()
    if row is None:
        raise SandboxError(INVALID_TOKEN, "invalid access_token")
    if row.expires_at <= timezone.now():
        raise SandboxError(TOKEN_EXPIRED, "access_token expired")


# --- faults ------------------------------------------------------------------------------
def faults_for(path: str) -> list[Fault]:
    """The faults armed on ``path`` (or on every endpoint), both phases, in one query: a
    call reads them once, at its start."""
    return list(Fault.objects.filter(endpoint__in=[path, "*"]).order_by("id"))


def _fault_for(faults: list[Fault], *, after_effect: bool) -> Fault | None:
    for fault in faults:
        if fault.after_effect != after_effect or random.random() >= fault.rate:
            continue
        if fault.remaining is not None:
            # Conditional decrement: two concurrent requests cannot both use the last hit.
            with transaction.atomic():
                if not Fault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
                    continue
        return fault
    return None


def _dropped_connection() -> StreamingHttpResponse:
    def body():
        yield b'{"errcode": 0, "errmsg": "o'
        raise ConnectionAbortedError("sandbox fault: connection dropped mid-response")

    response = StreamingHttpResponse(body(), content_type="application/json")
    response["Content-Length"] = "1000"
    return response


def apply_fault(faults: list[Fault], *, after_effect: bool = False) -> HttpResponse | None:
    fault = _fault_for(faults, after_effect=after_effect)
    if fault is None:
        return None
    if fault.latency_ms:
        time.sleep(fault.latency_ms / 1000)
    if fault.drop_connection:
        return _dropped_connection()
    if fault.http_status:
        return HttpResponse(f"sandbox fault: HTTP {fault.http_status}", status=fault.http_status)
    if fault.errcode is not None:
        return failure(SandboxError(fault.errcode, "sandbox fault injected"))
    return None


# --- the base frequency (wecom-api.md §3.3) -----------------------------------------------
def frequency_name(path: str) -> str:
    """The RateWindow counter of one API (cgi): its rows say how fast a client really called."""
    return f"cgi:{path}"


def over_frequency(path: str) -> bool:
    """Count this call in its API's current window; True beyond WeCom's base frequency (per
    enterprise and API: 10,000 calls a minute, ``WECOM_SANDBOX_CALLS_PER_WINDOW`` per
    ``WECOM_SANDBOX_WINDOW_SECONDS``). Refused calls count too, so a client that keeps calling
    stays refused until the window ends, as WeCom's block lasts the limit's period."""
    limit = settings.WECOM_SANDBOX_CALLS_PER_WINDOW
    if not limit:
        return False
    from wecom.sandbox import publishing  # publishing's helpers need the models, not this module

    return publishing.rate_count(frequency_name(path), per_seconds=settings.WECOM_SANDBOX_WINDOW_SECONDS) > limit


# --- the decorator -----------------------------------------------------------------------
def endpoint(path: str, *, method: str, needs_token: bool = True) -> Callable:
    """Wrap a view as WeCom endpoint ``path``: method check, faults, token, errors."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            faults = faults_for(path)
            faulted = apply_fault(faults)
            if faulted is not None:
                return faulted
            if over_frequency(path):
                return failure(SandboxError(FREQUENCY_LIMIT, "api freq out of limit"))
            try:
                if request.method != method:
                    raise SandboxError(INVALID_PARAMETER, f"invalid request method: {path} takes {method}")
                if needs_token:
                    check_token(request)
                answer = view(request, *args, **kwargs)
            except SandboxError as error:
                return failure(error)
            return apply_fault(faults, after_effect=True) or answer

        wrapper.wecom_path = path
        return wrapper

    return decorate
