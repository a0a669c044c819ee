"""``GET /healthz``: can we reach the database, the broker and the cache
(Redis when configured: the WeCom token and rate limits live there)? 200 or
503, JSON. ``GET /healthz/queues``: are beat and a worker of every queue alive
and keeping up? 200 or 503, JSON.

Kept in the project package because it checks the wiring, not a domain.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
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


def queue_ages(now=None) -> dict[str, float | None]:
    """Seconds since each queue's last heartbeat (None: never)."""
    from common.models import Heartbeat

    now = now or timezone.now()
    beats = dict(Heartbeat.objects.values_list("queue", "beat_at"))
    return {
        queue: (now - beats[queue]).total_seconds() if queue in beats else None for queue in settings.CELERY_TASK_QUEUES
    }


def late_after() -> float:
    """A heartbeat older than this is late: three of beat's intervals (scaled as beat scales them),
    plus a minute for a busy queue."""
    from moments_admin.celery import HEARTBEAT_SECONDS

    return 3 * max(1.0, HEARTBEAT_SECONDS * settings.MOMENTS_BEAT_PERCENT / 100) + 60


@never_cache
@require_GET
def healthz_queues(request):
    """``GET /healthz/queues``: beat sends a heartbeat task to each queue every minute and a worker
    of that queue records it; 200 when every queue's is recent, 503 naming the late ones. A late
    queue means beat is down, no worker consumes it, or its workers are behind."""
    try:
        ages = queue_ages()
    except Exception as error:
        logger.warning("health: database unreachable: %s", error)
        return JsonResponse({"status": "error", "database": "error"}, status=503)
    limit = late_after()
    queues = {
        queue: {"status": "unknown" if age is None else "ok" if age <= limit else "late",
                "seconds_since_heartbeat": None if age is None else round(age)}
        for queue, age in ages.items()
    }  # fmt: skip
    healthy = all(queue["status"] == "ok" for queue in queues.values())
    return JsonResponse({"status": "ok" if healthy else "error", "late_after_seconds": round(limit),
                         "queues": queues}, status=200 if healthy else 503)  # fmt: skip
