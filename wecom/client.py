"""The WeCom server API over HTTP (wecom-api.md). One method per endpoint we use,
with WeCom's paths, methods, field names and pagination.

- The access token is cached in a shared cache (``get``/``set``/``add``/``delete``,
  e.g. Django's) and refreshed **once**, behind a lock, when WeCom refuses it.
- Every call has connect and read timeouts and draws from a global token bucket
  (``wecom.ratelimit``) with the endpoint's documented budget.
- Failures raise ``wecom.errors``: transient (retry later), token, permanent. The
  client itself does not retry transient errors: the caller (a task) owns retries.
- ``message/send`` partial success (``invaliduser`` …) is returned as data.

Independent of our Django apps: ``client_from_settings`` only reads settings.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from wecom.errors import PermanentError, TokenError, TransientError, WeComError, error_for
from wecom.ratelimit import DEFAULT_BUDGET, ENDPOINT_BUDGETS, Budget, LocalTokenBucket

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
TOKEN_SAFETY_MARGIN = 300  # refresh five minutes before WeCom's expires_in
TOKEN_LOCK_SECONDS = 10

# Page sizes: the documented maximum of each paged endpoint (wecom-api.md §1.1, §4).
LIMIT_BATCH_GET_BY_USER = 100
LIMIT_MOMENT_LIST = 20
LIMIT_MOMENT_TASK = 1000
LIMIT_MOMENT_CUSTOMER_LIST = 1000
LIMIT_MOMENT_SEND_RESULT = 5000
LIMIT_USER_LIST_ID = 10000
BATCH_USERIDS = 100  # batch/get_by_user takes at most 100 userids


@dataclass(frozen=True)
class SendResult:
    """message/send: errcode 0 may still leave some recipients out."""

    msgid: str
    invalid_users: list[str] = field(default_factory=list)
    invalid_parties: list[str] = field(default_factory=list)
    invalid_tags: list[str] = field(default_factory=list)
    unlicensed_users: list[str] = field(default_factory=list)

    @classmethod
    def from_response(cls, data: dict) -> SendResult:
        def split(name):
            value = data.get(name) or ""
            return [item for item in (value.split("|") if isinstance(value, str) else value) if item]

        return cls(
            msgid=data.get("msgid", ""),
            invalid_users=split("invaliduser"),
            invalid_parties=split("invalidparty"),
            invalid_tags=split("invalidtag"),
            unlicensed_users=split("unlicenseduser"),
        )


class WeComClient:
    def __init__(
        self,
        *,
        base_url: str,
        corp_id: str,
        secret: str,
        agent_id: int,
        cache,
        limiter=None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        budgets: dict[str, Budget] | None = None,
    ):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._secret = secret
        self._cache = cache
        self._limiter = limiter or LocalTokenBucket()
        self._budgets = {**ENDPOINT_BUDGETS, **(budgets or {})}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, verify=_ssl_context())
        # Each app's token is independent (wecom-api.md §3.1): key by corp and app.
        self._token_key = f"wecom:token:{corp_id}:{agent_id}"
        self._ticket_key = f"wecom:agent-ticket:{corp_id}:{agent_id}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- transport ------------------------------------------------------------------
    def _send(self, method: str, path: str, *, params=None, json=None, files=None) -> dict:
        self._limiter.acquire(f"wecom:{path}", self._budgets.get(path, DEFAULT_BUDGET))
        try:
            response = self._http.request(method, path, params=params, json=json, files=files)
        except httpx.TimeoutException as error:
            raise TransientError(None, f"timeout: {error}", endpoint=path) from error
        except httpx.TransportError as error:
            raise TransientError(None, f"network error: {error}", endpoint=path) from error
        if response.status_code >= 500:
            raise TransientError(None, f"HTTP {response.status_code}", endpoint=path)
        try:
            data = response.json()
        except ValueError:
            # A proxy's error page, a truncated body: not WeCom's answer.
            raise TransientError(None, f"HTTP {response.status_code} with a non-JSON body", endpoint=path) from None
        if not isinstance(data, dict) or "errcode" not in data:
            raise TransientError(None, "a response without errcode", endpoint=path)
        return data

    def _call(self, method: str, path: str, *, params=None, json=None, files=None) -> dict:
        """Call with the access token; on a token error refresh once and retry once."""
        token = self.access_token()
        for attempt in (1, 2):
            data = self._send(method, path, params={**(params or {}), "access_token": token}, json=json, files=files)
            errcode = data.get("errcode", 0)
            if errcode == 0:
                return data
            error = error_for(errcode, data.get("errmsg", ""), endpoint=path, data=data)
            if isinstance(error, TokenError) and attempt == 1:
                logger.info("wecom: token refused on %s (%s); refreshing once", path, errcode)
                token = self._refresh_token(stale=token)
                continue
            raise error
        raise AssertionError("unreachable")

    # --- access token -----------------------------------------------------------------
    def access_token(self) -> str:
        return self._cache.get(self._token_key) or self._refresh_token(stale=None)

    def _refresh_token(self, *, stale: str | None) -> str:
        """Fetch a new token, one process at a time; the others wait and reuse it."""
        lock_key = self._token_key + ":lock"
        deadline = time.monotonic() + TOKEN_LOCK_SECONDS
        while not self._cache.add(lock_key, "1", timeout=TOKEN_LOCK_SECONDS):
            current = self._cache.get(self._token_key)
            if current and current != stale:
                return current
            if time.monotonic() > deadline:
                raise TransientError(None, "timed out waiting for another process to refresh the token")
            time.sleep(0.05)
        try:
            current = self._cache.get(self._token_key)
            if current and current != stale:
                return current
            data = self._send("GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret})
            if data.get("errcode", 0) != 0:
                error = error_for(data["errcode"], data.get("errmsg", ""), endpoint="gettoken")
                if isinstance(error, TokenError):
                    # gettoken refusing the secret is not a stale token: no refresh can help.
                    raise PermanentError(error.errcode, error.errmsg, endpoint="gettoken")
                raise error
            token = data["access_token"]
            lifetime = max(60, int(data.get("expires_in", 7200)) - TOKEN_SAFETY_MARGIN)
            self._cache.set(self._token_key, token, timeout=lifetime)
            return token
        finally:
            self._cache.delete(lock_key)

    def forget_token(self) -> None:
        """Forget the cached token and the app's jsapi ticket (fetched with it)."""
        self._cache.delete_many([self._token_key, self._ticket_key])

    # --- pagination ----------------------------------------------------------------
    def _pages(self, path: str, body: dict, items_key: str) -> Iterator[list[dict]]:
        """POST cursor pagination: yields each page's items until next_cursor is empty."""
        cursor = ""
        while True:
            data = self._call("POST", path, json={**body, "cursor": cursor})
            yield data.get(items_key) or []
            cursor = data.get("next_cursor") or ""
            if not cursor:
                return

    # --- directory ---------------------------------------------------------------
    def department_list(self, department_id: int | None = None) -> list[dict]:
        params = {"id": department_id} if department_id is not None else {}
        return self._call("GET", "department/list", params=params).get("department", [])

    def user_list(self, department_id: int, *, fetch_child: bool = False) -> list[dict]:
        params = {"department_id": department_id, "fetch_child": int(fetch_child)}
        return self._call("GET", "user/list", params=params).get("userlist", [])

    def user_list_id_pages(self, *, limit: int = LIMIT_USER_LIST_ID) -> Iterator[list[dict]]:
        return self._pages("user/list_id", {"limit": limit}, "dept_user")

    def follow_user_list(self) -> list[str]:
        return self._call("GET", "externalcontact/get_follow_user_list").get("follow_user", [])

    def external_contact_list(self, userid: str) -> list[str]:
        return self._call("GET", "externalcontact/list", params={"userid": userid}).get("external_userid", [])

    def external_contact(self, external_userid: str) -> dict:
        """externalcontact/get: the customer and every follow-up member (``follow_user``),
        following ``next_cursor`` when a customer has more than 500 of them."""
        params = {"external_userid": external_userid}
        data = self._call("GET", "externalcontact/get", params=params)
        follow_users = list(data.get("follow_user") or [])
        while data.get("next_cursor"):
            data = self._call("GET", "externalcontact/get", params={**params, "cursor": data["next_cursor"]})
            follow_users.extend(data.get("follow_user") or [])
        return {"external_contact": data.get("external_contact", {}), "follow_user": follow_users}

    def batch_get_by_user_pages(self, userids: list[str], *, limit: int = LIMIT_BATCH_GET_BY_USER):
        """Pages of ``external_contact_list`` (each item: external_contact + follow_info)."""
        _check_userids(userids)  # now, not at the first page

        def pages() -> Iterator[list[dict]]:
            cursor = ""
            while True:
                items, cursor = self.batch_get_by_user_page(userids, cursor=cursor, limit=limit)
                yield items
                if not cursor:
                    return

        return pages()

    def batch_get_by_user_page(
        self, userids: list[str], *, cursor: str = "", limit: int = LIMIT_BATCH_GET_BY_USER
    ) -> tuple[list[dict], str]:
        """One page: its items and the next cursor ("" after the last page). For callers that
        retry a page (the cursor stays valid) or interleave several userid lists."""
        _check_userids(userids)
        body = {"userid_list": list(userids), "limit": limit, "cursor": cursor}
        data = self._call("POST", "externalcontact/batch/get_by_user", json=body)
        return data.get("external_contact_list") or [], data.get("next_cursor") or ""

    def corp_tag_list(self, *, tag_ids: list[str] = (), group_ids: list[str] = ()) -> list[dict]:
        body = {"tag_id": list(tag_ids), "group_id": list(group_ids)}
        return self._call("POST", "externalcontact/get_corp_tag_list", json=body).get("tag_group", [])

    # --- media and messages ------------------------------------------------------------
    def upload_attachment(self, *, filename: str, content: bytes, content_type: str, media_type: str = "image"):
        """media/upload_attachment for moments (attachment_type=1). Returns the media_id (valid 3 days)."""
        params = {"media_type": media_type, "attachment_type": 1}
        files = {"media": (filename, content, content_type)}
        data = self._call("POST", "media/upload_attachment", params=params, files=files)
        return data["media_id"]

    def send_textcard(
        self,
        *,
        touser: list[str],
        title: str,
        description: str,
        url: str,
        btntxt: str = "",
        duplicate_check_interval: int | None = 1800,
    ) -> SendResult:
        """message/send with a textcard; duplicate check on unless the interval is None."""
        body = {
            "touser": "|".join(touser),
            "msgtype": "textcard",
            "agentid": self.agent_id,
            "textcard": {
                "title": title,
                "description": description,
                "url": url,
                **({"btntxt": btntxt} if btntxt else {}),
            },
        }
        if duplicate_check_interval is not None:
            body["enable_duplicate_check"] = 1
            body["duplicate_check_interval"] = duplicate_check_interval
        return SendResult.from_response(self._call("POST", "message/send", json=body))

    # --- moments -------------------------------------------------------------------
    def add_moment_task(self, *, text: str = "", attachments: list[dict] = (), visible_range: dict | None = None):
        """Returns the jobid; poll ``get_moment_task_result`` for the moment_id."""
        body: dict = {}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = list(attachments)
        if visible_range:
            body["visible_range"] = visible_range
        return self._call("POST", "externalcontact/add_moment_task", json=body)["jobid"]

    def get_moment_task_result(self, jobid: str) -> dict:
        """GET, as the official docs say. ``status`` 3 = done; ``result`` only then."""
        data = self._call("GET", "externalcontact/get_moment_task_result", params={"jobid": jobid})
        return {"status": data.get("status"), "type": data.get("type"), "result": data.get("result")}

    def cancel_moment_task(self, moment_id: str) -> None:
        self._call("POST", "externalcontact/cancel_moment_task", json={"moment_id": moment_id})

    def moment_list_pages(
        self, *, start_time: int, end_time: int, creator: str = "", filter_type: int = 2, limit: int = LIMIT_MOMENT_LIST
    ) -> Iterator[list[dict]]:
        """get_moment_list over one window of at most 30 days (the caller splits longer spans)."""
        if end_time - start_time > 30 * 86400:
            raise ValueError("get_moment_list covers at most 30 days per call")
        body = {"start_time": start_time, "end_time": end_time, "filter_type": filter_type, "limit": limit}
        if creator:
            body["creator"] = creator
        return self._pages("externalcontact/get_moment_list", body, "moment_list")

    def moment_task_pages(self, moment_id: str, *, limit: int = LIMIT_MOMENT_TASK):
        return self._pages("externalcontact/get_moment_task", {"moment_id": moment_id, "limit": limit}, "task_list")

    def moment_customer_pages(self, moment_id: str, userid: str, *, limit: int = LIMIT_MOMENT_CUSTOMER_LIST):
        body = {"moment_id": moment_id, "userid": userid, "limit": limit}
        return self._pages("externalcontact/get_moment_customer_list", body, "customer_list")

    def moment_send_result_pages(self, moment_id: str, userid: str, *, limit: int = LIMIT_MOMENT_SEND_RESULT):
        body = {"moment_id": moment_id, "userid": userid, "limit": limit}
        return self._pages("externalcontact/get_moment_send_result", body, "customer_list")

    def moment_comments(self, moment_id: str, userid: str) -> dict:
        data = self._call(
            "POST", "externalcontact/get_moment_comments", json={"moment_id": moment_id, "userid": userid}
        )
        return {"comment_list": data.get("comment_list", []), "like_list": data.get("like_list", [])}

    # --- contact ways ("contact me" QR codes) and welcome messages (docs/wecom-contact-way.md) ---
    def add_contact_way(
        self,
        *,
        type: int = 1,  # WeCom's field name
        scene: int = 2,
        user: list[str] = (),
        party: list[int] = (),
        state: str = "",
        remark: str = "",
        skip_verify: bool = True,
        style: int | None = None,
        is_temp: bool = False,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
        unionid: str = "",
        conclusions: dict | None = None,
    ) -> dict:
        """A member's "contact me" (type 1: one member, 2: several; scene 1: a mini-program
        button, 2: a QR code). ``state`` (≤ 30 characters) comes back with every customer
        who adds through it. Returns ``config_id`` and, for scene 2, ``qr_code`` (a URL)."""
        body: dict = {"type": type, "scene": scene, "skip_verify": skip_verify}
        optional = {"user": list(user), "party": list(party), "state": state, "remark": remark, "style": style,
                    "expires_in": expires_in, "chat_expires_in": chat_expires_in, "unionid": unionid,
                    "conclusions": conclusions}  # fmt: skip
        body.update({name: value for name, value in optional.items() if value not in (None, "", [])})
        if is_temp:
            body["is_temp"] = True
        data = self._call("POST", "externalcontact/add_contact_way", json=body)
        return {"config_id": data["config_id"], "qr_code": data.get("qr_code", "")}

    def send_welcome_msg(self, *, welcome_code: str, text: str = "", attachments: list[dict] = ()) -> None:
        """Greet a new customer through the member they added, with the ``WelcomeCode`` of the
        ``add_external_contact`` event: good once, within 20 seconds (41050 late, 41051 used)."""
        body: dict = {"welcome_code": welcome_code}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = list(attachments)
        self._call("POST", "externalcontact/send_welcome_msg", json=body)

    # --- web OAuth (who opened a page inside the WeCom client) -----------------------------
    def user_from_code(self, code: str) -> dict:
        """``auth/getuserinfo``: who the ``code`` of an OAuth redirect stands for. A member
        gives ``userid``; anyone else ``openid`` (and ``external_userid`` for a customer).
        A code is good once, for 5 minutes (40029 otherwise)."""
        data = self._call("GET", "auth/getuserinfo", params={"code": code})
        return {
            "userid": data.get("userid") or data.get("UserId") or "",  # UserId: the older user/getuserinfo
            "openid": data.get("openid") or data.get("OpenId") or "",
            "external_userid": data.get("external_userid", ""),
        }

    # --- JS-SDK tickets ---------------------------------------------------------------
    def jsapi_ticket(self) -> dict:
        """The enterprise jsapi_ticket (for wx.config)."""
        data = self._call("GET", "get_jsapi_ticket")
        return {"ticket": data["ticket"], "expires_in": data.get("expires_in", 7200)}

    def agent_jsapi_ticket(self) -> dict:
        """The app's ticket (for wx.agentConfig, which shareToExternalMoments needs)."""
        data = self._call("GET", "ticket/get", params={"type": "agent_config"})
        return {"ticket": data["ticket"], "expires_in": data.get("expires_in", 7200)}

    def agent_ticket(self) -> str:
        """The app's ticket from the shared cache: WeCom allows 100 fetches an hour per
        app (wecom-api.md §3.3), so one process fetches it and the others wait for it."""
        key = self._ticket_key
        ticket = self._cache.get(key)
        if ticket:
            return ticket
        lock_key = key + ":lock"
        deadline = time.monotonic() + TOKEN_LOCK_SECONDS
        while not self._cache.add(lock_key, "1", timeout=TOKEN_LOCK_SECONDS):
            if ticket := self._cache.get(key):
                return ticket
            if time.monotonic() > deadline:
                raise TransientError(None, "timed out waiting for another process to fetch the jsapi ticket")
            time.sleep(0.05)
        try:
            if ticket := self._cache.get(key):
                return ticket
            data = self.agent_jsapi_ticket()
            self._cache.set(key, data["ticket"], timeout=max(60, int(data["expires_in"]) - TOKEN_SAFETY_MARGIN))
            return data["ticket"]
        finally:
            self._cache.delete(lock_key)


