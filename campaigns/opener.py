"""Who opened an associate's link (DESIGN.md §5.4): inside the WeCom client, WeCom says.

A link is signed for one PublishTask (or one associate's day); this binds it to the
person holding the phone too. Inside the WeCom client the page goes once through
WeCom's web OAuth (wecom/oauth.py): the code it brings back names the member, kept in
a signed cookie for a working day; a link sent to someone else is refused. Outside
the client there is no one to ask: the link acts for its associate, unless
``MOMENTS_LINKS_WECOM_ONLY`` asks to open it in WeCom.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.crypto import constant_time_compare

from wecom import oauth
from wecom.client import client_from_settings
from wecom.errors import WeComError

OPENER_COOKIE = "moments_wecom_user"
STATE_COOKIE = "moments_oauth_state"
SALT = "campaigns.opener"
OPENER_MAX_AGE = 12 * 3600  # a working day; then WeCom is asked again (silently)
STATE_MAX_AGE = 10 * 60
NOT_A_MEMBER = "-"  # WeCom answered an openid: someone outside the enterprise
ASK_AGAIN = "again"  # ?who=again: forget who we were told and ask WeCom again


class OpenerRefused(Exception):
    """The link may not be used by whoever opened it: ``kind`` names the page to show."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def opener_check(request: HttpRequest, associate, *, may_redirect: bool) -> HttpResponse | None:
    """None when the opener may act for ``associate``; a redirect through WeCom's OAuth
    (GET only: ``may_redirect``) while we do not know yet; raises OpenerRefused otherwise."""
    if not oauth.in_wecom(request.headers.get("User-Agent", "")):
        if settings.MOMENTS_LINKS_WECOM_ONLY:
            raise OpenerRefused("open_in_wecom")
        return None
    if may_redirect and "code" in request.GET:
        return _opener_from_code(request)
    opener = request.get_signed_cookie(OPENER_COOKIE, default=None, salt=SALT, max_age=OPENER_MAX_AGE)
    if opener is None or (may_redirect and request.GET.get("who") == ASK_AGAIN):
        if not may_redirect:
            raise OpenerRefused("unidentified")
        return _ask_wecom(request)
    if opener.lower() != associate.userid.lower():
        raise OpenerRefused("other_associate")
    return None


def _ask_wecom(request: HttpRequest) -> HttpResponse:
    state = secrets.token_hex(16)
    response = HttpResponseRedirect(oauth.authorize_url(
        authorize_endpoint=settings.WECOM_OAUTH_AUTHORIZE_URL, corp_id=settings.WECOM_CORP_ID,
        agent_id=settings.WECOM_AGENT_ID, redirect_uri=request.build_absolute_uri(request.path), state=state,
    ))  # fmt: skip
    response.set_signed_cookie(STATE_COOKIE, state, salt=SALT, max_age=STATE_MAX_AGE, **_cookie_options())
    response.delete_cookie(OPENER_COOKIE)
    return response


def _opener_from_code(request: HttpRequest) -> HttpResponse:
    """Back from WeCom with ``code`` and ``state``: the state must be the one we sent
    from this browser (no one else's code can be planted here), the code good."""
    expected = request.get_signed_cookie(STATE_COOKIE, default=None, salt=SALT, max_age=STATE_MAX_AGE)
    if not expected or not constant_time_compare(expected, request.GET.get("state", "")):
        raise OpenerRefused("unidentified")
    try:
        with client_from_settings() as client:
            who = client.user_from_code(request.GET["code"][:512])
    except WeComError:
        raise OpenerRefused("unidentified") from None
    response = HttpResponseRedirect(request.path)  # the clean URL: the JS-SDK signs it
    response.delete_cookie(STATE_COOKIE)
    response.set_signed_cookie(OPENER_COOKIE, who["userid"] or NOT_A_MEMBER, salt=SALT, max_age=OPENER_MAX_AGE,
                               **_cookie_options())  # fmt: skip
    return response


def _cookie_options() -> dict:
    # Lax: the cookie comes along on the top-level redirect back from WeCom's page.
    return {"httponly": True, "samesite": "Lax", "secure": settings.SESSION_COOKIE_SECURE}
