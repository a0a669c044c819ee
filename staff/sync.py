"""Directory sync: WeCom → our directory, through the WeCom client only.

Departments, members (→ associates), corp tags, then follows (→ customers,
contacts and contact tags) in chunks of 100 members — the most
``batch/get_by_user`` takes (wecom-api.md §4). Only the differences with what we
hold are written: a second run writes nothing, and what disappeared is
soft-deleted (associates who left, contacts removed).

The follows go at WeCom's pace: several chunks are paged at once in threads
(``WECOM_SYNC_CONCURRENCY``), every call drawing from the shared rate limiter
(WeCom's 10,000 calls a minute per API, less a margin), and a "too fast" answer
(45009, 45033) pauses them all and retries the page. The pages are written as they
arrive, a few thousand follows per transaction, so the database works while the
network does; memory stays bounded by the pages in flight. When a chunk's last page
is written its removals follow, and the run's checkpoint moves past every chunk
finished so far: a run that dies half-way is resumed by the next one without
duplicates (natural keys are unique in the database anyway).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import httpx
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count
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
from wecom.client import LIMIT_BATCH_GET_BY_USER
from wecom.errors import RateLimited, TransientError

logger = logging.getLogger(__name__)

CHUNK_MEMBERS = 100  # batch/get_by_user takes at most 100 userids
PAGE_FOLLOWS = LIMIT_BATCH_GET_BY_USER  # follows per page: the most WeCom gives
# Lookups by key in batches: SQLite caps bound parameters, and long IN lists plan badly.
LOOKUP_BATCH = 2000
WRITE_BATCH = 2000
# A small brand is cut into smaller chunks, so that each fetcher has this many.
CHUNKS_PER_FETCHER = 4
# Follows written per transaction (pages as they come, of any chunks).
WRITE_ROWS = 5000
# Pages waiting for the writer, per fetcher: beyond it the fetchers wait (memory stays flat).
QUEUE_PAGES_PER_FETCHER = 8
# "Too fast" (WeCom's 45009 frequency, 45033 concurrency, or our limiter would not wait):
# all fetchers pause this long, then retry the page; after the last, the run fails (and resumes).
# WeCom blocks for the rest of the limit's period (at most a minute).
RATE_LIMIT_ERRCODES = frozenset({45009, 45033})
BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30, 60, 60)
NETWORK_RETRIES = 3  # a page whose connection failed (reset, timeout) is asked for again
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
    *, client, progress: Progress | None = None, resume: bool = True, prefetch: int | None = None
) -> DirectorySyncRun:
    """Run a sync to the end; returns the finished run (its ``counts`` say what changed).
    ``prefetch``: chunks fetched at once (default ``WECOM_SYNC_CONCURRENCY``; 0: one
    after the other, in this thread)."""
    if prefetch is None:
        prefetch = settings.WECOM_SYNC_CONCURRENCY
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
# One follow, compact (a dict per item would hold ~1.5 KB): the customer's key and values,
# the member, the contact's values and the follow's tag ids.
Row = tuple[str, tuple, str, tuple, tuple]


def _row(item: dict) -> Row:
    contact, follow = item["external_contact"], item["follow_info"]
    customer = customer_values_from_api(contact)
    values = contact_values_from_follow(follow)
    return (
        contact["external_userid"],
        tuple(customer[field] for field in CUSTOMER_FIELDS),
        follow["userid"].lower(),
        tuple(values[field] for field in CONTACT_FIELDS),
        tuple(follow.get("tag_id") or ()),
    )


class _Pace:
    """What every fetcher shares: a pause after WeCom said "too fast" (45009 frequency,
    45033 concurrency), or our own limiter would not wait. WeCom blocks for the rest of
    the limit's period, so all fetchers stop, not just the one that was refused."""

    def __init__(self):
        self._lock = threading.Lock()
        self._until = 0.0
        self.stopped = threading.Event()

    def wait(self) -> None:
        while (delay := self._until - time.monotonic()) > 0 and not self.stopped.is_set():
            self.stopped.wait(delay)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)


