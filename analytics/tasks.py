"""Analytics tasks: thin, a service call each (DESIGN.md §5.5, §7)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from celery import shared_task
from django.core.cache import cache
from django.db.models import Max
from django.utils import timezone

from analytics import rollups, snapshots, sync
from analytics.models import ForecastSnapshot
from wecom.client import client_from_settings
from wecom.errors import TransientError

logger = logging.getLogger(__name__)

SYNC_LOCK, ROLLUP_LOCK, FORECAST_LOCK = "analytics:results-sync", "analytics:rollups", "analytics:forecasts"
LOCK_SECONDS = 35 * 60  # longer than any of these tasks' hard time limit


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


# Campaigns forecast per run: each takes seconds to minutes for a large brand; the next run takes the rest.
FORECAST_BATCH = 5
FORECAST_FRESH = dt.timedelta(hours=6)


@shared_task(soft_time_limit=30 * 60, time_limit=31 * 60)
def forecast_snapshots_task(campaign_id: int | None = None) -> dict:
    """Keep the forecast of every campaign still being planned (a moment approved or
    scheduled, none dispatched yet for it) fresh for the dashboards' forecast vs actual;
    once its moments go out, the last snapshot is what the results are compared with.
    With ``campaign_id``: that campaign now."""
    from campaigns.models import Campaign, State

    if campaign_id is not None:
        campaigns = list(Campaign.objects.filter(pk=campaign_id))
    else:
        # Fresh: newer than the last change to the campaign's moments, and than FORECAST_FRESH
        # (the directory and the other campaigns' plans change too). Campaigns being planned
        # are few: this is decided in Python over one row each.
        planned = dict(
            Campaign.objects.filter(moments__state__in=[State.APPROVED, State.SCHEDULED])
            .annotate(changed_at=Max("moments__updated_at"))
            .values_list("pk", "changed_at")
        )
        computed = dict(
            ForecastSnapshot.objects.filter(campaign_id__in=planned)
            .values("campaign_id")
            .annotate(at=Max("computed_at"))
            .values_list("campaign_id", "at")
        )
        too_old = timezone.now() - FORECAST_FRESH
        stale = [pk for pk, changed in sorted(planned.items())
                 if pk not in computed or computed[pk] < max(changed, too_old)]  # fmt: skip
        campaigns = list(Campaign.objects.filter(pk__in=stale[:FORECAST_BATCH]).order_by("pk"))
    done = []
    # One sweep at a time: a large brand's forecast takes seconds to minutes, longer than beat's interval.
    # Each campaign's run claims its job (analytics.snapshots): one at a time per campaign, a run already
    # under way for a plan change is not doubled.
    with _alone(FORECAST_LOCK) as got:
        if not got:
            return {"skipped": "already running"}
        lost = snapshots.sweep() if campaign_id is None else {}
        for campaign in campaigns:
            if "forecast" in snapshots.recompute(campaign.pk):
                done.append(campaign.pk)
    return {"forecast snapshots": done, **lost}


@shared_task(soft_time_limit=30 * 60, time_limit=31 * 60)
def forecast_job_task(job_id: int) -> dict:
    """A forecast asked for (a plan change, a button, the API): ``analytics.snapshots.job_run``."""
    return snapshots.job_run(job_id)
