"""What happens inside WeCom when a moment is created and published: the
platform rules of DESIGN.md §4, applied set-based and atomically.

- An ``add_moment_task`` job resolves into an enterprise Moment with one
  MomentTask per executor (wecom-api.md §1.2, ``visible_range`` semantics).
- When a member publishes, the visible customers are the member's contacts
  (tag-filtered when the moment names tags). Delivered ones are those among
  the member's *reachable* contacts (all if verified, else the 200
  earliest-added: by add time, then external_userid) that still have a
  free feed slot that local day: at most ``FEED_CAP`` moments per
  (customer, member, day), first published first served. The slot is
  taken by one conditional upsert per publish, never read-then-write, so
  concurrent publishes cannot overfill a feed.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import connection, transaction
from django.utils import timezone

from wecom.sandbox.models import (
    Customer,
    Department,
    FeedCount,
    Follow,
    FollowTag,
    Member,
    Moment,
    MomentDelivery,
    MomentInteraction,
    MomentJob,
    MomentTask,
    MomentVisible,
    RateWindow,
    Tag,
)

FEED_CAP = 3  # per (customer, member, local day)
UNVERIFIED_REACH = 200  # an unverified member reaches the 200 earliest-added contacts
INVALID_TAG = 40068


class PublishError(Exception):
    """A publish or interaction the platform refuses; ``errcode`` as WeCom's."""

    def __init__(self, errcode: int, message: str):
        super().__init__(message)
        self.errcode = errcode


def local_day(at: dt.datetime) -> dt.date:
    """The feed cap's day: the local calendar day in the configured time zone."""
    return timezone.localtime(at).date()


def new_moment_id() -> str:
    return f"mom{secrets.token_urlsafe(24)}"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- rates ----------------------------------------------------------------------------------
def rate_claim(name: str, *, per_seconds: int, limit: int, at: dt.datetime | None = None) -> bool:
    """Take one of ``limit`` slots in the current fixed window, atomically."""
    window = int((at or timezone.now()).timestamp()) // per_seconds
    table = _table(RateWindow)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, window_start, used) VALUES (%s, %s, 1) "
            f"ON CONFLICT (name, window_start) DO UPDATE SET used = {table}.used + 1 WHERE {table}.used < %s "
            f"RETURNING used",
            [name, window, limit],
        )
        return cursor.fetchone() is not None


def rate_count(name: str, *, per_seconds: int, at: dt.datetime | None = None) -> int:
    """Count one call in the current fixed window and return the window's count so far
    (this call included), atomically: the caller refuses beyond its limit."""
    window = int((at or timezone.now()).timestamp()) // per_seconds
    table = _table(RateWindow)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, window_start, used) VALUES (%s, %s, 1) "
            f"ON CONFLICT (name, window_start) DO UPDATE SET used = {table}.used + 1 RETURNING used",
            [name, window],
        )
        return cursor.fetchone()[0]


# --- add_moment_task jobs ----------------------------------------------------------------
def _department_members(department_ids: list[int]) -> tuple[set[int], list[int]]:
    """Active members of the given department subtrees, and the unknown department ids."""
    children: dict[int, list[int]] = {}
    known = set()
    for pk, parent in Department.objects.values_list("id", "parentid"):
        children.setdefault(parent, []).append(pk)
        known.add(pk)
    invalid = [d for d in department_ids if d not in known]
    wanted: set[int] = set()
    todo = [d for d in department_ids if d in known]
    while todo:
        node = todo.pop()
        if node not in wanted:
            wanted.add(node)
            todo.extend(children.get(node, []))
    members = set()
    if wanted:
        for pk, departments in Member.objects.filter(status=Member.Status.ACTIVE).values_list("id", "department"):
            if wanted.intersection(departments):
                members.add(pk)
    return members, invalid


def _executors(visible_range: dict, tag_pks: list[int]) -> tuple[set[int], list[str], list[int]]:
    senders = (visible_range or {}).get("sender_list") or {}
    user_list = list(senders.get("user_list") or [])
    department_list = list(senders.get("department_list") or [])
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    if not user_list and not department_list:
        if tag_pks:  # the follow-up members of the tagged customers
            follow_ids = FollowTag.objects.filter(tag_id__in=tag_pks).values("follow_id")
            members = Follow.objects.filter(id__in=follow_ids).values("member_id")
            return set(active.filter(id__in=members).values_list("id", flat=True)), [], []
        return set(active.values_list("id", flat=True)), [], []
    executors, invalid_departments = _department_members(department_list)
    lowered = {u.lower(): u for u in user_list}
    found: dict[str, int] = {}
    names = list(lowered)
    for start in range(0, len(names), 5000):
        found.update(active.filter(userid__in=names[start : start + 5000]).values_list("userid", "id"))
    executors.update(found.values())
    invalid_users = [original for lower, original in lowered.items() if lower not in found]
    return executors, invalid_users, invalid_departments


