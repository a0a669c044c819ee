"""Dispatch and notification (DESIGN.md §5.3): exactly once, at the right time,
within WeCom's limits.

- ``dispatch_due`` (beat, every ~30 s) claims due scheduled moments with
  ``SELECT … FOR UPDATE SKIP LOCKED`` and a conditional state change, creates
  every PublishTask in bulk (unique per variant × associate, so a second run
  inserts nothing) and, after commit, enqueues notify batches.
- ``publish_task_notify`` claims one task with a conditional update
  (pending → notifying), sends the textcard with WeCom's duplicate check on and
  records the msgid. Transient errors put the task back to pending for a retry;
  permanent ones fail it with the errcode and a reason. A crash between claim
  and send leaves it "notifying": the reconciler puts it back after
  ``MOMENTS_STALE_CLAIM_SECONDS``, and WeCom's duplicate check (same card within the interval)
  keeps a re-send from reaching the associate twice.
- Rates: the client's global bucket per endpoint, and a per-member budget below
  WeCom's silent-drop limits (30 a minute, 1000 an hour; wecom-api.md §3.3).
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import random
from functools import reduce

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from campaigns import confirmation, links, rules, versions
from campaigns.models import Moment, PublishTask, State, Variant
from campaigns.selectors import forbidden_words
from campaigns.services import WorkflowError, campaign_state_refresh, moment_transition
from staff.models import Associate, Department
from wecom.errors import PermanentError, TransientError
from wecom.ratelimit import Budget

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 20  # moments claimed per dispatcher run; the next run takes the rest
NOTIFY_BATCH = 200  # tasks per notify job: short jobs, spread over the workers
MAX_ATTEMPTS = 8  # transient failures before a task is failed for good
DUPLICATE_CHECK_SECONDS = 4 * 3600  # WeCom's maximum: a re-sent card within 4 h is suppressed
# Per member, below WeCom's silent drops: a bucket holds at most C and refills r a minute, so any minute sees at
# most C + r messages and any hour C' + 60 r' (10 + 20 ≤ 30; 100 + 900 ≤ 1000).
MEMBER_MINUTE = Budget.per_minute(20, burst=10)
MEMBER_HOUR = Budget.per_minute(15, burst=100)
LINK_SALT = "campaigns.publish-link"


# --- links -----------------------------------------------------------------------------------------
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


# --- dispatch ----------------------------------------------------------------------------------------
def variant_associate_ids(variant: Variant) -> list[int]:
    """Active associates the variant targets: its departments' subtrees and its named associates."""
    return targeted_associate_ids(
        department_ids=list(variant.target_departments.values_list("pk", flat=True)),
        associate_ids=list(variant.target_associates.values_list("pk", flat=True)),
    )


def targeted_associate_ids(*, department_ids: list[int], associate_ids: list[int]) -> list[int]:
    """Active associates in these departments' subtrees, and these associates if active."""
    paths = list(Department.objects.filter(pk__in=department_ids).values_list("path", flat=True))
    named = list(associate_ids)
    conditions = [Q(pk__in=named)] if named else []
    if paths:
        conditions.append(reduce(operator.or_, (Q(departments__path__startswith=p) for p in paths)))
    if not conditions:
        return []
    active = Associate.objects.filter(is_active=True).filter(reduce(operator.or_, conditions))
    return sorted(set(active.values_list("pk", flat=True)))


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
                from campaigns.enterprise import enterprise_tasks_plan

                enterprise_tasks_plan(moment)
                enterprise.append(moment.pk)
            campaign_state_refresh(moment.campaign)
            claimed.append(moment.pk)
        if claimed and enqueue:
            transaction.on_commit(lambda: notify_enqueue(moment_ids=claimed, enterprise_ids=enterprise))
    return claimed


