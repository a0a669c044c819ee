"""The Celery app. Configuration comes from Django settings (``CELERY_*``).

Periodic work is declared once, in ``BEAT_SCHEDULE`` below, and run by beat
with django-celery-beat's database scheduler: a few static entries only, never
one entry per message (DESIGN.md §5.3).
"""

import logging
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moments_admin.settings.base")

HEARTBEAT_SECONDS = 60.0
logger = logging.getLogger(__name__)

app = Celery("moments")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The static beat entries, all of them. (Dispatch, results sync and roll-ups join later.)
app.conf.beat_schedule = {
    # The directory changes slowly and callbacks apply changes as they happen;
    # a nightly full sync catches what callbacks missed.
    "directory-sync-nightly": {"task": "staff.tasks.directory_sync_task", "schedule": crontab(hour=3, minute=17)},
    # The schedule lives in the database: one static entry claims whatever is due (DESIGN.md §5.3).
    "dispatch-due": {"task": "campaigns.tasks.dispatch_due_task", "schedule": 30.0},
    "dispatch-reconcile": {"task": "campaigns.tasks.reconcile_task", "schedule": 120.0},
    # Callback events whose job was lost (a broker restart) are queued again.
    "callback-reconcile": {"task": "staff.tasks.callback_events_reconcile_task", "schedule": 300.0},
    # Until the results sync (analytics) takes over: who of those who clicked has published in WeCom.
    "publish-confirm": {"task": "campaigns.tasks.publish_confirm_task", "schedule": 60.0},
    "publish-reminders": {"task": "campaigns.tasks.reminders_task", "schedule": 300.0},
    # Results (DESIGN.md §5.5): what WeCom says happened while moments are live and for two days after.
    "results-sync": {"task": "analytics.tasks.results_sync_task", "schedule": 600.0},
    "rollups-refresh": {"task": "analytics.tasks.rollups_refresh_task", "schedule": 120.0},
    # The forecast the dashboards compare the results with, while a campaign is being planned.
    "forecast-snapshots": {"task": "analytics.tasks.forecast_snapshots_task", "schedule": 300.0},
}


@app.on_after_configure.connect
def _sandbox_entries(sender, **kwargs):
    """The entries that depend on settings: the demo's behaviour model each minute, only where the
    sandbox runs; a heartbeat per queue. Every interval is scaled by ``MOMENTS_BEAT_PERCENT`` (whole
    seconds, at least one)."""
    from django.conf import settings

    if getattr(settings, "WECOM_SANDBOX", False) and getattr(settings, "WECOM_SANDBOX_BEHAVIOUR", False):
        sender.conf.beat_schedule["wecom-sandbox-behaviour"] = {
            "task": "wecom.sandbox.tasks.behaviour_tick_task",
            "schedule": 60.0,
        }
    # One heartbeat a minute on each queue: /healthz/queues tells whether beat and every queue's workers keep up.
    for queue in getattr(settings, "CELERY_TASK_QUEUES", {}):
        sender.conf.beat_schedule[f"heartbeat-{queue}"] = {
            "task": "common.tasks.heartbeat_task", "schedule": HEARTBEAT_SECONDS, "args": [queue],
            "options": {"queue": queue},
        }  # fmt: skip
    percent = getattr(settings, "MOMENTS_BEAT_PERCENT", 100)
    if percent != 100:
        for entry in sender.conf.beat_schedule.values():
            if isinstance(entry["schedule"], float):
                entry["schedule"] = float(max(1, round(entry["schedule"] * percent / 100)))


@beat_init.connect
def _beat_started(sender, **kwargs):
    beat_entries_retire()


def beat_entries_retire() -> list[str]:
    """Disable the periodic tasks in the database (django-celery-beat) that name a task this code no
    longer has: an entry removed or renamed above stays in that table, and would keep sending a task
    no worker knows ("Received unregistered task"). Runs when beat starts; returns their names."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    app.loader.import_default_modules()
    stale = list(PeriodicTask.objects.filter(enabled=True).exclude(task__in=list(app.tasks))
                 .values_list("name", flat=True))  # fmt: skip
    if stale:
        PeriodicTask.objects.filter(name__in=stale).update(enabled=False)
        PeriodicTasks.update_changed()
        logger.warning("beat: disabled periodic tasks whose task no longer exists: %s", ", ".join(sorted(stale)))
    return stale