def _page(client, chunk: list[str], cursor: str, pace: _Pace) -> tuple[list[dict], str]:
    """One page, retried with growing pauses while WeCom (or our limiter) says "too fast",
    and up to ``NETWORK_RETRIES`` times when the connection failed (a read: the cursor stays
    good). Any other error ends the run (it resumes from its checkpoint)."""
    pauses, network = iter(BACKOFF_SECONDS), 0
    while True:
        pace.wait()
        try:
            return client.batch_get_by_user_page(chunk, cursor=cursor, limit=PAGE_FOLLOWS)
        except TransientError as error:
            if isinstance(error, RateLimited) or error.errcode in RATE_LIMIT_ERRCODES:
                if (pause := next(pauses, None)) is None:
                    raise
                logger.info("directory sync: %s; all fetchers pause %.1f s", error, pause)
                pace.pause(pause)
            elif isinstance(error.__cause__, httpx.TransportError) and network < NETWORK_RETRIES:
                network += 1
                logger.info("directory sync: %s; retrying the page", error)
                time.sleep(0.5 * network)
            else:
                raise


def _chunk_pages(client, chunk: list[str], pace: _Pace) -> Iterator[list[Row]]:
    cursor = ""
    while not pace.stopped.is_set():
        items, cursor = _page(client, chunk, cursor, pace)
        yield [_row(item) for item in items]
        if not cursor:
            return


_DONE = object()