def notify_enqueue(*, moment_ids: list[int], enterprise_ids: list[int] = ()) -> int:
    """Queue the pending tasks of these moments in batches (and the creation of the
    WeCom tasks of enterprise moments); returns how many notify batches."""
    from campaigns.tasks import enterprise_create_task, notify_batch_task

    for moment_id in enterprise_ids:
        enterprise_create_task.delay(moment_id)

    ids = list(
        PublishTask.objects.filter(moment_id__in=moment_ids, state=PublishTask.State.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    batches = [ids[i : i + NOTIFY_BATCH] for i in range(0, len(ids), NOTIFY_BATCH)]
    for batch in batches:
        notify_batch_task.delay(batch)
    return len(batches)


# --- notify ------------------------------------------------------------------------------------------
class NotifyRetry(Exception):
    """The task went back to pending after a transient error; try again after ``countdown``."""

    def __init__(self, task_id: int, countdown: float, cause: Exception):
        super().__init__(f"publish task {task_id}: retry in {countdown:.0f}s ({cause})")
        self.task_id = task_id
        self.countdown = countdown


def task_variant_name(task: PublishTask) -> str:
    """The name of the variant as its approved version has it."""
    return task.version.content["name"] if task.version_id else task.variant.name


def _card(task: PublishTask, *, reminder: int = 0, names: list[str] | None = None) -> dict:
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


def backoff(attempts: int) -> float:
    """Capped exponential backoff with jitter: 5 s, 10 s, 20 s … at most 5 minutes."""
    base = min(300.0, 5.0 * 2 ** max(0, attempts - 1))
    return base / 2 + random.random() * base / 2


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
                                      **_card(task, names=names))  # fmt: skip
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


# --- reconcile ----------------------------------------------------------------------------------------
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


# --- reminders -------------------------------------------------------------------------------------------
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
                                 **_card(task, reminder=number))  # fmt: skip
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


# --- the associate's click ------------------------------------------------------------------------------
MEDIA_VALID = dt.timedelta(days=3) - dt.timedelta(hours=1)  # WeCom keeps attachments 3 days; renew an hour early


class PublishRefused(Exception):
    """The click cannot become a WeCom task (expired, cancelled, WeCom refused); the message is for the associate."""


class PersonalTouchRefused(PublishRefused):
    """What the associate wrote breaks the brand's rules: ``problems`` says why, in plain words. Nothing was sent."""

    def __init__(self, problems: list[str]):
        super().__init__("touch")
        self.problems = problems


def task_content(task: PublishTask) -> versions.Frozen:
    """What ``task`` posts: its approved version, never the variant as it stands."""
    if task.version_id is None:
        raise PublishRefused("unapproved")
    return versions.frozen(task.version)


def publish_task_open(task: PublishTask, *, now: dt.datetime | None = None) -> None:
    PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.NOTIFIED).update(
        state=PublishTask.State.OPENED, opened_at=now or timezone.now()
    )


def _media_id(asset, client) -> str:
    now = timezone.now()
    if asset.wecom_media_id and asset.wecom_uploaded_at and asset.wecom_uploaded_at > now - MEDIA_VALID:
        return asset.wecom_media_id
    media_id = client.upload_attachment(filename=asset.file.name.rsplit("/", 1)[-1], content=asset.file.read(),
                                        content_type="video/mp4" if asset.kind == "video" else "image/jpeg",
                                        media_type=asset.kind)  # fmt: skip
    type(asset).objects.filter(pk=asset.pk).update(wecom_media_id=media_id, wecom_uploaded_at=now)
    return media_id


def wecom_attachments(content: versions.Frozen, client, *, link_url: str = "") -> list[dict]:
    """The attachments of ``add_moment_task`` from an approved version; ``link_url``: the link attachment's short
    URL (campaigns.links)."""
    if content.video is not None:
        return [{"msgtype": "video", "video": {"media_id": _media_id(content.video, client)}}]
    if content.link_url:
        link = {"title": content.link_title, "url": link_url or content.link_url}
        if content.link_cover is not None:
            link["media_id"] = _media_id(content.link_cover, client)
        return [{"msgtype": "link", "link": link}]
    return [{"msgtype": "image", "image": {"media_id": _media_id(photo, client)}} for photo in content.images]


