"""The reconciler (DESIGN.md §5.3): stale notify claims back to pending, lost notify jobs queued again, moments
whose tasks are all settled made live, expired ones closed. Safe to run any time."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from campaigns.dispatch.due import notify_enqueue
from campaigns.dispatch.notify import in_quiet_hours
from campaigns.dispatch.tokens import OPEN_TASK_STATES
from campaigns.models import Moment, PublishTask, State
from campaigns.services import WorkflowError, campaign_state_refresh, moment_transition


def reconcile(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Put stale notify claims back, re-queue pending tasks nobody is working on, and
    close moments whose tasks are all settled. Safe to run any time."""
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.MOMENTS_STALE_CLAIM_SECONDS)
    stale = PublishTask.objects.filter(state=PublishTask.State.NOTIFYING, claimed_at__lt=stale_before).update(
        state=PublishTask.State.PENDING, claimed_at=None
    )
    dispatching = list(Moment.objects.filter(state=State.DISPATCHING).values_list("pk", flat=True))
    if in_quiet_hours(now):
        dispatching = []  # pending tasks wait for the morning
    # Pending tasks of moments dispatched a while ago lost their queued job (a restarted broker): queue them again.
    # Younger ones are still on their way through the first enqueue.
    overdue = list(
        Moment.objects.filter(pk__in=dispatching, dispatched_at__lt=stale_before).values_list("pk", flat=True)
    )
    batches = notify_enqueue(moment_ids=overdue) if overdue else 0
    live = 0
    for moment in Moment.objects.filter(pk__in=dispatching).select_related("campaign"):
        open_states = [PublishTask.State.PENDING, PublishTask.State.NOTIFYING]
        if not moment.tasks.filter(state__in=open_states).exists():
            try:
                moment_transition(moment, allowed_from=(State.DISPATCHING,), to=State.LIVE, by=None,
                                  note="all notified")  # fmt: skip
            except WorkflowError:
                continue  # someone else moved it meanwhile
            campaign_state_refresh(moment.campaign)
            live += 1
    return {"stale_claims": stale, "batches": batches, "live": live, "closed": moments_close_expired(now=now)}


def moments_close_expired(*, now: dt.datetime) -> int:
    """Live moments past their expiry close (tasks still open expire with them); results
    sync keeps reading a closed moment for a while after (analytics.sync.sync_span)."""
    closed = 0
    for moment in Moment.objects.filter(state=State.LIVE, expires_at__lte=now).select_related("campaign"):
        try:
            moment_transition(moment, allowed_from=(State.LIVE,), to=State.CLOSED, by=None, note="expired")
        except WorkflowError:
            continue  # someone else moved it meanwhile
        PublishTask.objects.filter(moment=moment, state__in=OPEN_TASK_STATES).update(state=PublishTask.State.EXPIRED)
        campaign_state_refresh(moment.campaign)
        closed += 1
    return closed
