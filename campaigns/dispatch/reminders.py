"""Reminders (DESIGN.md §5.3): associates notified who have not published are reminded, a few times, by day."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns.dispatch.notify import DUPLICATE_CHECK_SECONDS, MEMBER_HOUR, MEMBER_MINUTE, in_quiet_hours, textcard
from campaigns.models import PublishTask, State
from wecom.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

REMIND_BATCH = 500


def reminders_send(*, client, limiter, now: dt.datetime | None = None) -> int:
    """Remind associates who were notified but have not published: after
    ``MOMENTS_REMINDER_AFTER_HOURS``, at most ``MOMENTS_REMINDER_MAX`` times, never after
    the moment expires and never at night. Each reminder is claimed by a conditional
    update of ``reminders_sent``, so two runs cannot send the same one twice."""
    now = now or timezone.now()
    if in_quiet_hours(now) or not settings.MOMENTS_REMINDER_MAX:
        return 0
    since = now - dt.timedelta(hours=settings.MOMENTS_REMINDER_AFTER_HOURS)
    # One reminder per associate and moment: for their open task of lowest id (the others wait their turn).
    earlier_open = PublishTask.objects.filter(
        moment_id=OuterRef("moment_id"), associate_id=OuterRef("associate_id"), pk__lt=OuterRef("pk"),
        state__in=[PublishTask.State.NOTIFIED, PublishTask.State.OPENED],
    )  # fmt: skip
    due = list(
        PublishTask.objects.filter(
            state__in=[PublishTask.State.NOTIFIED, PublishTask.State.OPENED],
            moment__state__in=[State.DISPATCHING, State.LIVE],
            moment__expires_at__gt=now,
            reminders_sent__lt=settings.MOMENTS_REMINDER_MAX,
            notified_at__lte=since,
        )
        .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=since))
        .exclude(Exists(earlier_open))
        .select_related("moment__campaign", "variant", "associate", "version")
        .order_by("notified_at", "id")[:REMIND_BATCH]
    )
    sent = 0
    for task in due:
        number = task.reminders_sent + 1
        if not PublishTask.objects.filter(pk=task.pk, reminders_sent=task.reminders_sent).update(
            reminders_sent=number, reminded_at=now
        ):
            continue  # another run took it
        userid = task.associate.userid
        try:
            limiter.acquire(f"wecom:member-minute:{userid}", MEMBER_MINUTE, max_wait=10)
            limiter.acquire(f"wecom:member-hour:{userid}", MEMBER_HOUR, max_wait=10)
            client.send_textcard(touser=[userid], duplicate_check_interval=DUPLICATE_CHECK_SECONDS,
                                 **textcard(task, reminder=number))  # fmt: skip
        except TransientError:
            # Give the reminder back; the next run tries again (a re-send is suppressed by WeCom).
            PublishTask.objects.filter(pk=task.pk, reminders_sent=number).update(
                reminders_sent=number - 1, reminded_at=task.reminded_at
            )
            continue
        except PermanentError as error:
            logger.warning("reminder for task %s refused: %s", task.pk, error)
            continue
        sent += 1
    return sent
