"""The dispatcher (DESIGN.md §5.3): due moments are claimed, their PublishTasks created once, and the
notifications (and enterprise mode's WeCom tasks) queued after commit."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from campaigns.dispatch.targets import targeted_associate_ids
from campaigns.enterprise import enterprise_tasks_plan
from campaigns.models import Moment, PublishTask, State
from campaigns.services import WorkflowError, campaign_state_refresh, moment_transition
from common.tasks import task_named

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 20  # moments claimed per dispatcher run; the next run takes the rest
NOTIFY_BATCH = 200  # tasks per notify job: short jobs, spread over the workers


def moment_tasks_create(moment: Moment) -> int:
    """Every PublishTask of the moment (idempotent: existing ones are kept), from each variant's approved
    version alone: its senders, and the version each task will post. A variant without an approved version
    (which scheduling refuses) gets no task."""
    before = PublishTask.objects.filter(moment=moment).count()
    for variant in moment.variants.select_related("approved_version"):
        version = variant.approved_version
        if version is None:
            logger.error("moment %s: variant %s has no approved version; no task created", moment.pk, variant.pk)
            continue
        senders = version.content["senders"]
        ids = targeted_associate_ids(department_ids=[d["id"] for d in senders["departments"]],
                                     associate_ids=[a["id"] for a in senders["associates"]])  # fmt: skip
        for start in range(0, len(ids), 5000):
            rows = [PublishTask(moment=moment, variant=variant, version=version, associate_id=pk)
                    for pk in ids[start : start + 5000]]  # fmt: skip
            PublishTask.objects.bulk_create(rows, ignore_conflicts=True)  # unique (variant, associate)
    return PublishTask.objects.filter(moment=moment).count() - before


def dispatch_due(*, now: dt.datetime | None = None, enqueue: bool = True) -> list[int]:
    """Claim due moments, create their tasks, enqueue the notifications after commit
    (``enqueue=False``: leave them pending, for the caller or the reconciler)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Moment.objects.select_for_update(skip_locked=True, of=("self",))  # lock the moments, not their campaigns
            .select_related("campaign")
            .filter(state=State.SCHEDULED, publish_at__lte=now)
            .order_by("publish_at", "id")[:DISPATCH_BATCH]
        )
        claimed, enterprise = [], []
        for moment in due:
            # The conditional state change is the claim: a second dispatcher (or SQLite, which has no
            # row locks to skip) finds the moment already dispatching and leaves it.
            try:
                moment_transition(moment, allowed_from=(State.SCHEDULED,), to=State.DISPATCHING, by=None,
                                  note="dispatch")  # fmt: skip
            except WorkflowError:
                continue
            Moment.objects.filter(pk=moment.pk).update(dispatched_at=now)
            moment_tasks_create(moment)
            if moment.mode == Moment.Mode.ENTERPRISE:
                enterprise_tasks_plan(moment)
                enterprise.append(moment.pk)
            campaign_state_refresh(moment.campaign)
            claimed.append(moment.pk)
        if claimed and enqueue:
            # One callback that reads the committed tasks and queues their batches.
            transaction.on_commit(lambda: notify_enqueue(moment_ids=claimed, enterprise_ids=enterprise))
    return claimed


def notify_enqueue(*, moment_ids: list[int], enterprise_ids: list[int] = ()) -> int:
    """Queue the pending tasks of these moments in batches (and the creation of the
    WeCom tasks of enterprise moments); returns how many notify batches. Inside a transaction the
    messages leave when it commits (TransactionAwareTask)."""
    enterprise_create_task = task_named("campaigns.tasks.enterprise_create_task")
    for moment_id in enterprise_ids:
        enterprise_create_task.delay(moment_id)

    ids = list(
        PublishTask.objects.filter(moment_id__in=moment_ids, state=PublishTask.State.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    batches = [ids[i : i + NOTIFY_BATCH] for i in range(0, len(ids), NOTIFY_BATCH)]
    notify_batch_task = task_named("campaigns.tasks.notify_batch_task")
    for batch in batches:
        notify_batch_task.delay(batch)
    return len(batches)
