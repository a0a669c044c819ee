"""Notification (DESIGN.md §5.3): one textcard per associate and moment, exactly once, within WeCom's limits
(the client's bucket per endpoint, and a per-member budget below WeCom's silent drops), never at night."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.html import escape

from campaigns.dispatch.tokens import publish_link
from campaigns.models import PublishTask, State
from campaigns.posting import backoff
from wecom.errors import PermanentError, TransientError
from wecom.ratelimit import Budget

MAX_ATTEMPTS = 8  # transient failures before a task is failed for good
DUPLICATE_CHECK_SECONDS = 4 * 3600  # WeCom's maximum: a re-sent card within 4 h is suppressed
# Per member, below WeCom's silent drops: a bucket holds at most C and refills r a minute, so any minute sees at
# most C + r messages and any hour C' + 60 r' (10 + 20 ≤ 30; 100 + 900 ≤ 1000).
MEMBER_MINUTE = Budget.per_minute(20, burst=10)
MEMBER_HOUR = Budget.per_minute(15, burst=100)


class NotifyRetry(Exception):
    """The task went back to pending after a transient error; try again after ``countdown``."""

    def __init__(self, task_id: int, countdown: float, cause: Exception):
        super().__init__(f"publish task {task_id}: retry in {countdown:.0f}s ({cause})")
        self.task_id = task_id
        self.countdown = countdown


def task_variant_name(task: PublishTask) -> str:
    """The name of the variant as its approved version has it."""
    return task.version.content["name"] if task.version_id else task.variant.name


def textcard(task: PublishTask, *, reminder: int = 0, names: list[str] | None = None) -> dict:
    """The textcard. A reminder's title differs (so WeCom's duplicate check lets it through),
    and each numbered reminder is identical if re-sent (so a retry is suppressed). ``names``: the variants
    of the moment that concern the associate, when the card stands for several."""
    moment = task.moment
    name = "、".join(names or [task_variant_name(task)])
    when = timezone.localtime(moment.expires_at).strftime("%m-%d %H:%M")
    prefix = f"提醒 {reminder}：" if reminder else ""
    # WeCom reads the description as HTML (``<div class="gray">``, ``<br>``): names written by people are
    # escaped, so a variant called "<div>…" shows as typed and cannot restyle or fake the card.
    return {
        "title": f"{prefix}{moment.campaign.name} · {moment.title}"[:128],
        "description": f"{escape(name)}：点开预览，一键发布到客户朋友圈。请在 {when} 前发布。"[:512],
        "url": publish_link(task),
        "btntxt": "去发布",
    }


def in_quiet_hours(now: dt.datetime) -> bool:
    """Night in the configured time zone: no notification or reminder (DESIGN.md §5.3)."""
    start, end, hour = settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END, timezone.localtime(now).hour
    if start == end:
        return False
    return start <= hour or hour < end if start > end else start <= hour < end


# One notification per associate per moment: the associate's tasks of one moment (one per variant that concerns
# them) share one card, listing every variant. Once a task of the group has its card (notified_at set), the others
# are notified with it; until then the card is sent for the lead, the group's task of lowest id still waiting for
# one (pending or being notified). A task published or failed before any card (WeCom's own push, an enterprise
# task WeCom refused) is no lead. Whichever task's job runs first, nobody gets two cards and nobody none.
def _group(task: PublishTask):
    """The associate's tasks of the same moment, the task itself included."""
    return PublishTask.objects.filter(moment_id=task.moment_id, associate_id=task.associate_id)


def sibling_tasks(task: PublishTask) -> list[PublishTask]:
    """The associate's other tasks of the same moment, not cancelled, in order (their page links them)."""
    return list(_group(task).exclude(pk=task.pk).exclude(state=PublishTask.State.CANCELLED)
                .select_related("version", "variant").order_by("pk"))  # fmt: skip


WAITING_FOR_CARD = (PublishTask.State.PENDING, PublishTask.State.NOTIFYING)


def _card_sent(group: list[PublishTask]) -> PublishTask | None:
    return next((t for t in group if t.notified_at is not None), None)


def _lead(group: list[PublishTask]) -> PublishTask | None:
    return next((t for t in group if t.state in WAITING_FOR_CARD), None)


