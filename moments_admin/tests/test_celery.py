"""The Celery app's wiring: queues, routes and the beat entries."""

from __future__ import annotations

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from moments_admin.celery import app, beat_entries_retire


def test_each_task_goes_to_its_queue():
    route = app.amqp.router.route
    assert route({}, "staff.tasks.callback_event_apply_task")["queue"].name == "realtime"
    assert route({}, "campaigns.tasks.notify_batch_task")["queue"].name == "celery"
    assert route({}, "analytics.tasks.results_sync_task")["queue"].name == "bulk"
    assert route({}, "staff.tasks.directory_sync_task")["queue"].name == "bulk"
    # A worker started without -Q consumes every queue.
    assert set(app.amqp.queues.consume_from) == {"realtime", "celery", "bulk"}


def test_every_beat_entry_names_a_task_that_exists_and_a_queue_has_its_heartbeat():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert all(entry["task"] in app.tasks for entry in schedule.values())
    assert {entry["options"]["queue"] for name, entry in schedule.items() if name.startswith("heartbeat-")} == {
        "realtime", "celery", "bulk"}  # fmt: skip


@pytest.mark.django_db
def test_beat_disables_entries_whose_task_is_gone_and_keeps_the_rest():
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="renamed-long-ago", task="campaigns.tasks.no_such_task", interval=every)
    PeriodicTask.objects.create(name="dispatch-due", task="campaigns.tasks.dispatch_due_task", interval=every)
    PeriodicTask.objects.create(name="already-off", task="gone.task", interval=every, enabled=False)
    assert beat_entries_retire() == ["renamed-long-ago"]
    assert dict(PeriodicTask.objects.values_list("name", "enabled")) == {
        "renamed-long-ago": False, "dispatch-due": True, "already-off": False}  # fmt: skip
    assert beat_entries_retire() == []
