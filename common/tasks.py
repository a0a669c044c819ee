"""Celery plumbing shared by the apps: the transaction-aware task base, the way a domain module names a task, and
the heartbeat task (beat sends one to each queue every minute; a worker that takes it writes the time)."""

from __future__ import annotations

import importlib

from celery import Task, current_app, shared_task
from django.db import transaction
from django.utils import timezone

from common.models import Heartbeat


class TransactionAwareTask(Task):
    """A task whose message leaves after the transaction commits (pretix's ``TransactionAwareTask``).

    ``delay``/``apply_async`` inside an atomic block defer the send to ``transaction.on_commit``: a worker never
    reads rows that are not committed yet, and a rolled-back transaction sends nothing. Outside one (autocommit: a
    worker, beat, a retry) the message is sent at once and its ``AsyncResult`` returned; deferred, the call
    returns None. Celery's own ``retry`` goes through here too. Use as ``@shared_task(base=TransactionAwareTask)``.
    """

    def apply_async(self, args=None, kwargs=None, **options):
        send = super().apply_async
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(lambda: send(args, kwargs, **options))
            return None
        return send(args, kwargs, **options)


def task_named(name: str) -> TransactionAwareTask:
    """The registered task ``name`` (``"campaigns.tasks.notify_batch_task"``), for a domain module that queues work:
    tasks import the domain modules, never the other way, so the domain names the task (the name is the contract
    already: beat's schedule and every queued message carry it). Its module is imported on first use. Only
    transaction-aware tasks: a domain call site never sends from inside an uncommitted transaction."""
    if name not in current_app.tasks:
        importlib.import_module(name.rpartition(".")[0])
    task = current_app.tasks[name]
    if not isinstance(task, TransactionAwareTask):
        raise TypeError(f"{name} is not a TransactionAwareTask")
    return task


@shared_task(soft_time_limit=10, time_limit=20, ignore_result=True)
def heartbeat_task(queue: str) -> None:
    Heartbeat.objects.update_or_create(queue=queue, defaults={"beat_at": timezone.now()})