def _follow(task: PublishTask, sent: PublishTask | None) -> str:
    """``task`` (claimed) is not the one to send the card: notified with the card already sent, else back to
    pending until the lead's card marks it (or the reconciler queues it again)."""
    if sent is not None:
        PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFYING).update(
            state=PublishTask.State.NOTIFIED, msgid=sent.msgid, notified_at=sent.notified_at, claimed_at=None,
            errcode=None, error="",
        )  # fmt: skip
        return PublishTask.State.NOTIFIED
    PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFYING).update(
        state=PublishTask.State.PENDING, claimed_at=None
    )
    return PublishTask.State.PENDING


def publish_task_notify(*, task_id: int, client, limiter, now: dt.datetime | None = None) -> str:
    """Notify one associate of one task; returns the task's state afterwards.
    Raises NotifyRetry when a transient error should be retried later. At night the
    task stays pending; the reconciler queues it again in the morning."""
    now = now or timezone.now()
    if in_quiet_hours(now):
        return PublishTask.objects.filter(pk=task_id).values_list("state", flat=True).first() or ""
    claimed = PublishTask.objects.filter(pk=task_id, state=PublishTask.State.PENDING).update(
        state=PublishTask.State.NOTIFYING, claimed_at=now, attempts=F("attempts") + 1
    )
    task = PublishTask.objects.select_related("moment__campaign", "variant", "associate", "version").get(pk=task_id)
    if not claimed:
        return task.state  # done, failed, cancelled, or another worker has it
    moment = task.moment
    if moment.state == State.CANCELLED:
        return _finish(task, PublishTask.State.CANCELLED)
    if moment.expires_at <= now:
        return _finish(task, PublishTask.State.EXPIRED, reason="the moment expired before the notification")
    group = list(_group(task).select_related("version").order_by("pk"))
    sent, lead = _card_sent(group), _lead(group)
    if sent is not None or lead is None or lead.pk != task.pk:
        return _follow(task, sent)
    names = list(dict.fromkeys(task_variant_name(t) for t in group if t.state != PublishTask.State.CANCELLED))
    userid = task.associate.userid
    try:
        limiter.acquire(f"wecom:member-minute:{userid}", MEMBER_MINUTE, max_wait=10)
        limiter.acquire(f"wecom:member-hour:{userid}", MEMBER_HOUR, max_wait=10)
        result = client.send_textcard(touser=[userid], duplicate_check_interval=DUPLICATE_CHECK_SECONDS,
                                      **textcard(task, names=names))  # fmt: skip
    except TransientError as error:
        if task.attempts >= MAX_ATTEMPTS:
            return _finish(task, PublishTask.State.FAILED, errcode=error.errcode, reason=error.reason)
        PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFYING).update(
            state=PublishTask.State.PENDING, claimed_at=None
        )
        raise NotifyRetry(task.pk, backoff(task.attempts), error) from error
    except PermanentError as error:
        if userid in error.data.get("unlicenseduser", "").lower().split("|"):
            return _finish(
                task, PublishTask.State.FAILED, errcode=error.errcode, reason="the member has no WeCom license"
            )
        return _finish(task, PublishTask.State.FAILED, errcode=error.errcode, reason=error.reason)
    if userid in {u.lower() for u in result.invalid_users}:
        return _finish(task, PublishTask.State.FAILED, errcode=40003, reason="WeCom does not know this member")
    if userid in {u.lower() for u in result.unlicensed_users}:
        return _finish(task, PublishTask.State.FAILED, errcode=None, reason="the member has no WeCom license")
    marked = {"msgid": result.msgid, "notified_at": now, "claimed_at": None, "errcode": None, "error": ""}
    PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFYING).update(
        state=PublishTask.State.NOTIFIED, **marked
    )
    # The card stands for the group: its waiting tasks are notified with it (the others, claimed by a worker
    # right now, follow the lead when they see it notified).
    _group(task).exclude(pk=task.pk).filter(state=PublishTask.State.PENDING).update(
        state=PublishTask.State.NOTIFIED, **marked
    )
    return PublishTask.State.NOTIFIED


def _finish(task: PublishTask, state: str, *, errcode: int | None = None, reason: str = "") -> str:
    """A terminal outcome of notifying ``task``. A failure is the member's (WeCom refused to notify them: unknown,
    unlicensed, or past the retries), so the group's tasks still waiting for a card fail with the same reason."""
    PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFYING).update(
        state=state, claimed_at=None, errcode=errcode, error=reason[:255]
    )
    if state == PublishTask.State.FAILED:
        _group(task).exclude(pk=task.pk).filter(state=PublishTask.State.PENDING).update(
            state=state, errcode=errcode, error=reason[:255]
        )
    return state
