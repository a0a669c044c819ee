"""The WeCom JS-SDK's ``wx.agentConfig`` (wecom-api.md §3; DESIGN.md §5.4): the page
inside the WeCom client proves it speaks for our app with a signature made from
the app's jsapi ticket, then may call ``shareToExternalMoments``.

The signature is WeCom's (the same as WeChat's ``wx.config``): SHA-1 of
``jsapi_ticket=…&noncestr=…&timestamp=…&url=…``, with the page's URL as the
client sees it, without the ``#`` fragment.
"""

from __future__ import annotations

import hashlib
import secrets
import time

JS_APIS = ["shareToExternalMoments"]


def signature(*, ticket: str, nonce: str, timestamp: int, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url.split('#', 1)[0]}"
    return hashlib.sha1(plain.encode(), usedforsecurity=False).hexdigest()


def agent_config(*, client, url: str, js_apis: list[str] = JS_APIS) -> dict:
    """The object the page passes to ``wx.agentConfig`` (raises WeComError when the
    ticket cannot be had; the page then falls back to the server path)."""
    ticket = client.agent_ticket()
    nonce, timestamp = secrets.token_urlsafe(12), int(time.time())
    return {
        "corpid": client.corp_id,
        "agentid": client.agent_id,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": signature(ticket=ticket, nonce=nonce, timestamp=timestamp, url=url),
        "jsApiList": list(js_apis),
    }