def job_resolve(job: MomentJob, *, at: dt.datetime | None = None) -> MomentJob:
    """Finish a job once it is due: create the Moment and its executor tasks.
    Safe to call concurrently: the conditional update lets one caller do it."""
    at = at or timezone.now()
    if job.status == MomentJob.Status.DONE or at < job.ready_at:
        return job
    with transaction.atomic():
        if not MomentJob.objects.filter(pk=job.pk, status__lt=MomentJob.Status.DONE).update(
            status=MomentJob.Status.CREATING
        ):
            return MomentJob.objects.get(pk=job.pk)
        body = job.request
        visible_range = body.get("visible_range") or {}
        tag_list = list(((visible_range.get("external_contact_list") or {}).get("tag_list")) or [])
        tags = dict(Tag.objects.filter(tag_id__in=tag_list, deleted=False).values_list("tag_id", "id"))
        invalid_tags = [t for t in tag_list if t not in tags]
        executors, invalid_users, invalid_departments = _executors(visible_range, list(tags.values()))
        result = {
            "errcode": 0,
            "errmsg": "ok",
            "invalid_sender_list": {"user_list": invalid_users, "department_list": invalid_departments},
            "invalid_external_contact_list": {"tag_list": invalid_tags},
        }
        if tag_list and not tags:
            result.update(errcode=INVALID_TAG, errmsg="invalid tagid: none of tag_list is an enterprise customer tag")
        elif not executors:
            result.update(errcode=40003, errmsg="invalid userid: the task has no valid executor")
        else:
            moment = Moment.objects.create(
                moment_id=new_moment_id(),
                create_type=Moment.CreateType.ENTERPRISE,
                create_time=job.created_at,
                text=(body.get("text") or {}).get("content", ""),
                attachments=body.get("attachments") or [],
                tag_ids=list(tags),
            )
            MomentTask.objects.bulk_create(
                [MomentTask(moment=moment, member_id=pk) for pk in sorted(executors)], batch_size=5000
            )
            result["moment_id"] = moment.moment_id
        job.status, job.result = MomentJob.Status.DONE, result
        job.save(update_fields=["status", "result"])
    return job


# --- publishing -----------------------------------------------------------------------------
def _deliver(moment: Moment, member: Member, at: dt.datetime) -> int:
    """Record the visible customers of ``member``'s copy of ``moment`` and deliver it
    to those the rules let see it. Returns how many got it. Call inside a transaction."""
    day = local_day(at)
    follow, follow_tag, visible = _table(Follow), _table(FollowTag), _table(MomentVisible)
    tag_filter, tag_params = "", []
    if moment.tag_ids:
        tag_pks = list(Tag.objects.filter(tag_id__in=moment.tag_ids).values_list("id", flat=True)) or [0]
        tag_filter = (
            f" AND EXISTS (SELECT 1 FROM {follow_tag} ft WHERE ft.follow_id = f.id "
            f"AND ft.tag_id IN ({', '.join(['%s'] * len(tag_pks))}))"
        )
        tag_params = tag_pks
    reachable, reach_params = "", []
    if not member.is_verified:
        # The 200 earliest-added: by add time, then the customer's external_userid (byte order). WeCom
        # documents no tie-break for one second; this is the one the app assumes too (analytics.rules).
        # Never the row id: a customer who removed the member and added them again is a new add.
        collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
        reachable = (
            f" AND f.id IN (SELECT r.id FROM {follow} r JOIN {_table(Customer)} rc ON rc.id = r.customer_id "
            f"WHERE r.member_id = %s ORDER BY r.createtime, rc.external_userid{collate} LIMIT {UNVERIFIED_REACH})"
        )
        reach_params = [member.pk]
    feed = _table(FeedCount)
    with connection.cursor() as cursor:
        # 1. The visible list: who the member's post was shown to choose from.
        cursor.execute(
            f"INSERT INTO {visible} (moment_id, member_id, customer_id) "
            f"SELECT %s, %s, f.customer_id FROM {follow} f WHERE f.member_id = %s{tag_filter} "
            f"ON CONFLICT (moment_id, member_id, customer_id) DO NOTHING",
            [moment.pk, member.pk, member.pk, *tag_params],
        )
        # 2. Feed slots: one conditional upsert takes a slot per reachable customer
        #    whose feed has room today; RETURNING says who got one.
        cursor.execute(
            f"INSERT INTO {feed} (member_id, customer_id, day, shown) "
            f"SELECT %s, f.customer_id, %s, 1 FROM {follow} f WHERE f.member_id = %s{tag_filter}{reachable} "
            f"ON CONFLICT (member_id, customer_id, day) DO UPDATE SET shown = {feed}.shown + 1 "
            f"WHERE {feed}.shown < %s RETURNING customer_id",
            [member.pk, day, member.pk, *tag_params, *reach_params, FEED_CAP],
        )
        delivered = [row[0] for row in cursor.fetchall()]
    MomentDelivery.objects.bulk_create(
        [MomentDelivery(moment=moment, member=member, customer_id=pk, day=day) for pk in delivered],
        batch_size=5000,
    )
    return len(delivered)


