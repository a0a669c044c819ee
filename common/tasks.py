"""The heartbeat task: beat sends one to each queue every minute; a worker that takes it writes the time."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from common.models import Heartbeat


@shared_task(soft_time_limit=10, time_limit=20, ignore_result=True)
def heartbeat_task(queue: str) -> None:
    Heartbeat.objects.update_or_create(queue=queue, defaults={"beat_at": timezone.now()})