def _fetched(client, chunks: list[list[str]], concurrency: int) -> Iterator[tuple[int, list[Row], bool]]:
    """``(chunk index, rows of one page, chunk finished)`` as the pages arrive.

    ``concurrency`` chunks are paged at once in threads (a chunk's own pages follow its
    cursor, one after the other); every call draws from the client's rate limiter, so
    together they go as fast as WeCom allows and no faster. The queue between the fetchers
    and the writer is bounded: memory stays flat when the database is the slower side.
    0: one chunk after the other in the caller's thread."""
    pace = _Pace()
    if concurrency <= 0:
        for index, chunk in enumerate(chunks):
            pages = _chunk_pages(client, chunk, pace)
            page = next(pages)
            for following in pages:
                yield index, page, False
                page = following
            yield index, page, True
        return

    pages: queue.Queue = queue.Queue(maxsize=QUEUE_PAGES_PER_FETCHER * concurrency)
    upcoming = iter(enumerate(chunks))
    upcoming_lock = threading.Lock()

    def put(event) -> bool:
        while not pace.stopped.is_set():
            try:
                pages.put(event, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetcher() -> None:
        try:
            while not pace.stopped.is_set():
                with upcoming_lock:
                    index, chunk = next(upcoming, (None, None))
                if chunk is None:
                    return
                previous = None
                for rows in _chunk_pages(client, chunk, pace):
                    if previous is not None and not put((index, previous, False)):
                        return
                    previous = rows
                if not put((index, previous or [], True)):
                    return
        except BaseException as error:  # the writer re-raises it
            put(error)
        finally:
            put(_DONE)
            connections.close_all()  # an in-process transport may have opened one

    threads = [threading.Thread(target=fetcher, name=f"directory-fetch-{n}", daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            event = pages.get()
            if event is _DONE:
                running -= 1
            elif isinstance(event, BaseException):
                raise event
            else:
                yield event
    finally:
        pace.stopped.set()
        for thread in threads:
            thread.join()


def chunk_size(members: int, concurrency: int) -> int:
    """Members per chunk: ``CHUNK_MEMBERS``, or fewer when a small brand would otherwise
    give the fetchers too few chunks to share (each chunk's pages come one after the other).
    A smaller chunk costs at most one more page (its last one, part-full)."""
    if concurrency <= 0:
        return CHUNK_MEMBERS
    return max(1, min(CHUNK_MEMBERS, -(-members // (concurrency * CHUNKS_PER_FETCHER))))


class _Chunk:
    """A chunk being written: the follows seen so far, per associate."""

    def __init__(self, userids: list[str]):
        self.userids = userids
        self.seen: dict[int, set[int]] = {}
        self.finished = False


def _sync_contacts(client, run: DirectorySyncRun, counts: Counter, progress: Progress | None, prefetch: int) -> None:
    """Pages are written as they arrive, several pages per transaction (``WRITE_ROWS``);
    a chunk's removals and the checkpoint come with the chunk's last page. The checkpoint
    only moves past chunks that are finished, all of them before it too: a run that dies
    resumes there, and what it had written past it is found unchanged (the writes are
    differences, so doing a page twice writes nothing the second time)."""
    userids = sorted(u.lower() for u in client.follow_user_list())
    size = chunk_size(len(userids), prefetch)
    chunks = [userids[i : i + size] for i in range(0, len(userids), size)]
    done = sum(len(chunk) for chunk in chunks if run.checkpoint_userid and chunk[-1] <= run.checkpoint_userid)
    todo = [chunk for chunk in chunks if not (run.checkpoint_userid and chunk[-1] <= run.checkpoint_userid)]
    associate_pk = dict(Associate.objects.filter(userid__in=userids).values_list("userid", "pk"))
    tag_pk = dict(CustomerTag.objects.values_list("tag_id", "pk"))
    state: list[_Chunk | None] = [_Chunk(chunk) for chunk in todo]
    next_unfinished = 0
    batch: list[tuple[int, list[Row]]] = []
    batch_rows = 0
    finishing: list[int] = []

    def flush() -> None:
        nonlocal next_unfinished, done, batch_rows
        with transaction.atomic():
            for index, seen in _apply_rows(batch, associate_pk, tag_pk, counts).items():
                for associate, customers in seen.items():
                    state[index].seen.setdefault(associate, set()).update(customers)
            for index in finishing:
                _finish_chunk(state[index], associate_pk, counts)
                state[index].finished = True
                done += len(state[index].userids)
            advanced = False
            while next_unfinished < len(state) and state[next_unfinished].finished:
                run.checkpoint_userid = state[next_unfinished].userids[-1]
                state[next_unfinished] = None  # its seen sets are no longer needed
                next_unfinished += 1
                advanced = True
            if advanced or finishing:
                run.counts = dict(counts)
                run.save(update_fields=["checkpoint_userid", "counts"])
        report = bool(finishing)
        batch.clear()
        finishing.clear()
        batch_rows = 0
        if progress and report:
            progress("contacts", done, len(userids))

    with contextlib.closing(_fetched(client, todo, prefetch)) as pages:
        for index, rows, finished in pages:
            batch.append((index, rows))
            batch_rows += len(rows)
            if finished:
                finishing.append(index)
            if batch_rows >= WRITE_ROWS or finished:
                flush()
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


def _apply_rows(
    pages: list[tuple[int, list[Row]]], associate_pk: dict[str, int], tag_pk: dict[str, int], counts: Counter
) -> dict[int, dict[int, set[int]]]:
    """Write the differences of these pages' follows (any chunks); returns per chunk the
    customers they listed per associate. Compared as tuples (no model instances for
    the rows that did not change); new rows go in with COPY (``common.bulk``)."""
    remote_customers = {row[0]: row[1] for _index, rows in pages for row in rows}
    customer_pk = _upsert_customers(remote_customers, counts)
    wanted: dict[tuple[int, int], tuple] = {}
    wanted_tags: dict[tuple[int, int], set[int]] = {}
    seen: dict[int, dict[int, set[int]]] = {}
    for index, rows in pages:
        listed = seen.setdefault(index, {})
        for external_userid, _customer, userid, values, tags in rows:
            associate = associate_pk.get(userid)
            if associate is None:
                continue  # a member the associates stage did not see (outside the visible range)
            key = (associate, customer_pk[external_userid])
            wanted[key] = values
            wanted_tags[key] = {tag_pk[t] for t in tags if t in tag_pk}
            listed.setdefault(associate, set()).add(key[1])
    if connection.vendor == "postgresql":
        contact_pk = _contacts_copy(wanted, counts)
        _contact_tags_copy({contact_pk[key]: tags for key, tags in wanted_tags.items()}, counts)
        return seen
    existing = _contacts_by_key(wanted)
    new, changed = [], []
    for key, values in wanted.items():
        have = existing.get(key)
        if have is None:
            new.append((*key, *values))
        elif have[1] != values:
            changed.append(Contact(pk=have[0], **dict(zip(CONTACT_FIELDS, values, strict=True))))
    created = bulk.insert_missing(model=Contact, fields=["associate", "customer", *CONTACT_FIELDS], rows=new)
    Contact.objects.bulk_update(changed, CONTACT_FIELDS, batch_size=WRITE_BATCH)
    counts["contacts_created"] += created
    counts["contacts_updated"] += len(changed)
    contact_pk = {key: pk for key, (pk, _values) in existing.items()}
    contact_pk.update(_contacts_by_key({key: None for key in wanted if key not in contact_pk}, values=False))
    _sync_contact_tags({contact_pk[key]: tags for key, tags in wanted_tags.items()}, counts)
    return seen


def _contacts_by_key(keys: dict[tuple[int, int], object], *, values: bool = True) -> dict:
    """The contacts with these (associate, customer) keys: ``key → (pk, values)``, or
    ``key → pk`` without values. By associate, then customers in batches."""
    customers_of: dict[int, list[int]] = {}
    for associate, customer in keys:
        customers_of.setdefault(associate, []).append(customer)
    fields = CONTACT_FIELDS if values else []
    found: dict = {}
    # Associates with few keys share a query: associate IN (…) AND customer IN (…), then filtered.
    groups: list[tuple[list[int], list[int]]] = []
    associates, customers = [], []
    for associate, theirs in customers_of.items():
        if customers and len(customers) + len(theirs) > LOOKUP_BATCH:
            groups.append((associates, customers))
            associates, customers = [], []
        for part in _batches(theirs):
            if len(part) == LOOKUP_BATCH:
                groups.append(([associate], part))
            else:
                associates.append(associate)
                customers.extend(part)
    if customers:
        groups.append((associates, customers))
    for associates, customers in groups:
        rows = Contact.objects.filter(associate_id__in=associates, customer_id__in=customers).values_list(
            "pk", "associate_id", "customer_id", *fields
        )
        for pk, associate, customer, *rest in rows:
            if (associate, customer) in keys:
                found[(associate, customer)] = (pk, tuple(rest)) if values else pk
    return found


def _finish_chunk(chunk: _Chunk, associate_pk: dict[str, int], counts: Counter) -> None:
    """After a chunk's last page: its associates' contacts that WeCom no longer listed are
    removed (soft). Only associates with more active contacts than listed are read."""
    associates = [associate_pk[u] for u in chunk.userids if u in associate_pk]
    active = (
        Contact.objects.filter(associate_id__in=associates, is_active=True)
        .values_list("associate_id")
        .annotate(n=Count("id"))
    )
    over = [associate for associate, n in active if n > len(chunk.seen.get(associate, ()))]
    removed = [
        pk
        for pk, associate, customer in Contact.objects.filter(associate_id__in=over, is_active=True).values_list(
            "pk", "associate_id", "customer_id"
        )
        if customer not in chunk.seen.get(associate, ())
    ]
    now = timezone.now()
    for batch in _batches(removed):
        Contact.objects.filter(pk__in=batch).update(is_active=False, removed_at=now)
    counts["contacts_removed"] += len(removed)


def _differences_copy(cursor, *, model, keys: list[str], fields: list[str], rows, extra: dict) -> tuple[str, int, int]:
    """PostgreSQL: COPY ``rows`` (``keys`` then ``fields``) into the connection's staging
    table, UPDATE the rows whose values differ, INSERT the missing ones (``extra``: more
    columns and their values, for new rows only; a row a concurrent writer inserted is
    skipped). Returns (staging table, updated, created): set-based, no key lists in SQL."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*keys, *fields]
    staged = bulk.stage(cursor, name=f"stage_sync_{model._meta.db_table}", rows=rows,
                        like=f"SELECT {', '.join(quote(c) for c in columns)} FROM {table}")  # fmt: skip
    match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    mine = ", ".join(f"t.{quote(f)}" for f in fields)
    theirs = ", ".join(f"s.{quote(f)}" for f in fields)
    assign = ", ".join(f"{quote(f)} = s.{quote(f)}" for f in fields)
    changed = f"({mine}) IS DISTINCT FROM ({theirs})"
    cursor.execute(f"UPDATE {table} t SET {assign} FROM {staged} s WHERE {match} AND {changed}")
    updated = cursor.rowcount
    extra_columns = "".join(f", {quote(name)}" for name in extra)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}{extra_columns}) "
        f"SELECT {', '.join(f's.{quote(c)}' for c in columns)}{', %s' * len(extra)} FROM {staged} s "
        f"ON CONFLICT DO NOTHING",
        list(extra.values()),
    )
    return staged, updated, cursor.rowcount


def _customers_copy(remote: dict[str, tuple], counts: Counter) -> dict[str, int]:
    with connection.cursor() as cursor:
        staged, updated, created = _differences_copy(
            cursor, model=Customer, keys=["external_userid"], fields=CUSTOMER_FIELDS,
            rows=((key, *values) for key, values in remote.items()), extra={"created_at": timezone.now()},
        )  # fmt: skip
        table = connection.ops.quote_name(Customer._meta.db_table)
        cursor.execute(f"SELECT s.external_userid, t.id FROM {staged} s JOIN {table} t USING (external_userid)")
        ids = dict(cursor.fetchall())
    counts["customers_created"] += created
    counts["customers_updated"] += updated
    return ids


def _contacts_copy(wanted: dict[tuple[int, int], tuple], counts: Counter) -> dict[tuple[int, int], int]:
    with connection.cursor() as cursor:
        staged, updated, created = _differences_copy(
            cursor, model=Contact, keys=["associate_id", "customer_id"], fields=CONTACT_FIELDS,
            rows=((*key, *values) for key, values in wanted.items()), extra={},
        )  # fmt: skip
        table = connection.ops.quote_name(Contact._meta.db_table)
        cursor.execute(f"SELECT t.associate_id, t.customer_id, t.id FROM {staged} s JOIN {table} t "
                       f"USING (associate_id, customer_id)")  # fmt: skip
        ids = {(associate, customer): pk for associate, customer, pk in cursor.fetchall()}
    counts["contacts_created"] += created
    counts["contacts_updated"] += updated
    return ids


def _contact_tags_copy(wanted_tags: dict[int, set[int]], counts: Counter) -> None:
    """Each listed contact's tags become exactly WeCom's, set-based: the wanted (contact, tag)
    pairs staged (a contact without tags as (contact, NULL)), the others of those contacts
    deleted, the missing ones inserted."""
    quote = connection.ops.quote_name
    table = quote(ContactTag._meta.db_table)
    rows = ((contact, tag) for contact, tags in wanted_tags.items() for tag in (tags or [None]))
    with connection.cursor() as cursor:
        staged = bulk.stage(cursor, name="stage_sync_contact_tags", rows=rows,
                            like=f"SELECT contact_id, tag_id FROM {table}")  # fmt: skip
        cursor.execute(
            f"DELETE FROM {table} t USING (SELECT DISTINCT contact_id FROM {staged}) listed "
            f"WHERE t.contact_id = listed.contact_id AND NOT EXISTS "
            f"(SELECT 1 FROM {staged} s WHERE s.contact_id = t.contact_id AND s.tag_id = t.tag_id)"
        )
        counts["contact_tags_removed"] += cursor.rowcount
        cursor.execute(f"INSERT INTO {table} (contact_id, tag_id) SELECT contact_id, tag_id FROM {staged} "
                       f"WHERE tag_id IS NOT NULL ON CONFLICT DO NOTHING")  # fmt: skip
        counts["contact_tags_added"] += cursor.rowcount


def _upsert_customers(remote: dict[str, tuple], counts: Counter) -> dict[str, int]:
    """``remote``: external_userid → values in ``CUSTOMER_FIELDS`` order."""
    if connection.vendor == "postgresql":
        return _customers_copy(remote, counts)
    keys = list(remote)
    existing: dict[str, tuple[int, tuple]] = {}
    for batch in _batches(keys):
        for pk, external_userid, *values in Customer.objects.filter(external_userid__in=batch).values_list(
            "pk", "external_userid", *CUSTOMER_FIELDS
        ):
            existing[external_userid] = (pk, tuple(values))
    now = timezone.now()
    new, changed = [], []
    for external_userid, values in remote.items():
        have = existing.get(external_userid)
        if have is None:
            new.append((external_userid, *values, now))
        elif have[1] != values:
            changed.append(Customer(pk=have[0], **dict(zip(CUSTOMER_FIELDS, values, strict=True))))
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


def _sync_contact_tags(wanted_tags: dict[int, set[int]], counts: Counter) -> None:
    """Each listed contact's tags become exactly WeCom's (a removed contact keeps its last tags)."""
    contacts = list(wanted_tags)
    have: dict[tuple[int, int], int] = {}
    for batch in _batches(contacts):
        rows = ContactTag.objects.filter(contact_id__in=batch).values_list("pk", "contact_id", "tag_id")
        have.update(((contact, tag), pk) for pk, contact, tag in rows)
    wanted = {(contact, tag) for contact, tags in wanted_tags.items() for tag in tags}
    stale = [pk for key, pk in have.items() if key not in wanted]
    added = sorted(wanted - set(have))
    bulk.insert_missing(model=ContactTag, fields=["contact", "tag"], rows=added)
    for batch in _batches(stale):
        ContactTag.objects.filter(pk__in=batch).delete()
    counts["contact_tags_added"] += len(added)
    counts["contact_tags_removed"] += len(stale)
