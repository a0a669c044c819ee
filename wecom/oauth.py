"""WeCom's web OAuth (网页授权登录, snsapi_base): a page opened inside the WeCom client
learns who opened it without a login.

1. The page redirects to ``connect/oauth2/authorize`` (on ``open.weixin.qq.com``, not the
   API host) with our corp ID, the app's agentid, ``scope=snsapi_base``, a ``state`` and
   the page's own URL as ``redirect_uri`` (its domain must be one of the app's trusted
   domains).
2. The client sends the member back to ``redirect_uri?code=CODE&state=STATE``.
3. The server exchanges the code with ``auth/getuserinfo`` (``WeComClient.user_from_code``):
   a code is good once, for 5 minutes.

Outside the WeCom client the authorize page only says to open the link in WeCom, so
callers redirect there only when the user agent says ``wxwork``.
"""

from __future__ import annotations

from urllib.parse import urlencode

SCOPE = "snsapi_base"  # silent: userid only; what a self-built app may ask for
STATE_MAX_LENGTH = 128  # a-zA-Z0-9, at most 128 bytes


def authorize_url(*, authorize_endpoint: str, corp_id: str, agent_id: int, redirect_uri: str, state: str) -> str:
    if not state.isalnum() or len(state) > STATE_MAX_LENGTH:
        raise ValueError("the OAuth state must be at most 128 letters and digits")
    query = urlencode({"appid": corp_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": SCOPE, "state": state, "agentid": agent_id})  # fmt: skip
    return f"{authorize_endpoint}?{query}#wechat_redirect"


def in_wecom(user_agent: str) -> bool:
    """The WeCom client (its user agent says ``wxwork``)."""
    return "wxwork" in (user_agent or "").lower()
