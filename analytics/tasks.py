"""Analytics tasks: thin, a service call each (DESIGN.md §5.5, §7)."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from analytics import rollups, sync
from wecom.client import client_from_settings
from wecom.errors import TransientError

logger = logging.getLogger(__name__)

SYNC_LOCK, ROLLUP_LOCK = "analytics:results-sync", "analytics:rollups"
LOCK_SECONDS = 25 * 60  # longer than either task's hard time limit


@contextlib.contextmanager
def _alone(name: str):
    """One run of ``name`` at a time: two roll-up runs recomputing the same bucket would
    collide on its unique key, two syncs would read everything twice. Yields whether this
    run got the lock (a run that did not just skips; what it would do is done by the other)."""
    got = cache.add(name, "1", LOCK_SECONDS)
    try:
        yield got
    finally:
        if got:
            cache.delete(name)


def _refresh() -> dict:
    with _alone(ROLLUP_LOCK) as got:
        return rollups.rollups_refresh() if got else {"rollups": "already running"}


@shared_task(bind=True, max_retries=3, soft_time_limit=20 * 60, time_limit=21 * 60)
def results_sync_task(self, campaign_id: int | None = None) -> dict:
    """Periodic (while moments are live and for two days after they close) and on demand
    for one campaign: what WeCom says happened, then the roll-ups it changed."""
    from campaigns.models import Moment

    moments = Moment.objects.filter(campaign_id=campaign_id) if campaign_id else None
    span = sync.sync_span(now=timezone.now(), moments=moments)
    if span is None:
        return {"skipped": "nothing published"}
    try:
        with _alone(SYNC_LOCK) as got, client_from_settings() as client:
            if not got:
                return {"skipped": "already running"}
            counts = sync.results_sync(client=client, start=span[0], end=span[1])
    except TransientError as error:  # WeCom busy: the next try resumes (the ingest is idempotent)
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error
    return {**counts, **_refresh()}


@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60)
def rollups_refresh_task() -> dict:
    return _refresh()
