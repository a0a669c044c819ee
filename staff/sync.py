"""Directory sync: WeCom → our directory, through the WeCom client only.

Departments, members (→ associates), corp tags, then follows (→ customers,
contacts and contact tags) in chunks of 100 members — the most
``batch/get_by_user`` takes (wecom-api.md §4). Each chunk is paged to its end,
compared with what we hold, and only the differences are written, in one
transaction: a second run writes nothing, and what disappeared is soft-deleted
(associates who left, contacts removed). After each chunk the run records a
checkpoint, so a run that dies half-way is resumed by the next one without
duplicates (natural keys are unique in the database anyway).

The next chunks are fetched in threads while one is written (``PREFETCH_CHUNKS``),
so the network and the database work at once. Memory is bounded by the chunks in
flight: 100 members' follows each (about 50k rows at 500 each).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from common import bulk
from staff.models import (
    Associate,
    AssociateDepartment,
    Contact,
    ContactTag,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
)
from staff.services import DirectoryError, departments_rebuild_paths

logger = logging.getLogger(__name__)

CHUNK_MEMBERS = 100  # batch/get_by_user takes at most 100 userids
# Lookups by key in batches: SQLite caps bound parameters, and long IN lists plan badly.
LOOKUP_BATCH = 2000
WRITE_BATCH = 2000
# Chunks fetched ahead while the current one is written (threads; HTTP only).
PREFETCH_CHUNKS = 2
# A run still "running" after this long lost its worker: it is failed and resumed.
ABANDONED_AFTER = dt.timedelta(hours=6)

Progress = Callable[[str, int, int], None]


class SyncAlreadyRunning(DirectoryError):
    pass


def _batches(values: list, size: int = LOOKUP_BATCH) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _start_run(*, resume: bool) -> DirectorySyncRun:
    stale = timezone.now() - ABANDONED_AFTER
    DirectorySyncRun.objects.filter(status=DirectorySyncRun.Status.RUNNING, started_at__lt=stale).update(
        status=DirectorySyncRun.Status.FAILED, error="abandoned: no progress for 6 hours", finished_at=timezone.now()
    )
    previous = DirectorySyncRun.objects.order_by("-started_at").first()
    checkpoint = ""
    if resume and previous and previous.status == DirectorySyncRun.Status.FAILED:
        checkpoint = previous.checkpoint_userid
    try:
        with transaction.atomic():
            return DirectorySyncRun.objects.create(checkpoint_userid=checkpoint)
    except IntegrityError:
        raise SyncAlreadyRunning("A directory sync is already running.") from None


def directory_sync(
    *, client, progress: Progress | None = None, resume: bool = True, prefetch: int = PREFETCH_CHUNKS
) -> DirectorySyncRun:
    """Run a sync to the end; returns the finished run (its ``counts`` say what changed)."""
    run = _start_run(resume=resume)
    counts: Counter = Counter()
    try:
        # Every API call happens outside a transaction: a transaction held across
        # network calls blocks other writers (on SQLite, the whole database).
        _set_stage(run, "departments")
        root = _apply_departments(client.department_list(), counts)
        _set_stage(run, "associates")
        _apply_associates(client.user_list(root, fetch_child=True), counts)
        _set_stage(run, "tags")
        tags_sync(client, counts)
        _set_stage(run, "contacts")
        _sync_contacts(client, run, counts, progress, prefetch)
    except Exception as error:
        run.status = DirectorySyncRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        run.finished_at = timezone.now()
        run.counts = dict(counts)
        run.save(update_fields=["status", "error", "finished_at", "counts"])
        logger.exception("directory sync failed at %s", run.stage)
        raise
    run.status = DirectorySyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.counts = dict(counts)
    run.save(update_fields=["status", "finished_at", "counts"])
    return run


def _set_stage(run: DirectorySyncRun, stage: str) -> None:
    run.stage = stage
    run.save(update_fields=["stage"])


# --- departments -------------------------------------------------------------------------
@transaction.atomic
def _apply_departments(remote: list[dict], counts: Counter) -> int:
    """Upsert the tree; returns WeCom's root department id."""
    if not remote:
        raise DirectoryError("WeCom returned no departments: is the app's visible range empty?")
    ids = {d["id"] for d in remote}
    parent_of = {d["id"]: d.get("parentid", 0) for d in remote}
    has_children = {d.get("parentid") for d in remote}
    roots = [d["id"] for d in remote if parent_of[d["id"]] not in ids]
    existing = {d.wecom_id: d for d in Department.objects.all()}

    def kind_for(wecom_id: int) -> str:
        if wecom_id in roots:
            return Department.Kind.HEADQUARTERS
        if wecom_id not in has_children:
            return Department.Kind.STORE
        return Department.Kind.REGION if parent_of[wecom_id] in roots else Department.Kind.OTHER

    new = [
        Department(wecom_id=d["id"], name=d["name"][:64], order=d.get("order", 0), kind=kind_for(d["id"]))
        for d in remote
        if d["id"] not in existing
    ]
    Department.objects.bulk_create(new)
    counts["departments_created"] += len(new)
    by_wecom = {d.wecom_id: d for d in Department.objects.all()}
    changed = []
    for d in remote:
        department = by_wecom[d["id"]]
        parent = by_wecom.get(parent_of[d["id"]])
        values = {"name": d["name"][:64], "order": d.get("order", 0), "parent_id": parent.pk if parent else None}
        if any(getattr(department, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(department, field, value)
            changed.append(department)
    Department.objects.bulk_update(changed, ["name", "order", "parent"], batch_size=WRITE_BATCH)
    created = {d.wecom_id for d in new}
    counts["departments_updated"] += sum(1 for d in changed if d.wecom_id not in created)
    departments_rebuild_paths()
    return min(roots)


# --- associates -------------------------------------------------------------------------
@transaction.atomic
def _apply_associates(members: list[dict], counts: Counter) -> None:
    remote = {m["userid"].lower(): m for m in members}
    department_pk = dict(Department.objects.values_list("wecom_id", "pk"))
    existing = {a.userid: a for a in Associate.objects.all()}
    now = timezone.now()

    def values_for(member: dict) -> dict:
        active = member.get("status", 1) == 1
        return {
            "name": (member.get("name") or member["userid"])[:64],
            "avatar": (member.get("avatar") or "")[:512],
            "position": (member.get("position") or "")[:128],
            "main_department_id": department_pk.get(member.get("main_department")),
            "is_active": active,
        }

    new, changed = [], []
    for userid, member in remote.items():
        values = values_for(member)
        associate = existing.get(userid)
        if associate is None:
            # Verification is not in the API: admins keep it; new accounts start from the setting.
            new.append(Associate(userid=userid, is_verified=settings.WECOM_NEW_ASSOCIATES_VERIFIED,
                                 deactivated_at=None if values["is_active"] else now, **values))  # fmt: skip
        elif any(getattr(associate, field) != value for field, value in values.items()):
            if associate.is_active and not values["is_active"]:
                associate.deactivated_at = now
            elif values["is_active"]:
                associate.deactivated_at = None
            for field, value in values.items():
                setattr(associate, field, value)
            changed.append(associate)
    left = [a for userid, a in existing.items() if userid not in remote and a.is_active]
    for associate in left:
        associate.is_active, associate.deactivated_at = False, now
    Associate.objects.bulk_create(new, batch_size=WRITE_BATCH)
    fields = ["name", "avatar", "position", "main_department", "is_active", "deactivated_at", "updated_at"]
    for associate in changed + left:
        associate.updated_at = now
    Associate.objects.bulk_update(changed + left, fields, batch_size=WRITE_BATCH)
    counts["associates_created"] += len(new)
    counts["associates_updated"] += len(changed)
    counts["associates_deactivated"] += len(left)

    # Memberships: exactly the departments WeCom lists for each member.
    associate_pk = {u: pk for u, pk in Associate.objects.values_list("userid", "pk") if u in remote}
    wanted = {
        (associate_pk[userid], department_pk[d])
        for userid, member in remote.items()
        for d in member.get("department", [])
        if d in department_pk
    }
    synced = set(associate_pk.values())
    have = {
        (a, d): pk
        for pk, a, d in AssociateDepartment.objects.values_list("pk", "associate_id", "department_id")
        if a in synced
    }
    AssociateDepartment.objects.bulk_create(
        [AssociateDepartment(associate_id=a, department_id=d) for a, d in wanted - set(have)], batch_size=WRITE_BATCH
    )
    stale = [pk for key, pk in have.items() if key not in wanted]
    for batch in _batches(stale):
        AssociateDepartment.objects.filter(pk__in=batch).delete()


# --- tags --------------------------------------------------------------------------------
def tags_sync(client, counts: Counter) -> None:
    """Bring the tag library in step with WeCom's corp tags."""
    _apply_tags(client.corp_tag_list(), counts)


@transaction.atomic
def _apply_tags(groups: list[dict], counts: Counter) -> None:
    existing_groups = {g.group_id: g for g in CustomerTagGroup.objects.all()}
    existing_tags = {t.tag_id: t for t in CustomerTag.objects.all()}
    seen_groups, seen_tags = set(), set()
    for remote in groups:
        values = {"name": remote["group_name"][:64], "order": remote.get("order", 0),
                  "is_deleted": bool(remote.get("deleted"))}  # fmt: skip
        group = existing_groups.get(remote["group_id"])
        if group is None:
            group = CustomerTagGroup.objects.create(group_id=remote["group_id"], **values)
            counts["tag_groups_created"] += 1
        elif any(getattr(group, k) != v for k, v in values.items()):
            CustomerTagGroup.objects.filter(pk=group.pk).update(**values)
            counts["tag_groups_updated"] += 1
        seen_groups.add(remote["group_id"])
        for tag in remote.get("tag", []):
            values = {"name": tag["name"][:64], "order": tag.get("order", 0), "is_deleted": bool(tag.get("deleted")),
                      "group_id": group.pk}  # fmt: skip
            current = existing_tags.get(tag["id"])
            if current is None:
                CustomerTag.objects.create(tag_id=tag["id"], **values)
                counts["tags_created"] += 1
            elif any(getattr(current, k) != v for k, v in values.items()):
                CustomerTag.objects.filter(pk=current.pk).update(**values)
                counts["tags_updated"] += 1
            seen_tags.add(tag["id"])
    counts["tags_deleted"] += (
        CustomerTag.objects.exclude(tag_id__in=seen_tags).filter(is_deleted=False).update(is_deleted=True)
    )
    CustomerTagGroup.objects.exclude(group_id__in=seen_groups).filter(is_deleted=False).update(is_deleted=True)


# --- follows: customers, contacts and their tags ----------------------------------------
def _fetched(client, chunks: list[list[str]], prefetch: int) -> Iterator[tuple[list[str], list[dict]]]:
    """Each chunk with its follows, in order. ``prefetch`` chunks are fetched ahead in
    threads while the caller writes the current one, so the network and the
    database work at the same time; memory stays bounded by the chunks in flight."""

    def fetch(chunk: list[str]) -> list[dict]:
        try:
            return [item for page in client.batch_get_by_user_pages(chunk) for item in page]
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # an in-process transport may have opened one

    if prefetch <= 0:
        for chunk in chunks:
            yield chunk, fetch(chunk)
        return
    with ThreadPoolExecutor(max_workers=prefetch, thread_name_prefix="directory-fetch") as pool:
        pending: deque = deque()
        upcoming = iter(chunks)
        for chunk in itertools.islice(upcoming, prefetch):
            pending.append((chunk, pool.submit(fetch, chunk)))
        try:
            while pending:
                chunk, future = pending.popleft()
                items = future.result()
                following = next(upcoming, None)
                if following is not None:
                    pending.append((following, pool.submit(fetch, following)))
                yield chunk, items
        finally:
            for _chunk, future in pending:
                future.cancel()


def _sync_contacts(client, run: DirectorySyncRun, counts: Counter, progress: Progress | None, prefetch: int) -> None:
    userids = sorted(u.lower() for u in client.follow_user_list())
    chunks = [userids[i : i + CHUNK_MEMBERS] for i in range(0, len(userids), CHUNK_MEMBERS)]
    done = sum(len(chunk) for chunk in chunks if run.checkpoint_userid and chunk[-1] <= run.checkpoint_userid)
    todo = [chunk for chunk in chunks if not (run.checkpoint_userid and chunk[-1] <= run.checkpoint_userid)]
    for chunk, items in _fetched(client, todo, prefetch):
        done += len(chunk)
        with transaction.atomic():
            _apply_chunk(chunk, items, counts)
            run.checkpoint_userid = chunk[-1]
            run.counts = dict(counts)
            run.save(update_fields=["checkpoint_userid", "counts"])
        if progress:
            progress("contacts", done, len(userids))
    run.checkpoint_userid = ""


def customer_values_from_api(contact: dict) -> dict:
    return {
        "name": (contact.get("name") or "")[:255],
        "type": contact.get("type", 1),
        "gender": contact.get("gender", 0),
        "avatar": (contact.get("avatar") or "")[:512],
        "corp_name": (contact.get("corp_name") or "")[:255],
    }


def contact_values_from_follow(follow: dict) -> dict:
    return {
        "added_at": dt.datetime.fromtimestamp(int(follow.get("createtime") or 0), tz=dt.UTC),
        "remark": (follow.get("remark") or "")[:255],
        "description": (follow.get("description") or "")[:255],
        "add_way": follow.get("add_way", 0),
        "state": (follow.get("state") or "")[:64],
        "is_active": True,
        "removed_at": None,
    }


CONTACT_FIELDS = ["added_at", "remark", "description", "add_way", "state", "is_active", "removed_at"]
CUSTOMER_FIELDS = ["name", "type", "gender", "avatar", "corp_name"]


def _apply_chunk(chunk: list[str], items: list[dict], counts: Counter) -> None:
    """Write one chunk's differences. Compared as tuples (no model instances for the
    rows that did not change); new rows go in with COPY (``common.bulk``)."""
    associate_pk = dict(Associate.objects.filter(userid__in=chunk).values_list("userid", "pk"))
    remote_customers = {item["external_contact"]["external_userid"]: item["external_contact"] for item in items}
    customer_pk = _upsert_customers(remote_customers, counts)
    tag_pk = dict(CustomerTag.objects.values_list("tag_id", "pk"))

    wanted: dict[tuple[int, int], tuple] = {}
    wanted_tags: dict[tuple[int, int], set[int]] = {}
    for item in items:
        follow = item["follow_info"]
        associate = associate_pk.get(follow["userid"].lower())
        if associate is None:
            continue  # a member the associates stage did not see (outside the visible range)
        key = (associate, customer_pk[item["external_contact"]["external_userid"]])
        values = contact_values_from_follow(follow)
        wanted[key] = tuple(values[field] for field in CONTACT_FIELDS)
        wanted_tags[key] = {tag_pk[t] for t in follow.get("tag_id") or [] if t in tag_pk}

    existing = {
        (row[1], row[2]): (row[0], row[3:])
        for row in Contact.objects.filter(associate_id__in=list(associate_pk.values()))
        .values_list("pk", "associate_id", "customer_id", *CONTACT_FIELDS)
        .iterator(chunk_size=WRITE_BATCH)
    }
    now = timezone.now()
    new, changed, removed = [], [], []
    for key, values in wanted.items():
        have = existing.get(key)
        if have is None:
            new.append((*key, *values))
        elif have[1] != values:
            changed.append(Contact(pk=have[0], **dict(zip(CONTACT_FIELDS, values, strict=True))))
    active = CONTACT_FIELDS.index("is_active")
    removed = [pk for key, (pk, values) in existing.items() if key not in wanted and values[active]]
    created = bulk.insert_missing(model=Contact, fields=["associate", "customer", *CONTACT_FIELDS], rows=new)
    Contact.objects.bulk_update(changed, CONTACT_FIELDS, batch_size=WRITE_BATCH)
    for batch in _batches(removed):
        Contact.objects.filter(pk__in=batch).update(is_active=False, removed_at=now)
    counts["contacts_created"] += created
    counts["contacts_updated"] += len(changed)
    counts["contacts_removed"] += len(removed)
    _sync_contact_tags(associate_pk, wanted_tags, counts)


def _upsert_customers(remote: dict[str, dict], counts: Counter) -> dict[str, int]:
    keys = list(remote)
    existing: dict[str, tuple[int, tuple]] = {}
    for batch in _batches(keys):
        for pk, external_userid, *values in Customer.objects.filter(external_userid__in=batch).values_list(
            "pk", "external_userid", *CUSTOMER_FIELDS
        ):
            existing[external_userid] = (pk, tuple(values))
    now = timezone.now()
    new, changed = [], []
    for external_userid, contact in remote.items():
        api = customer_values_from_api(contact)
        values = tuple(api[field] for field in CUSTOMER_FIELDS)
        have = existing.get(external_userid)
        if have is None:
            new.append((external_userid, *values, now))
        elif have[1] != values:
            changed.append(Customer(pk=have[0], **api))
    # Skips a customer a callback added meanwhile (ON CONFLICT DO NOTHING).
    created = bulk.insert_missing(model=Customer, fields=["external_userid", *CUSTOMER_FIELDS, "created_at"], rows=new)
    Customer.objects.bulk_update(changed, CUSTOMER_FIELDS, batch_size=WRITE_BATCH)
    counts["customers_created"] += created
    counts["customers_updated"] += len(changed)
    ids = {key: pk for key, (pk, _values) in existing.items()}
    missing = [key for key in keys if key not in ids]
    for batch in _batches(missing):
        ids.update(Customer.objects.filter(external_userid__in=batch).values_list("external_userid", "pk"))
    return ids


def _sync_contact_tags(associate_pk: dict[str, int], wanted_tags: dict, counts: Counter) -> None:
    contact_pk = {
        (a, c): pk
        for pk, a, c in Contact.objects.filter(associate_id__in=list(associate_pk.values())).values_list(
            "pk", "associate_id", "customer_id"
        )
    }
    wanted = {(contact_pk[key], tag) for key, tags in wanted_tags.items() for tag in tags}
    have = {
        (contact, tag): pk
        for pk, contact, tag in ContactTag.objects.filter(contact__associate_id__in=list(associate_pk.values()))
        .values_list("pk", "contact_id", "tag_id")
        .iterator(chunk_size=WRITE_BATCH)
    }
    # Tags of contacts WeCom still lists; a removed contact keeps its last tags.
    listed = {contact_pk[key] for key in wanted_tags}
    stale = [pk for (contact, _tag), pk in have.items() if contact in listed and (contact, _tag) not in wanted]
    bulk.insert_missing(model=ContactTag, fields=["contact", "tag"], rows=sorted(wanted - set(have)))
    for batch in _batches(stale):
        ContactTag.objects.filter(pk__in=batch).delete()
    counts["contact_tags_added"] += len(wanted - set(have))
    counts["contact_tags_removed"] += len(stale)
