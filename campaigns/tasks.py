"""Campaign tasks: thin (ids in, a service call), safe to run twice (DESIGN.md §5.3). Each is a
TransactionAwareTask: queued inside a transaction, its message leaves when the transaction commits. The domain
modules queue them by name (``common.tasks.task_named``): this module imports them, never the other way."""

from __future__ import annotations

import logging

from celery import shared_task

from campaigns import dispatch, enterprise
from common.tasks import TransactionAwareTask
from wecom.client import client_from_settings, limiter_from_settings
from wecom.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)


@shared_task(base=TransactionAwareTask, soft_time_limit=55, time_limit=60)
def dispatch_due_task() -> list[int]:
    return dispatch.dispatch_due()


@shared_task(base=TransactionAwareTask, acks_late=True, soft_time_limit=240, time_limit=270)
def notify_batch_task(task_ids: list[int]) -> dict:
    """Notify a batch; a task hit by a transient error is retried alone, later."""
    states: dict[str, int] = {}
    with client_from_settings() as client:
        limiter = limiter_from_settings()
        for task_id in task_ids:
            try:
                state = dispatch.publish_task_notify(task_id=task_id, client=client, limiter=limiter)
            except dispatch.NotifyRetry as retry:
                logger.info("%s", retry)
                notify_batch_task.apply_async(args=[[retry.task_id]], countdown=retry.countdown)
                state = "retrying"
            states[state] = states.get(state, 0) + 1
    return states


@shared_task(base=TransactionAwareTask, soft_time_limit=110, time_limit=120)
def reconcile_task() -> dict:
    return dispatch.reconcile()


@shared_task(base=TransactionAwareTask, bind=True, max_retries=None, soft_time_limit=110, time_limit=120)
def enterprise_create_task(self, moment_id: int) -> int:
    """Create the WeCom tasks of an enterprise moment; transient errors retry with backoff
    (the 10-a-minute limit included). Safe to run twice: each task is claimed first."""
    with client_from_settings() as client:
        try:
            return enterprise.enterprise_tasks_create(moment_id=moment_id, client=client)
        except enterprise.EnterpriseRetry as retry:
            logger.info("%s", retry)
            raise self.retry(countdown=retry.countdown) from retry


@shared_task(base=TransactionAwareTask, soft_time_limit=110, time_limit=120)
def publish_confirm_task() -> dict:
    """Enterprise tasks' moment ids (and stale creations recovered), then who published."""
    with client_from_settings() as client:
        return {**enterprise.enterprise_tasks_poll(client=client), **dispatch.publish_confirm(client=client)}


@shared_task(base=TransactionAwareTask, bind=True, max_retries=5, soft_time_limit=110, time_limit=120)
def wecom_cancel_task(self, wecom_moment_ids: list[str]) -> int:
    """Cancel WeCom moment tasks (cancelling twice is harmless); transient errors retry."""
    cancelled = 0
    with client_from_settings() as client:
        for moment_id in wecom_moment_ids:
            try:
                client.cancel_moment_task(moment_id)
                cancelled += 1
            except PermanentError as error:
                logger.warning("WeCom refused to cancel %s: %s", moment_id, error)
            except TransientError as error:
                raise self.retry(countdown=30, exc=error) from error
    return cancelled


@shared_task(base=TransactionAwareTask, soft_time_limit=240, time_limit=270)
def reminders_task() -> int:
    with client_from_settings() as client:
        return dispatch.reminders_send(client=client, limiter=limiter_from_settings())
