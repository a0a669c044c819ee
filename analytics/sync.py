"""Results sync (DESIGN.md §5.5): what WeCom says happened → Post and Delivery facts.

For a time span (cut into windows of at most 30 days): ``get_moment_list`` (enterprise
and personal moments, cursor pages) → Post rows; for each post, who published it (the
creator of a personal post; ``get_moment_task`` for an enterprise one); for each
(post, member) ``get_moment_send_result`` → Delivery rows on the local day it was
published. Ingest is bulk and idempotent (unique (post, associate, customer), conflicts
ignored): a re-run adds nothing, and a crashed run is resumed by running it again.
Memory stays bounded: one page at a time.

The tasks WeCom names as published are confirmed here, through the one service that
writes ``published`` (``campaigns.confirmation``): by WeCom moment and member, so that an
associate who published one variant of an enterprise moment is not confirmed for another.

The day of a delivery is the local day WeCom says the post went out (DESIGN.md §4), never
the moment's planned or created day. A personal post goes out when it is created. WeCom
does not say when a member published an enterprise moment (``get_moment_task`` only says
that they did), so it went out when we first saw it published: our confirmation of the
member's task (PublishTask.published_at, by this run or by dispatch's confirmation) for a
moment of ours; for another enterprise moment, the day of its deliveries already stored
(an earlier run saw it first), else this run's time. A 23:50 moment published at 00:20
counts on the next day; the error is at most the time between two syncs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from analytics import rollups
from analytics.models import Delivery, Engagement, Post
from analytics.rules import local_day
from campaigns.confirmation import publish_tasks_confirm
from campaigns.models import EnterpriseTask, Moment, PublishTask, State
from common.bulk import insert_missing, stage
from staff.models import Associate, Customer
from wecom.errors import PermanentError

logger = logging.getLogger(__name__)

WINDOW = dt.timedelta(days=30)
LOOKUP_BATCH = 2000  # customers looked up at a time (SQLite caps bound parameters)
AFTER_CLOSE = dt.timedelta(days=2)  # closed moments are still read this long (late likes, late confirmations)
LEAD = dt.timedelta(hours=1)  # WeCom creates an enterprise moment a little before its publish time
PUBLISHED = 1  # get_moment_task's publish_status


def windows(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[int, int]]:
    at = start
    while at < end:
        upto = min(end, at + WINDOW)
        yield int(at.timestamp()), int(upto.timestamp())
        at = upto


def sync_span(*, now: dt.datetime, moments=None) -> tuple[dt.datetime, dt.datetime] | None:
    """The span results sync reads: from the first publish time of ``moments`` (by default
    the moments being published, live, or closed within ``AFTER_CLOSE``) to now; None
    when there is nothing to read."""
    if moments is None:
        moments = Moment.objects.filter(
            Q(state__in=[State.DISPATCHING, State.LIVE]) | Q(state=State.CLOSED, expires_at__gte=now - AFTER_CLOSE)
        )
    first = moments.aggregate(first=Min("publish_at"))["first"]
    if first is None or first > now:
        return None
    return first - LEAD, now


def _our_moments(moment_ids: list[str]) -> dict[str, int]:
    """WeCom moment id → our Moment, from the tasks that created or shared it."""
    found = dict(EnterpriseTask.objects.filter(wecom_moment_id__in=moment_ids)
                 .values_list("wecom_moment_id", "variant__moment_id"))  # fmt: skip
    found.update(PublishTask.objects.filter(wecom_moment_id__in=moment_ids).values_list("wecom_moment_id", "moment_id"))
    return found


def _well_formed(item) -> bool:
    """A moment of a page we can store: an id, a creation time, a known kind. A half page
    (an item cut short) is logged and the rest of the page goes in."""
    try:
        ok = bool(item.get("moment_id")) and int(item["create_time"]) > 0 and int(item.get("create_type", 0)) in (0, 1)
    except (AttributeError, KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        logger.warning("results sync: a moment without id, time or kind skipped: %r", item)
    return ok


def _posts_upsert(items: list[dict]) -> list[Post]:
    items = [item for item in items if _well_formed(item)]
    ids = [item["moment_id"] for item in items]
    ours = _our_moments(ids)
    creators = dict(Associate.objects.filter(userid__in=[i.get("creator", "") for i in items if i.get("creator")])
                    .values_list("userid", "pk"))  # fmt: skip
    Post.objects.bulk_create(
        [Post(wecom_moment_id=item["moment_id"], kind=int(item.get("create_type", 0)),
              creator_id=creators.get(item.get("creator", "")), moment_id=ours.get(item["moment_id"]),
              created_at=dt.datetime.fromtimestamp(int(item["create_time"]), tz=dt.UTC),
              text=(item.get("text") or {}).get("content", "")) for item in items],
        ignore_conflicts=True,
    )  # fmt: skip
    posts = list(Post.objects.filter(wecom_moment_id__in=ids))
    late = [p for p in posts if p.moment_id is None and p.wecom_moment_id in ours]  # ours since the last run
    if late:
        with transaction.atomic():
            for post in late:
                post.moment_id = ours[post.wecom_moment_id]
                Delivery.objects.filter(post=post).update(moment_id=post.moment_id)  # one UPDATE per late post
                Engagement.objects.filter(post=post).update(moment_id=post.moment_id)
            Post.objects.bulk_update(late, ["moment"])
            days = Delivery.objects.filter(post__in=late).values_list("day", flat=True).distinct()
            rollups.mark(days=list(days), campaign_ids=_campaigns_of([p.moment_id for p in late]), rebuild=True)
    return posts


def _publishers(client, post: Post) -> list[str]:
    if post.kind == Post.Kind.PERSONAL:
        return [post.creator.userid] if post.creator else []
    return [task["userid"] for page in client.moment_task_pages(post.wecom_moment_id) for task in page
            if task.get("publish_status") == PUBLISHED]  # fmt: skip


# A page of a send result: (post, moment, associate, local day, external_userids).
SendPage = tuple[int, "int | None", int, dt.date, list[str]]
# Send-result pages are stored together up to this many customers (one transaction, one COPY,
# one statement): every page of a post by default, at most this many rows at a time.
INGEST_BATCH_ROWS = 50_000


def deliveries_store(
    *, post_id: int, moment_id: int | None, associate_id: int, day: dt.date, external_userids: list[str]
) -> tuple[int, int]:
    """Store one page of a send result: the deliveries of ``post_id`` by ``associate_id``
    to these customers on ``day``. Returns (added, unknown customers). See ``deliveries_store_pages``."""
    return deliveries_store_pages([(post_id, moment_id, associate_id, day, external_userids)])


def deliveries_store_pages(pages: list[SendPage]) -> tuple[int, int]:
    """Store these send-result pages in one transaction; returns (added, unknown customers).
    Idempotent (unique (post, associate, customer), conflicts ignored): a re-run adds nothing.

    On PostgreSQL: one COPY of every (post, moment, associate, day, external_userid) into
    the connection's staging table (reused, TRUNCATEd), then one statement that looks the
    customers up, inserts the new deliveries (``ON CONFLICT DO NOTHING``) and counts both:
    the customer lookup is a join in the database, across all the pages. Elsewhere one
    lookup of all the pages' customers, then batched INSERTs. The roll-up buckets it
    changed are marked in the same transaction."""
    pages = [(post, moment, associate, day, sorted(set(ids))) for post, moment, associate, day, ids in pages if ids]
    if not pages:
        return 0, 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            added, known = _deliveries_copy(pages)
        else:
            added, known = _deliveries_insert(pages)
        if added:
            rollups.mark(days={page[3] for page in pages}, campaign_ids=_campaigns_of({page[1] for page in pages}))
    return added, sum(len(page[4]) for page in pages) - known


def _deliveries_copy(pages: list[SendPage]) -> tuple[int, int]:
    quote = connection.ops.quote_name
    delivery, customer = quote(Delivery._meta.db_table), quote(Customer._meta.db_table)
    rows = ((post, moment, associate, day, external) for post, moment, associate, day, ids in pages for external in ids)
    with connection.cursor() as cursor:
        staged = stage(cursor, name="stage_delivery_send_result", rows=rows,
                       like=f"SELECT d.post_id, d.moment_id, d.associate_id, d.day, c.external_userid "
                            f"FROM {delivery} d, {customer} c")  # fmt: skip
        cursor.execute(
            f"WITH known AS MATERIALIZED (SELECT s.post_id, s.moment_id, s.associate_id, c.id AS customer_id, s.day "
            f"FROM {staged} s JOIN {customer} c ON c.external_userid = s.external_userid), "
            f"added AS (INSERT INTO {delivery} (post_id, moment_id, associate_id, customer_id, day) "
            f"SELECT post_id, moment_id, associate_id, customer_id, day FROM known ON CONFLICT DO NOTHING RETURNING 1) "
            f"SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM known)"
        )
        added, known = cursor.fetchone()
    return added, known


def _deliveries_insert(pages: list[SendPage]) -> tuple[int, int]:
    wanted = sorted({external for page in pages for external in page[4]})
    pk_of: dict[str, int] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[start : start + LOOKUP_BATCH]
        pk_of.update(Customer.objects.filter(external_userid__in=batch).values_list("external_userid", "pk"))
    rows = [(post, moment, associate, pk_of[external], day)
            for post, moment, associate, day, ids in pages for external in ids if external in pk_of]  # fmt: skip
    added = insert_missing(model=Delivery, fields=["post", "moment", "associate", "customer", "day"], rows=rows)
    return added, len(rows)


def _campaigns_of(moment_ids) -> list[int]:
    ids = [pk for pk in moment_ids if pk is not None]
    return list(Moment.objects.filter(pk__in=ids).values_list("campaign_id", flat=True).distinct()) if ids else []


def engagements_store(*, post: Post, associate_id: int, comments: dict) -> int:
    """Store ``get_moment_comments``' likes and comments of one (post, member); returns
    how many were new. A like or comment is identified by its actor and second."""
    items = [(Engagement.Kind.LIKE, i) for i in comments.get("like_list") or []]
    items += [(Engagement.Kind.COMMENT, i) for i in comments.get("comment_list") or []]
    items = [(kind, i) for kind, i in items if (i.get("external_userid") or i.get("userid")) and i.get("create_time")]
    if not items:
        return 0
    external = {i["external_userid"] for _kind, i in items if i.get("external_userid")}
    customers = dict(Customer.objects.filter(external_userid__in=external).values_list("external_userid", "pk"))
    days: dict[dt.date, dt.date] = {}
    rows = []
    for kind, item in items:
        at = dt.datetime.fromtimestamp(int(item["create_time"]), tz=dt.UTC)
        if at.date() not in days:  # one rules lookup per UTC date, not per like
            days[at.date()] = local_day(at)[1].zone
        day = at.astimezone(days[at.date()]).date()
        actor = item.get("external_userid") or item["userid"]
        rows.append((post.pk, post.moment_id, associate_id, int(kind), customers.get(actor), actor, at, day))
    fields = ["post", "moment", "associate", "kind", "customer", "actor", "created_at", "day"]
    with transaction.atomic():
        added = insert_missing(model=Engagement, fields=fields, rows=rows)
        if added:
            rollups.mark(days={row[-1] for row in rows}, campaign_ids=_campaigns_of([post.moment_id]))
    return added


class _Deliveries:
    """A post's send-result pages, stored together: every ``INGEST_BATCH_ROWS`` customers
    and at the end of the post (one transaction each)."""

    def __init__(self):
        self.pages: list[SendPage] = []
        self.rows = 0
        self.added = 0

    def add(self, page: SendPage) -> None:
        self.pages.append(page)
        self.rows += len(page[4])
        if self.rows >= INGEST_BATCH_ROWS:
            self.flush()

    def flush(self) -> int:
        if self.pages:
            stored, unknown = deliveries_store_pages(self.pages)
            if unknown:
                logger.info("results sync: %s customers not in the directory yet", unknown)
            self.added += stored
        self.pages, self.rows = [], 0
        return self.added


def _deliveries_ingest(client, post: Post, userid: str, associate_id: int, day: dt.date, batch: _Deliveries) -> None:
    for page in client.moment_send_result_pages(post.wecom_moment_id, userid):
        external = [row["external_userid"] for row in page if row.get("external_userid")]
        batch.add((post.pk, post.moment_id, associate_id, day, external))


def _publication_days(post: Post, associate_ids: list[int], now: dt.datetime) -> dict[int, dt.date]:
    """The local day each member's copy of ``post`` went out (see the module's docstring):
    the first time we saw it published. Call after this run's confirmation. Two queries for
    an enterprise post; the rules are looked up once per date, not per member."""
    zones: dict[dt.date, object] = {}

    def day_of(at: dt.datetime) -> dt.date:
        if at.date() not in zones:
            zones[at.date()] = local_day(at)[1].zone
        return at.astimezone(zones[at.date()]).date()

    if post.kind == Post.Kind.PERSONAL:
        return dict.fromkeys(associate_ids, day_of(post.created_at))
    confirmed = dict(PublishTask.objects.filter(wecom_moment_id=post.wecom_moment_id, associate_id__in=associate_ids,
                                                published_at__isnull=False)
                     .values_list("associate_id", "published_at"))  # fmt: skip
    seen = dict(Delivery.objects.filter(post=post, associate_id__in=associate_ids).values("associate_id")
                .annotate(first=Min("day")).values_list("associate_id", "first"))  # fmt: skip
    today = day_of(now)
    # Every one of these is a time we saw it published, never before it was: the first is the truest.
    return {pk: min(day_of(confirmed[pk]) if pk in confirmed else today, seen.get(pk, today)) for pk in associate_ids}


def results_sync(*, client, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None) -> dict[str, int]:
    """Posts, who published them, their deliveries, likes and comments, for the moments
    created in [start, end). ``now``: the time of this run (what it saw, it saw then)."""
    now = now or timezone.now()
    counts = {"posts": 0, "published": 0, "deliveries": 0, "engagements": 0, "skipped": 0}
    for start_time, end_time in windows(start, end):
        for page in client.moment_list_pages(start_time=start_time, end_time=end_time):
            for post in _posts_upsert(page):
                counts["posts"] += 1
                try:
                    publishers = _publishers(client, post)
                except PermanentError as error:  # deleted or unknown in WeCom by now: log and go on
                    logger.warning("results sync: %s skipped: %s", post.wecom_moment_id, error)
                    counts["skipped"] += 1
                    continue
                names = [userid.lower() for userid in publishers]
                associates = dict(Associate.objects.filter(userid__in=names).values_list("userid", "pk"))
                counts["published"] += publish_tasks_confirm(wecom_moment_id=post.wecom_moment_id,
                                                             userids=list(associates), at=now)  # fmt: skip
                days = _publication_days(post, list(associates.values()), now)
                deliveries = _Deliveries()
                for userid, associate_id in associates.items():
                    try:
                        _deliveries_ingest(client, post, userid, associate_id, days[associate_id], deliveries)
                        if post.moment_id:  # engagement on our moments; personal posts only take slots
                            found = client.moment_comments(post.wecom_moment_id, userid)
                            counts["engagements"] += engagements_store(post=post, associate_id=associate_id,
                                                                       comments=found)  # fmt: skip
                    except PermanentError as error:
                        logger.warning("results sync: %s / %s skipped: %s", post.wecom_moment_id, userid, error)
                        counts["skipped"] += 1
                counts["deliveries"] += deliveries.flush()
                post.synced_at = now
                post.save(update_fields=["synced_at"])
    return counts
