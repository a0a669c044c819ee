"""What can go wrong when calling WeCom, as a small hierarchy callers can act on.

- ``TransientError``: try again later (network, timeouts, HTTP 5xx, -1 busy, 45009
  frequency, 45033 concurrency, 41079 moment still dispatching). Tasks own the retry.
- ``TokenError``: the access token was refused (40001/40014/42001); the client
  refreshes once, then gives up with this.
- ``PermanentError``: retrying will not help (invalid user, no permission, bad
  attachments …); show ``errcode`` and ``errmsg`` to a person.

Codes and meanings: wecom-api.md §1.6, §3.1, §3.4, §7; contact ways and welcome
messages: docs/wecom-contact-way.md.
"""

from __future__ import annotations

TRANSIENT_ERRCODES = frozenset({-1, 45009, 45033, 41079})
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})

# Human reasons for the errcodes an admin is likely to see.
REASONS = {
    -1: "WeCom is busy",
    40003: "invalid userid",
    40007: "invalid media_id (moment media must come from upload_attachment and expire after 3 days)",
    40029: "invalid OAuth code (a code is good once, for 5 minutes)",
    40058: "invalid parameter",
    40066: "invalid department list",
    40096: "invalid external userid",
    41001: "missing access_token",
    41037: "contact way: type missing",
    41038: "contact way: scene missing",
    41039: "contact way: invalid type",
    41040: "contact way: invalid scene",
    41041: "contact way: more than 100 members",
    41042: "contact way: invalid style",
    41044: "contact way: invalid config_id",
    41045: "the enterprise's contact ways created through the API are used up",
    41049: "welcome_code missing",
    41050: "invalid welcome code (it is good for 20 seconds after the customer added the member)",
    41051: "the welcome message was already sent (or the member has started chatting with the customer)",
    41054: "the member has not activated their WeCom account",
    41060: "invalid moment_id",
    41061: "this member did not post the moment",
    41062: "the member has not published this enterprise moment yet",
    41064: "too many attachments",
    41065: "invalid attachment type",
    41067: "wrong moment type for this call",
    41078: "too many moment-creation tasks in progress",
    41079: "the moment is still being dispatched",
    41088: "attachment list empty",
    41089: "text and attachments are both empty",
    41096: "a welcome message is already being sent",
    45009: "API frequency limit reached",
    45033: "API concurrency limit reached",
    48002: "the app has no permission for this API",
    60011: "no permission on this member, department or tag",
    60020: "this server's IP is not trusted by the app",
    81013: "no valid recipient",
    84061: "no such customer relationship",
}


class WeComError(Exception):
    def __init__(self, errcode: int | None, errmsg: str, *, endpoint: str = "", data: dict | None = None):
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint
        self.data = data or {}  # the whole answer, e.g. message/send's invaliduser/unlicenseduser with 81013
        super().__init__(f"{endpoint}: {errcode} {errmsg}" if errcode is not None else f"{endpoint}: {errmsg}")

    @property
    def reason(self) -> str:
        """A sentence for a person: the known meaning of the code, or WeCom's own message."""
        return REASONS.get(self.errcode, self.errmsg) if self.errcode is not None else self.errmsg


class TransientError(WeComError):
    pass


class RateLimited(TransientError):
    """Our own limiter refused to wait that long; nothing was sent."""


class TokenError(WeComError):
    pass


class PermanentError(WeComError):
    pass


def error_for(errcode: int, errmsg: str, *, endpoint: str, data: dict | None = None) -> WeComError:
    if errcode in TRANSIENT_ERRCODES:
        return TransientError(errcode, errmsg, endpoint=endpoint, data=data)
    if errcode in TOKEN_ERRCODES:
        return TokenError(errcode, errmsg, endpoint=endpoint, data=data)
    return PermanentError(errcode, errmsg, endpoint=endpoint, data=data)
