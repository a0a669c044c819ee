"""The associate's links (DESIGN.md §5.3): the signed link of one task, in its notification, and the link of one
associate's open tasks of one day."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from campaigns.models import PublishTask, State
from staff.models import Associate

LINK_SALT = "campaigns.publish-link"


def publish_link_token(task: PublishTask) -> str:
    """Deterministic (no timestamp): a re-sent card is byte-identical, so WeCom's duplicate
    check suppresses it. The link's life is the moment's window, checked on each use."""
    return signing.Signer(salt=LINK_SALT).sign(str(task.public_id))


def publish_link(task: PublishTask) -> str:
    path = reverse("campaigns:publish", args=[publish_link_token(task)])
    return settings.MOMENTS_PUBLIC_URL.rstrip("/") + path


class LinkInvalid(Exception):
    """A link that was forged, altered or is for nothing we know."""


def publish_task_from_token(token: str) -> PublishTask:
    try:
        public_id = signing.Signer(salt=LINK_SALT).unsign(token)
    except signing.BadSignature:
        raise LinkInvalid from None
    task = (
        PublishTask.objects.select_related("moment__campaign", "variant", "associate", "version")
        .filter(public_id=public_id)
        .first()
    )
    if task is None:
        raise LinkInvalid
    return task


MY_TASKS_SALT = "campaigns.my-tasks"
OPEN_TASK_STATES = ["pending", "notifying", "notified", "opened"]


def my_tasks_token(associate, *, day: dt.date | None = None) -> str:
    """A link for one associate and one local day: their open tasks."""
    day = day or timezone.localdate()
    return signing.Signer(salt=MY_TASKS_SALT).sign(f"{associate.userid}:{day.isoformat()}")


def my_tasks_from_token(token: str) -> tuple[Associate, dt.date]:
    try:
        userid, day = signing.Signer(salt=MY_TASKS_SALT).unsign(token).rsplit(":", 1)
        associate = Associate.objects.get(userid=userid)
        return associate, dt.date.fromisoformat(day)
    except (signing.BadSignature, ValueError, Associate.DoesNotExist):
        raise LinkInvalid from None


def my_open_tasks(associate, *, now: dt.datetime | None = None) -> list[PublishTask]:
    now = now or timezone.now()
    return list(
        PublishTask.objects.filter(
            associate=associate, state__in=OPEN_TASK_STATES, moment__state__in=[State.DISPATCHING, State.LIVE],
            moment__expires_at__gt=now,
        ).select_related("moment__campaign", "variant", "version").order_by("moment__expires_at", "id")
    )  # fmt: skip
