"""Events the sandbox pushes to the app, as WeCom does (wecom-api.md §6.3, §6.7):
plaintext XML, encrypted and signed with the callback token and EncodingAESKey,
POSTed to ``WECOM_SANDBOX_CALLBACK_URL``. Each event is recorded first
(CallbackDelivery) and pushed by a task after commit, so a slow or absent app
never blocks the control plane.
"""

from __future__ import annotations

import secrets
import time

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wecom.crypto import CallbackCrypto
from wecom.sandbox.models import CallbackDelivery, WelcomeCode

PUSH_TIMEOUT = httpx.Timeout(5.0, connect=2.0)  # WeCom waits 5 s for an answer


def _xml(fields: dict[str, object]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")  # the one sequence CDATA cannot hold
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def event_record(*, event: str, change_type: str = "", **fields) -> CallbackDelivery:
    """Record an event and push it after commit (when a callback URL is configured)."""
    payload = _xml(
        {
            "ToUserName": settings.WECOM_CORP_ID,
            "FromUserName": "sys",
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": event,
            **({"ChangeType": change_type} if change_type else {}),
            **fields,
        }
    )
    delivery = CallbackDelivery.objects.create(event=event, change_type=change_type, payload=payload)
    if settings.WECOM_SANDBOX_CALLBACK_URL:
        from wecom.sandbox.tasks import callback_push_task

        transaction.on_commit(lambda: callback_push_task.delay(delivery.pk))
    return delivery


def contact_added(*, userid: str, external_userid: str, state: str = "") -> CallbackDelivery:
    """``add_external_contact`` with a fresh ``WelcomeCode``, which ``send_welcome_msg``
    accepts once within 20 s of now (docs/wecom-contact-way.md)."""
    code = secrets.token_urlsafe(16)
    WelcomeCode.objects.create(code=code, userid=userid, external_userid=external_userid, issued_at=timezone.now())
    extra = {"State": state} if state else {}
    return event_record(
        event="change_external_contact", change_type="add_external_contact",
        UserID=userid, ExternalUserID=external_userid, WelcomeCode=code, **extra,
    )  # fmt: skip


def contact_removed(*, userid: str, external_userid: str, by_customer: bool) -> CallbackDelivery:
    """``del_follow_user`` when the customer removed the member, ``del_external_contact`` the other way."""
    change_type = "del_follow_user" if by_customer else "del_external_contact"
    return event_record(
        event="change_external_contact", change_type=change_type, UserID=userid, ExternalUserID=external_userid
    )


def callback_push(delivery: CallbackDelivery, *, url: str | None = None) -> bool:
    """POST the event to the app, signed and encrypted. True when the app said 200."""
    url = url or settings.WECOM_SANDBOX_CALLBACK_URL
    crypto = CallbackCrypto(
        token=settings.WECOM_CALLBACK_TOKEN,
        encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
        receive_id=settings.WECOM_CORP_ID,
    )
    signed = crypto.encrypt_message(delivery.payload, timestamp=str(int(time.time())), nonce=secrets.token_hex(8))
    params = {name: signed[name] for name in ("msg_signature", "timestamp", "nonce")}
    delivery.attempts += 1
    try:
        response = httpx.post(
            url, params=params, content=signed["body"].encode(), headers={"Content-Type": "text/xml"},
            timeout=PUSH_TIMEOUT,
        )  # fmt: skip
        delivery.status_code, delivery.error = response.status_code, ""
        if response.status_code == 200:
            delivery.delivered_at = timezone.now()
    except httpx.HTTPError as error:
        delivery.status_code, delivery.error = None, f"{type(error).__name__}: {error}"[:255]
    delivery.save(update_fields=["attempts", "status_code", "error", "delivered_at"])
    return delivery.delivered_at is not None
