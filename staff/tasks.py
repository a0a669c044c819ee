"""Celery tasks of the directory: thin, ids in, a service call."""

from __future__ import annotations

import logging

from celery import shared_task

from staff.sync import SyncAlreadyRunning, directory_sync
from wecom.client import client_from_settings
from wecom.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    # A full sync of 5M follows takes minutes; a run that fails resumes from its checkpoint.
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 300,
    max_retries=5,
)
def directory_sync_task(self) -> dict:
    try:
        with client_from_settings() as client:
            run = directory_sync(client=client)
    except SyncAlreadyRunning:
        logger.info("directory sync already running; skipping")
        return {"skipped": "already running"}
    except TransientError as error:
        # WeCom busy or unreachable (or the sandbox not up yet): try again, resuming.
        raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 300)) from error
    return {"run": run.pk, **run.counts}


@shared_task(bind=True, acks_late=True, soft_time_limit=60, time_limit=90, max_retries=8)
def callback_event_apply_task(self, event_id: int) -> str:
    """Apply one recorded callback event. Idempotent (acks_late is safe): an
    applied event is skipped, and applying reconciles with WeCom's current state.
    Keep it short and never delay its first run: a new contact's welcome message goes
    from here, and its WelcomeCode is good for 20 s (docs/wecom-contact-way.md)."""
    from staff.callbacks import callback_event_apply, callback_event_failed

    try:
        with client_from_settings() as client:
            return callback_event_apply(event_id=event_id, client=client).outcome
    except TransientError as error:
        # Past its retries the event stays unapplied: callback_events_reconcile_task queues it again later.
        raise self.retry(exc=error, countdown=min(15 * 2**self.request.retries, 300)) from error
    except PermanentError as error:
        # WeCom refused for good (no permission, …): recorded on the event, not tried again; the
        # nightly directory sync repairs the contact.
        return callback_event_failed(event_id=event_id, error=error).outcome


@shared_task(soft_time_limit=60, time_limit=90)
def callback_events_reconcile_task() -> int:
    """Queue again the recorded callback events whose job was lost (a broker restart, a worker
    killed past its retries): beat runs it every few minutes."""
    from staff.callbacks import callback_events_stale

    ids = callback_events_stale()
    for event_id in ids:
        callback_event_apply_task.delay(event_id)
    if ids:
        logger.warning("callback events queued again (their job was lost): %d", len(ids))
    return len(ids)