def _publish_claim(task: PublishTask, copy: str | None, *, now: dt.datetime,
                   via: str) -> tuple[str, links.PostedLinks] | None:  # fmt: skip
    """Checks, then the claim (→ publish_requested); returns the text to post and the associate's
    short links (created here if need be), or None when it was already requested (a second click
    changes nothing)."""
    moment = task.moment
    if moment.state == State.CANCELLED or task.state == PublishTask.State.CANCELLED:
        raise PublishRefused("cancelled")
    if moment.mode == Moment.Mode.ENTERPRISE:
        raise PublishRefused("enterprise")  # WeCom already pushed the task: it is published in WeCom
    if moment.expires_at <= now:
        raise PublishRefused("expired")
    content = task_content(task)
    touch = rules.PersonalTouch(policy=content.personal_touch, max_chars=content.personal_line_max)
    written = "" if touch.policy == "none" else (copy or "").strip()
    if touch.policy == "edit" and written == content.copy.strip():
        written = ""  # the brand's copy sent back unchanged is no edit
    if problems := rules.personal_touch_errors(written, touch, forbidden=forbidden_words()):
        raise PersonalTouchRefused(problems)
    text = rules.personal_text(content.copy, written, touch)
    tracked = links.posted_links(content, associate=task.associate)
    posted = rules.posted_text(text, content.hashtags, tracked.cta_line)
    if len(posted) > rules.COPY_MAX_CHARS:
        raise PersonalTouchRefused([_("The text is %(n)s characters with the call to action and the hashtags; WeCom "
                                      "takes at most %(max)s. Please shorten it.")
                                    % {"n": len(posted), "max": rules.COPY_MAX_CHARS}])  # fmt: skip
    claimable = [PublishTask.State.NOTIFIED, PublishTask.State.OPENED, PublishTask.State.PENDING]
    claimed = PublishTask.objects.filter(pk=task.pk, state__in=claimable).update(
        state=PublishTask.State.PUBLISH_REQUESTED, publish_requested_at=now, edited_copy=written, posted_text=posted,
        via=via,
    )  # fmt: skip
    return (posted, tracked) if claimed else None


def visible_range(content: versions.Frozen, senders: list[str]) -> dict:
    """add_moment_task's audience: these associates, and the approved version's customer tags unless it is for
    all contacts."""
    visible: dict = {"sender_list": {"user_list": senders}}
    if content.tag_ids:
        visible["external_contact_list"] = {"tag_list": content.tag_ids}
    return visible


def publish_task_request(*, task: PublishTask, copy: str | None, client, now: dt.datetime | None = None) -> bool:
    """The associate pressed Publish outside the WeCom client: create the WeCom moment task
    for them. Returns False when it was already requested (a second click changes nothing).
    The task becomes ``published`` only when WeCom confirms it, never here."""
    now = now or timezone.now()
    claimed = _publish_claim(task, copy, now=now, via=PublishTask.Via.SERVER)
    if claimed is None:
        return False
    posted, tracked = claimed
    content = task_content(task)
    # No transaction is held across the WeCom calls (uploads, task creation).
    try:
        jobid = client.add_moment_task(text=posted,
                                       attachments=wecom_attachments(content, client, link_url=tracked.attachment_url),
                                       visible_range=visible_range(content, [task.associate.userid]))  # fmt: skip
    except (TransientError, PermanentError) as error:
        PublishTask.objects.filter(pk=task.pk, state=PublishTask.State.PUBLISH_REQUESTED).update(
            state=PublishTask.State.OPENED, publish_requested_at=None, errcode=error.errcode, error=error.reason[:255]
        )
        raise PublishRefused("wecom") from error
    PublishTask.objects.filter(pk=task.pk).update(wecom_jobid=jobid, errcode=None, error="")
    return True


def publish_task_share(*, task: PublishTask, copy: str | None, public_url: str,
                       now: dt.datetime | None = None) -> dict | None:  # fmt: skip
    """The associate pressed Publish inside the WeCom client: the page will call the JS-SDK's
    ``shareToExternalMoments`` with what this returns (text and attachments; photos by
    URL). None when it was already requested. Confirmed like any post: by WeCom."""
    now = now or timezone.now()
    content = task_content(task)
    if content.video is not None:
        raise PublishRefused("video")  # shareToExternalMoments takes photos or a link: the server posts a video
    if content.tag_ids:
        # shareToExternalMoments carries no visible range: a tagged variant would reach whoever the associate
        # leaves selected in WeCom's composer. Only a server-created task with its tag_list enforces the audience.
        raise PublishRefused("tagged")
    claimed = _publish_claim(task, copy, now=now, via=PublishTask.Via.JSSDK)
    if claimed is None:
        return None
    posted, tracked = claimed
    base = public_url.rstrip("/")
    if content.link_url:
        link = {"title": content.link_title, "url": tracked.attachment_url or content.link_url}
        if content.link_cover is not None:
            link["imgUrl"] = base + content.link_cover.file.url
        attachments = [{"msgtype": "link", "link": link}]
    else:
        attachments = [{"msgtype": "image", "image": {"imgUrl": base + photo.file.url}} for photo in content.images]
    return {"text": {"content": posted}, "attachments": attachments}


