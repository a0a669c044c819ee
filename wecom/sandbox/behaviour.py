"""The demo's behaviour model: what members and customers do on WeCom's side,
so the demo looks alive. Deterministic: each decision is a hash of the ids
involved, so a rerun makes the same choices and nothing happens twice.

- A due ``add_moment_task`` job is resolved (as WeCom finishes it).
- Most executors publish an enterprise moment within hours: 85% do, after an
  exponential delay with a mean of 90 minutes.
- Some customers like (6%) or comment (1%) on a post they got, within 6 hours.
- About a third of members post a personal moment on a given day, between 9:00
  and 21:00 local time; these count toward the same feed cap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from django.core.cache import cache
from django.utils import timezone

from wecom.sandbox import publishing
from wecom.sandbox.models import Customer, Member, Moment, MomentDelivery, MomentInteraction, MomentJob, MomentTask

PUBLISH_SHARE = 0.85
MEAN_PUBLISH_MINUTES = 90
MAX_PUBLISH_DELAY = dt.timedelta(hours=48)
LIKE_SHARE = 0.06
COMMENT_SHARE = 0.01
INTERACTION_WINDOW_MINUTES = 6 * 60
PERSONAL_POST_SHARE = 0.3
PERSONAL_TEXTS = [
    "今天店里到了新款，欢迎来试穿～",
    "周末愉快！有空来店里坐坐☕",
    "新品实拍，喜欢的话私信我预留尺码",
    "感谢今天来店的每一位朋友❤️",
]
COMMENTS = ["好看！", "什么时候有货？", "想要同款", "👍", "周末去店里看看"]
LOCK_KEY = "wecom-sandbox-behaviour"


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for these ids."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def publish_delay(moment_id: str, userid: str) -> dt.timedelta | None:
    """When this executor publishes after the task was created, or None if never."""
    if unit("publishes", moment_id, userid) >= PUBLISH_SHARE:
        return None
    minutes = -MEAN_PUBLISH_MINUTES * math.log(1 - unit("delay", moment_id, userid))
    return min(dt.timedelta(minutes=minutes), MAX_PUBLISH_DELAY)


def _react(moment: Moment, member: Member, at: dt.datetime) -> int:
    """Schedule the likes and comments this post will get (shown once their time comes)."""
    rows = []
    delivered = MomentDelivery.objects.filter(moment=moment, member=member).values_list(
        "customer_id", "customer__external_userid"
    )
    for customer_id, external_userid in delivered:
        draw = unit("react", moment.moment_id, member.userid, customer_id)
        if draw >= LIKE_SHARE + COMMENT_SHARE:
            continue
        minutes = unit("when", moment.moment_id, customer_id) * INTERACTION_WINDOW_MINUTES
        kind = MomentInteraction.Kind.LIKE if draw < LIKE_SHARE else MomentInteraction.Kind.COMMENT
        content = COMMENTS[customer_id % len(COMMENTS)] if kind == MomentInteraction.Kind.COMMENT else ""
        rows.append(
            MomentInteraction(
                moment=moment,
                member=member,
                kind=kind,
                external_userid=external_userid,
                content=content,
                create_time=at + dt.timedelta(minutes=minutes),
            )  # fmt: skip
        )
    MomentInteraction.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _publish_due_tasks(now: dt.datetime) -> int:
    open_tasks = MomentTask.objects.filter(
        published_at__isnull=True, moment__cancelled=False, moment__create_time__gt=now - MAX_PUBLISH_DELAY
    ).select_related("moment", "member")
    due = []
    for task in open_tasks.iterator(chunk_size=5000):
        delay = publish_delay(task.moment.moment_id, task.member.userid)
        if delay is not None and task.moment.create_time + delay <= now:
            due.append((task.moment.create_time + delay, task))
    due.sort(key=lambda pair: (pair[0], pair[1].pk))  # first published, first in the feed
    for at, task in due:
        if task.member.status != Member.Status.ACTIVE:
            continue
        publishing.publish_enterprise(task.moment, task.member, at=at)
        _react(task.moment, task.member, at)
    return len(due)


def _personal_posts(now: dt.datetime) -> int:
    local = timezone.localtime(now)
    day = local.date()
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    posted = set(
        Moment.objects.filter(create_type=Moment.CreateType.PERSONAL, create_time__gte=start).values_list(
            "creator_id", flat=True
        )
    )
    count = 0
    for member in Member.objects.filter(status=Member.Status.ACTIVE).only("id", "userid", "is_verified"):
        if member.pk in posted or unit("personal", day, member.userid) >= PERSONAL_POST_SHARE:
            continue
        at = start + dt.timedelta(hours=9, minutes=unit("personal-at", day, member.userid) * 12 * 60)
        if at > now:
            continue
        text = PERSONAL_TEXTS[int(unit("text", day, member.userid) * len(PERSONAL_TEXTS))]
        moment, _ = publishing.publish_personal(member, text=text, at=at)
        _react(moment, member, at)
        count += 1
    return count


def behaviour_tick(now: dt.datetime | None = None, *, personal: bool = True) -> dict[str, int]:
    """One step of the model up to ``now``. Overlapping ticks skip (a cache lock)."""
    now = now or timezone.now()
    if not cache.add(LOCK_KEY, "1", timeout=300):
        return {"skipped": 1}
    try:
        jobs = 0
        for job in MomentJob.objects.filter(status__lt=MomentJob.Status.DONE, ready_at__lte=now):
            publishing.job_resolve(job, at=now)
            jobs += 1
        summary = {"jobs": jobs, "published": _publish_due_tasks(now)}
        summary["personal"] = _personal_posts(now) if personal and Customer.objects.exists() else 0
        return summary
    finally:
        cache.delete(LOCK_KEY)