def _check_userids(userids: list[str]) -> None:
    if not 1 <= len(userids) <= BATCH_USERIDS:
        raise ValueError(f"batch/get_by_user takes 1 to {BATCH_USERIDS} userids, got {len(userids)}")


def limiter_from_settings():
    from django.conf import settings

    if getattr(settings, "REDIS_URL", ""):
        import redis

        from wecom.ratelimit import RedisTokenBucket

        return RedisTokenBucket(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2))
    return _LOCAL_LIMITER


_LOCAL_LIMITER = LocalTokenBucket()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process, shared by every client (an SSLContext is thread-safe): building
    one loads the CA bundle, ~20 ms, and the web builds a client per request (docs/benchmarks.md, load)."""
    return httpx.create_ssl_context()


def client_from_settings(**overrides) -> WeComClient:
    """The client as configured by ``WECOM_*`` settings, with the shared cache and limiter."""
    from django.conf import settings
    from django.core.cache import cache

    options = {
        "base_url": settings.WECOM_BASE_URL,
        "corp_id": settings.WECOM_CORP_ID,
        "secret": settings.WECOM_SECRET,
        "agent_id": settings.WECOM_AGENT_ID,
        "cache": cache,
        "limiter": limiter_from_settings(),
        # App messages, all members together (a burst of one second's worth).
        "budgets": {
            "message/send": Budget.per_minute(
                settings.WECOM_MESSAGE_SEND_PER_MINUTE, burst=max(1, settings.WECOM_MESSAGE_SEND_PER_MINUTE // 60)
            )
        },
    }
    options.update(overrides)
    return WeComClient(**options)


__all__ = ["SendResult", "WeComClient", "WeComError", "client_from_settings"]