def publish_task_share_undo(task: PublishTask) -> bool:
    """The associate closed WeCom's composer without posting: the task is open again."""
    return bool(
        PublishTask.objects.filter(
            pk=task.pk, state=PublishTask.State.PUBLISH_REQUESTED, via=PublishTask.Via.JSSDK
        ).update(state=PublishTask.State.OPENED, publish_requested_at=None, via="")
    )


# --- confirmation: WeCom says the associate published ------------------------------------------------
CONFIRM_BATCH = 500  # requested jobs, and WeCom moments, looked at per run
# Tasks that may be published in WeCom: associate-shared ones once requested; enterprise ones from the
# moment WeCom has their task (WeCom pushes it too: the associate may publish before our notification,
# which then is not sent, or without ever opening our page).
CONFIRMABLE = list(confirmation.CONFIRMABLE)


def publish_confirm(*, client, now: dt.datetime | None = None) -> dict[str, int]:
    """Learn the moment_id of requested jobs (associate-shared: one job per task), then ask
    WeCom who published each open WeCom moment (``get_moment_task``, once per moment
    whatever the number of associates) and mark those tasks published. The WeCom calls
    happen outside any transaction; each write is a conditional update."""
    now = now or timezone.now()
    summary = {"jobs_done": 0, "published": 0, "failed": 0}
    jobs = (
        PublishTask.objects.filter(state=PublishTask.State.PUBLISH_REQUESTED, wecom_moment_id="")
        .exclude(wecom_jobid="")
        .filter(moment__mode=Moment.Mode.ASSOCIATE)
        .order_by("publish_requested_at", "id")
        .values_list("pk", "wecom_jobid")[:CONFIRM_BATCH]
    )
    for pk, jobid in list(jobs):
        result = client.get_moment_task_result(jobid)
        if result["status"] != 3:
            continue
        outcome = result["result"] or {}
        if outcome.get("errcode", 0) != 0 or not outcome.get("moment_id"):
            PublishTask.objects.filter(pk=pk, state=PublishTask.State.PUBLISH_REQUESTED).update(
                state=PublishTask.State.FAILED, errcode=outcome.get("errcode"), error=outcome.get("errmsg", "")[:255]
            )
            summary["failed"] += 1
            continue
        PublishTask.objects.filter(pk=pk).update(wecom_moment_id=outcome["moment_id"])
        summary["jobs_done"] += 1
    summary["published"] += _confirm_shared(client=client, now=now)
    open_moments = (
        PublishTask.objects.filter(state__in=CONFIRMABLE, moment__state__in=[State.DISPATCHING, State.LIVE])
        .exclude(wecom_moment_id="")
        .values_list("wecom_moment_id", flat=True)
        .distinct()
        .order_by("wecom_moment_id")[:CONFIRM_BATCH]
    )
    for wecom_moment_id in list(open_moments):
        published = [row["userid"] for page in client.moment_task_pages(wecom_moment_id) for row in page
                     if row["publish_status"] == 1]  # fmt: skip
        summary["published"] += confirmation.publish_tasks_confirm(wecom_moment_id=wecom_moment_id,
                                                                   userids=published, at=now)  # fmt: skip
    return summary


def _confirm_shared(*, client, now: dt.datetime) -> int:
    """Posts shared through the JS-SDK are the member's own moments: find each in
    ``get_moment_list`` (personal, by this creator, since the click, with the very text the page handed
    to WeCom's composer, stored on the task)."""
    confirmed = 0
    shared = list(
        PublishTask.objects.filter(state=PublishTask.State.PUBLISH_REQUESTED, via=PublishTask.Via.JSSDK)
        .exclude(posted_text="")
        .select_related("associate")
        .order_by("publish_requested_at", "id")[:CONFIRM_BATCH]
    )
    for task in shared:
        text = task.posted_text
        start = int(task.publish_requested_at.timestamp()) - 60
        end = min(int(now.timestamp()) + 1, start + 30 * 86400)  # whole seconds: this one included
        found = next((item["moment_id"] for page in client.moment_list_pages(start_time=start, end_time=end,
                                                                            creator=task.associate.userid,
                                                                            filter_type=1)
                      for item in page if (item.get("text") or {}).get("content") == text), "")  # fmt: skip
        if found:  # the member's own moment: WeCom names them its creator
            confirmed += confirmation.publish_tasks_confirm(wecom_moment_id=found, userids=[task.associate.userid],
                                                            at=now, task_ids=[task.pk])  # fmt: skip
    return confirmed
