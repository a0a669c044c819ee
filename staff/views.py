"""The WeCom callback endpoint (wecom-api.md §6): URL verification and event delivery.

Thin: refuse an oversized body first, then check and decrypt (``wecom.crypto``: the envelope
read by a hardened parser, the signature over the raw ``Encrypt``, the timestamp's freshness,
only then decryption), record the event once, answer at once (WeCom waits 5 s at most, 1 s for
verification), apply it in a task. Every refusal is a plain 4xx and records nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from staff.callbacks import callback_event_record
from wecom.crypto import CallbackCrypto, CallbackCryptoError, xml_fields

logger = logging.getLogger(__name__)


def _crypto() -> CallbackCrypto:
    return CallbackCrypto(
        token=settings.WECOM_CALLBACK_TOKEN,
        encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
        receive_id=settings.WECOM_CORP_ID,
        max_age=settings.WECOM_CALLBACK_MAX_AGE_SECONDS,
    )


def _plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _answer(error: CallbackCryptoError) -> str:
    """What the sender reads (the log keeps the detail)."""
    codes = CallbackCryptoError
    if error.code == codes.SIGNATURE:
        return _("The signature does not match.")
    if error.code == codes.TIMESTAMP:
        return _("The timestamp is malformed or too far from the current time.")
    if error.code == codes.XML_PARSE:
        return _("The body is not a WeCom XML message.")
    if error.code == codes.RECEIVE_ID:
        return _("The message is for another corp.")
    return _("The encrypted text cannot be decrypted.")


def _refuse(error: CallbackCryptoError, request: HttpRequest) -> HttpResponse:
    status = 403 if error.code == CallbackCryptoError.SIGNATURE else 400
    logger.warning(
        "wecom callback refused (%s): %s from %s", error.code, error.message, request.META.get("REMOTE_ADDR")
    )
    return _plain(_answer(error), status)


def _too_large(request: HttpRequest) -> bool:
    """Above Django's request-body cap (DATA_UPLOAD_MAX_MEMORY_SIZE), before a byte is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE or length < 0


@csrf_exempt  # WeCom signs its requests; there is no session or form here
@require_http_methods(["GET", "POST"])
def wecom_callback(request: HttpRequest) -> HttpResponse:
    if _too_large(request):
        return _plain(_("The request body is too large."), 413)
    if not settings.WECOM_ENCODING_AES_KEY:
        return _plain(_("WeCom callbacks are not configured."), 503)
    params = {name: request.GET.get(name, "") for name in ("msg_signature", "timestamp", "nonce")}
    if not all(params.values()):
        return _plain(_("msg_signature, timestamp and nonce are required."), 400)
    try:
        if request.method == "GET":
            # The plaintext, exactly: no quotes, no BOM, no newline.
            echo = _crypto().verify_url(**params, echostr=request.GET.get("echostr", ""))
            return HttpResponse(echo, content_type="text/plain")
        fields = xml_fields(_crypto().decrypt_message(**params, body=request.body))
    except CallbackCryptoError as error:
        return _refuse(error, request)
    if fields.get("ToUserName") and fields["ToUserName"] != settings.WECOM_CORP_ID:
        return _refuse(CallbackCryptoError(CallbackCryptoError.RECEIVE_ID, "the event is for another corp"), request)
    event = callback_event_record(fields=fields)
    if event is not None:
        from staff.tasks import callback_event_apply_task

        transaction.on_commit(lambda: callback_event_apply_task.delay(event.pk))
    return HttpResponse("", content_type="text/plain")
