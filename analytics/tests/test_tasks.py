"""The forecast snapshots task: a campaign being planned gets a snapshot, kept until its
moments change; one run at a time."""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from analytics.models import ForecastSnapshot
from analytics.tasks import FORECAST_LOCK, forecast_snapshots_task
from campaigns.models import Moment, State


def test_a_planned_campaign_is_forecast_again_only_when_its_moments_change(world):
    Moment.objects.filter(campaign=world["campaign"]).update(state=State.SCHEDULED)
    assert forecast_snapshots_task() == {"forecast snapshots": [world["campaign"].pk]}
    first = ForecastSnapshot.objects.get(campaign=world["campaign"])
    assert forecast_snapshots_task() == {"forecast snapshots": []}  # fresh: nothing to do
    # a change to the plan (updated_at moves)
    Moment.objects.filter(pk=world["moments"][0].pk).update(title="改了标题", updated_at=timezone.now())
    assert forecast_snapshots_task() == {"forecast snapshots": [world["campaign"].pk]}
    assert ForecastSnapshot.objects.get(campaign=world["campaign"]).pk != first.pk


def test_a_second_run_waits_for_the_first(world):
    Moment.objects.filter(campaign=world["campaign"]).update(state=State.SCHEDULED)
    cache.add(FORECAST_LOCK, "1", 60)
    try:
        assert forecast_snapshots_task() == {"skipped": "already running"}
    finally:
        cache.delete(FORECAST_LOCK)
    assert not ForecastSnapshot.objects.exists()
