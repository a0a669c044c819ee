"""The WeCom callback endpoint (wecom-api.md §6): URL verification and event delivery.

Thin: check and decrypt (``wecom.crypto``), record the event once, answer at
once (WeCom waits 5 s at most, 1 s for verification), apply it in a task.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
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
    )


def _refuse(error: CallbackCryptoError, request: HttpRequest) -> HttpResponse:
    status = 403 if error.code == CallbackCryptoError.SIGNATURE else 400
    logger.warning(
        "wecom callback refused (%s): %s from %s", error.code, error.message, request.META.get("REMOTE_ADDR")
    )
    return HttpResponse(error.message, status=status, content_type="text/plain")


@csrf_exempt  # WeCom signs its requests; there is no session or form here
@require_http_methods(["GET", "POST"])
def wecom_callback(request: HttpRequest) -> HttpResponse:
    if not settings.WECOM_ENCODING_AES_KEY:
        return HttpResponse("WeCom callbacks are not configured", status=503, content_type="text/plain")
    params = {name: request.GET.get(name, "") for name in ("msg_signature", "timestamp", "nonce")}
    if not all(params.values()):
        return HttpResponse("msg_signature, timestamp and nonce are required", status=400, content_type="text/plain")
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