def publish_enterprise(moment: Moment, member: Member, *, at: dt.datetime | None = None) -> int:
    """``member`` publishes their task of enterprise ``moment``. Publishing twice
    changes nothing the second time (returns 0)."""
    at = at or timezone.now()
    if moment.create_type != Moment.CreateType.ENTERPRISE:
        raise PublishError(41067, "this is a personal moment, not an enterprise task")
    with transaction.atomic():
        task = MomentTask.objects.select_for_update().filter(moment=moment, member=member).first()
        if task is None:
            raise PublishError(41061, f"{member.userid} is not an executor of this moment")
        if Moment.objects.filter(pk=moment.pk, cancelled=True).exists():
            raise PublishError(41060, "this moment task was cancelled")
        if task.published_at is not None:
            return 0
        task.published_at = at
        task.save(update_fields=["published_at"])
        return _deliver(moment, member, at)


def publish_personal(
    member: Member, *, text: str = "", attachments: list | None = None, tag_ids: list[str] | None = None,
    at: dt.datetime | None = None,
) -> tuple[Moment, int]:  # fmt: skip
    """``member`` posts their own moment; it counts toward the same feed cap."""
    at = at or timezone.now()
    if not text and not attachments:
        raise PublishError(41089, "text and attachments are both empty")
    with transaction.atomic():
        moment = Moment.objects.create(
            moment_id=new_moment_id(),
            create_type=Moment.CreateType.PERSONAL,
            creator=member,
            create_time=at,
            text=text,
            attachments=attachments or [],
            tag_ids=tag_ids or [],
        )
        return moment, _deliver(moment, member, at)


def poster_check(moment: Moment, member: Member) -> None:
    """The read APIs' checks for (moment, userid): 41061 not this member's, 41062 not yet published."""
    if moment.create_type == Moment.CreateType.PERSONAL:
        if moment.creator_id != member.pk:
            raise PublishError(41061, f"{member.userid} did not post this moment")
        return
    task = MomentTask.objects.filter(moment=moment, member=member).only("published_at").first()
    if task is None:
        raise PublishError(41061, f"{member.userid} is not an executor of this moment")
    if task.published_at is None:
        raise PublishError(41062, f"{member.userid} has not published this enterprise moment yet")


def interact(
    moment: Moment, member: Member, *, kind: str, customer: Customer | None = None, by_member: Member | None = None,
    content: str = "", at: dt.datetime | None = None,
) -> MomentInteraction:  # fmt: skip
    """A like or comment on ``member``'s copy of ``moment``: by a customer who has
    it in their feed, or by a colleague. A second like changes nothing."""
    poster_check(moment, member)
    if (customer is None) == (by_member is None):
        raise PublishError(40058, "a like or comment comes from one customer or one member")
    if (
        customer is not None
        and not MomentDelivery.objects.filter(moment=moment, member=member, customer=customer).exists()
    ):
        raise PublishError(84061, f"{customer.external_userid} does not have this moment in their feed")
    values = {
        "moment": moment,
        "member": member,
        "kind": kind,
        "external_userid": customer.external_userid if customer else "",
        "userid": by_member.userid if by_member else "",
    }
    if kind == MomentInteraction.Kind.LIKE:
        like, _ = MomentInteraction.objects.get_or_create(**values, defaults={"create_time": at or timezone.now()})
        return like
    return MomentInteraction.objects.create(**values, content=content[:500], create_time=at or timezone.now())
