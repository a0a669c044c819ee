"""Enterprise mode (DESIGN.md §5.3): at dispatch, one WeCom moment task per variant
for all its associates (``add_moment_task``, 10 a minute per enterprise), then
``get_moment_task_result`` is polled for the moment_id. WeCom pushes the task to
each associate; our notification links to the page that shows it and explains
where to publish it. Confirmation is the same as for associate-shared moments:
``get_moment_task`` says who published.

Exactly once: a task is claimed (pending → creating, with the text it will post)
before ``add_moment_task``. A crash after WeCom took it but before we stored the
jobid leaves it "creating"; after the stale-claim age it is recovered from
``get_moment_list`` (an enterprise moment with the same text created since the
claim) rather than created a second time.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from campaigns import links, rules
from campaigns.models import EnterpriseTask, Moment, PublishTask, State
from campaigns.posting import backoff, task_content, visible_range, wecom_attachments
from common.tasks import task_named
from wecom.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

OPEN_TASK_STATES = [PublishTask.State.PENDING, PublishTask.State.NOTIFYING, PublishTask.State.NOTIFIED,
                    PublishTask.State.OPENED, PublishTask.State.PUBLISH_REQUESTED]  # fmt: skip
POLL_BATCH = 100


class EnterpriseRetry(Exception):
    def __init__(self, countdown: float, cause: Exception):
        super().__init__(f"add_moment_task: retry in {countdown:.0f}s ({cause})")
        self.countdown = countdown


def enterprise_tasks_plan(moment: Moment) -> int:
    """The EnterpriseTasks of a dispatched moment: one per variant and chunk of senders
    (idempotent). Call after its PublishTasks exist."""
    rows = []
    for variant in moment.variants.all():
        senders = PublishTask.objects.filter(variant=variant).count()
        chunks = -(-senders // EnterpriseTask.SENDERS_MAX)
        rows += [EnterpriseTask(variant=variant, chunk=k) for k in range(chunks)]
    return len(EnterpriseTask.objects.bulk_create(rows, ignore_conflicts=True))


def _chunk_tasks(task: EnterpriseTask):
    """The PublishTasks of one chunk: by associate id, so the chunks never change."""
    size = EnterpriseTask.SENDERS_MAX
    ids = list(
        PublishTask.objects.filter(variant_id=task.variant_id)
        .order_by("associate_id")
        .values_list("associate_id", flat=True)[task.chunk * size : (task.chunk + 1) * size]
    )
    if not ids:
        return PublishTask.objects.none()
    return PublishTask.objects.filter(variant_id=task.variant_id, associate_id__gte=ids[0], associate_id__lte=ids[-1])


def _posted(content) -> tuple[str, links.PostedLinks]:
    """The text of the variant's WeCom task (its approved version) and its short links. WeCom posts the same
    content for every sender, so the links are the moment's own (no associate): their clicks count for the
    moment only."""
    tracked = links.posted_links(content, associate=None)
    return rules.posted_text(content.copy, content.hashtags, tracked.cta_line), tracked


def _fail(task: EnterpriseTask, *, errcode: int | None, reason: str) -> None:
    EnterpriseTask.objects.filter(pk=task.pk).update(state=EnterpriseTask.State.FAILED, errcode=errcode,
                                                    error=reason[:255], claimed_at=None)  # fmt: skip
    _chunk_tasks(task).filter(state__in=OPEN_TASK_STATES).update(
        state=PublishTask.State.FAILED, errcode=errcode, error=f"WeCom refused the enterprise task: {reason}"[:255]
    )


def enterprise_tasks_create(*, moment_id: int, client, now: dt.datetime | None = None) -> int:
    """Create the WeCom tasks of the moment's pending EnterpriseTasks; returns how many.
    Raises EnterpriseRetry after a transient error (the task is pending again)."""
    now = now or timezone.now()
    moment = Moment.objects.get(pk=moment_id)
    pending = EnterpriseTask.objects.filter(variant__moment=moment, state=EnterpriseTask.State.PENDING)
    if moment.state == State.CANCELLED or moment.expires_at <= now:
        pending.update(state=EnterpriseTask.State.CANCELLED)
        return 0
    created = 0
    for task in pending.select_related("variant").order_by("id"):
        first = _chunk_tasks(task).select_related("version").first()
        if first is None:
            continue
        content = task_content(first)  # every task of the chunk posts the variant's approved version
        text, tracked = _posted(content)
        if not EnterpriseTask.objects.filter(pk=task.pk, state=EnterpriseTask.State.PENDING).update(
            state=EnterpriseTask.State.CREATING, claimed_at=now, attempts=F("attempts") + 1, text=text
        ):
            continue  # another worker has it
        chunk = _chunk_tasks(task)
        senders = list(chunk.order_by("associate_id").values_list("associate__userid", flat=True))
        try:
            jobid = client.add_moment_task(text=text,
                                           attachments=wecom_attachments(content, client,
                                                                         link_url=tracked.attachment_url),
                                           visible_range=visible_range(content, senders))  # fmt: skip
        except TransientError as error:
            EnterpriseTask.objects.filter(pk=task.pk, state=EnterpriseTask.State.CREATING).update(
                state=EnterpriseTask.State.PENDING, claimed_at=None, errcode=error.errcode, error=error.reason[:255]
            )
            raise EnterpriseRetry(backoff(task.attempts + 1), error) from error
        except PermanentError as error:
            _fail(task, errcode=error.errcode, reason=error.reason)
            continue
        EnterpriseTask.objects.filter(pk=task.pk, state=EnterpriseTask.State.CREATING).update(
            state=EnterpriseTask.State.CREATED, wecom_jobid=jobid, claimed_at=None, errcode=None, error=""
        )
        chunk.update(wecom_jobid=jobid)
        created += 1
    return created


def _done(task: EnterpriseTask, moment_id: str, *, invalid: set[str] = frozenset()) -> None:
    EnterpriseTask.objects.filter(pk=task.pk).update(state=EnterpriseTask.State.DONE, wecom_moment_id=moment_id,
                                                    claimed_at=None)  # fmt: skip
    chunk = _chunk_tasks(task)
    chunk.update(wecom_moment_id=moment_id)
    if invalid:
        chunk.filter(associate__userid__in=invalid, state__in=OPEN_TASK_STATES).update(
            state=PublishTask.State.FAILED, error="WeCom did not give this member the task (outside the app's range)"
        )
    if task.variant.moment.state == State.CANCELLED:
        task_named("campaigns.tasks.wecom_cancel_task").delay([moment_id])


def enterprise_tasks_poll(*, client, now: dt.datetime | None = None) -> dict[str, int]:
    """Learn the moment_id of created tasks; recover stale claims. Safe to run any time."""
    now = now or timezone.now()
    summary = {"done": 0, "failed": 0, "recovered": 0, "retried": 0}
    created = EnterpriseTask.objects.filter(state=EnterpriseTask.State.CREATED).select_related("variant__moment")
    for task in created.order_by("id")[:POLL_BATCH]:
        result = client.get_moment_task_result(task.wecom_jobid)
        if result["status"] != 3:
            continue
        outcome = result.get("result") or {}
        if outcome.get("errcode", 0) != 0 or not outcome.get("moment_id"):
            _fail(task, errcode=outcome.get("errcode"), reason=outcome.get("errmsg", "no moment_id"))
            summary["failed"] += 1
            continue
        invalid = {u.lower() for u in (outcome.get("invalid_sender_list") or {}).get("user_list", [])}
        _done(task, outcome["moment_id"], invalid=invalid)
        summary["done"] += 1
    stale_before = now - dt.timedelta(seconds=settings.MOMENTS_STALE_CLAIM_SECONDS)
    # Pending creations whose queued job was lost (a restarted broker): queue them again.
    lost = (
        EnterpriseTask.objects.filter(state=EnterpriseTask.State.PENDING)
        .filter(variant__moment__dispatched_at__lt=stale_before)
        .values_list("variant__moment_id", flat=True)
        .distinct()
    )
    enterprise_create_task = task_named("campaigns.tasks.enterprise_create_task")
    for moment_id in list(lost):
        enterprise_create_task.delay(moment_id)
        summary["retried"] += 1
    stale = EnterpriseTask.objects.filter(state=EnterpriseTask.State.CREATING, claimed_at__lt=stale_before)
    for task in stale.select_related("variant__moment")[:POLL_BATCH]:
        found = _find_created(task, client=client, now=now)
        if found:
            _done(task, found)
            summary["recovered"] += 1
        elif EnterpriseTask.objects.filter(pk=task.pk, state=EnterpriseTask.State.CREATING).update(
            state=EnterpriseTask.State.PENDING, claimed_at=None
        ):
            enterprise_create_task.delay(task.variant.moment_id)
            summary["retried"] += 1
    return summary


def _find_created(task: EnterpriseTask, *, client, now: dt.datetime) -> str:
    """The moment_id of an enterprise moment WeCom made from this claim, if any: same text,
    created since the claim (with a minute's clock margin)."""
    start = int(task.claimed_at.timestamp()) - 60
    for page in client.moment_list_pages(start_time=start, end_time=int(now.timestamp()) + 1, filter_type=0):
        same_text = [item["moment_id"] for item in page if (item.get("text") or {}).get("content") == task.text]
        adopted = set(EnterpriseTask.objects.filter(wecom_moment_id__in=same_text).values_list("wecom_moment_id",
                                                                                             flat=True))  # fmt: skip
        for moment_id in same_text:
            if moment_id not in adopted:
                return moment_id
    return ""
