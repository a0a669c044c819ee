"""``GET /healthz``: can we reach the database, the broker and the cache
(Redis when configured: the WeCom token and rate limits live there)? 200 or
503, JSON.

Kept in the project package because it checks the wiring, not a domain.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

logger = logging.getLogger(__name__)


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure is a failed check, reported, not raised
        logger.warning("health: database unreachable: %s", error)
        return "error"
    return "ok"


def _broker_status() -> str:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
            connect_timeout=2,
        ) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        logger.warning("health: broker unreachable: %s", error)
        return "error"
    return "ok"


def _cache_status() -> str:
    probe = secrets.token_hex(8)
    try:
        cache.set("healthz-probe", probe, timeout=10)
        healthy = cache.get("healthz-probe") == probe
    except Exception as error:
        logger.warning("health: cache unreachable: %s", error)
        return "error"
    return "ok" if healthy else "error"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_status(), "broker": _broker_status(), "cache": _cache_status()}
    healthy = all(status == "ok" for status in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
