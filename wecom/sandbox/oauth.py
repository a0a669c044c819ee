"""WeCom's web OAuth, played by the sandbox (wecom/oauth.py has the protocol).

``/wecom-sandbox/connect/oauth2/authorize`` stands in for ``open.weixin.qq.com``'s page:
the browser plays the WeCom client through its user agent (``wxwork`` and
``wxwork-sandbox-user/<userid>``, as for the stand-in JS-SDK), and the page sends the
member back to ``redirect_uri`` with a code, but only to this app: WeCom sends a member only to
the app's trusted domain, and the sandbox only under ``MOMENTS_PUBLIC_URL`` (same scheme, host,
port and path prefix) or to the address it was itself reached at, which is this app too; anything
else is a 400, so the page is no open redirect. ``auth/getuserinfo`` takes that code once,
within 5 minutes, and answers the member's userid; like WeCom, it answers 40029 for a
code that is unknown, used or expired.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from wecom import oauth
from wecom.sandbox import protocol as p
from wecom.sandbox.models import Member, OAuthCode

CODE_LIFETIME = timedelta(minutes=5)
INVALID_CODE = 40029
SANDBOX_USER = re.compile(r"wxwork-sandbox-user/([A-Za-z0-9_.@-]+)")
SCOPES = {"snsapi_base", "snsapi_privateinfo"}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port (the default one for the scheme filled in); None for a URL that names
    a user (``https://ours@elsewhere/``) or has no usable host or port."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port


def _to_this_app(request: HttpRequest, redirect_uri: str) -> bool:
    target = _origin(redirect_uri)
    if target is None:
        return False
    public = urlsplit(settings.MOMENTS_PUBLIC_URL)
    prefix = public.path.rstrip("/") + "/"
    if target == _origin(settings.MOMENTS_PUBLIC_URL) and (urlsplit(redirect_uri).path or "/").startswith(prefix):
        return True
    return target == _origin(request.build_absolute_uri("/"))


def _page(text: str, status: int) -> HttpResponse:
    """WeCom's authorize page shows its errors to the person, as a plain page."""
    return HttpResponse(f"<!doctype html><meta charset=utf-8><title>企业微信</title><p>{text}</p>",
                        status=status, content_type="text/html; charset=utf-8")  # fmt: skip


@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    query = request.GET
    if query.get("appid") != settings.WECOM_CORP_ID:
        return _page("appid参数错误 (appid is not this enterprise's corp ID)", 400)
    redirect_uri = query.get("redirect_uri", "")
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or not target.netloc:
        return _page("redirect_uri参数错误 (it must be an absolute http(s) URL)", 400)
    if not _to_this_app(request, redirect_uri):
        return _page("redirect_uri参数错误 (it must be under MOMENTS_PUBLIC_URL, this app's address)", 400)
    if query.get("response_type") != "code" or query.get("scope") not in SCOPES:
        return _page("参数错误 (response_type must be code; scope snsapi_base or snsapi_privateinfo)", 400)
    state = query.get("state", "")
    if state and (not state.isalnum() or len(state) > oauth.STATE_MAX_LENGTH):
        return _page("state参数错误 (at most 128 letters and digits)", 400)
    user_agent = request.headers.get("User-Agent", "")
    if not oauth.in_wecom(user_agent):
        return _page("请在企业微信客户端打开链接 (open this link in the WeCom client)", 403)
    found = SANDBOX_USER.search(user_agent)
    member = Member.objects.filter(userid=found.group(1).lower()).first() if found else None
    if member is None or member.status != Member.Status.ACTIVE:
        return _page("你不是该企业的成员，或账号不可用 (not an active member of this enterprise)", 403)
    agentid = query.get("agentid", "")
    OAuthCode.objects.filter(expires_at__lt=timezone.now() - CODE_LIFETIME).delete()  # of no use any more
    code = OAuthCode.objects.create(
        code=secrets.token_urlsafe(32),
        userid=member.userid,
        agentid=int(agentid) if agentid.isdigit() else None,
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    separator = "&" if target.query else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode({'code': code.code, 'state': state})}")


@p.endpoint("auth/getuserinfo", method="GET")
def getuserinfo(request):
    code = request.GET.get("code", "")
    if not code:
        raise p.SandboxError(p.INVALID_PARAMETER, "invalid parameter: missing 'code'")
    now = timezone.now()
    # Taken once: the conditional update is the claim.
    taken = OAuthCode.objects.filter(code=code, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not taken:
        raise p.SandboxError(INVALID_CODE, "invalid code")
    userid = OAuthCode.objects.filter(code=code).values_list("userid", flat=True).get()
    return p.ok(userid=userid)
