"""Seed the sandbox with a believable brand at any size: regions → stores →
members (some unverified, some without a profile photo, some with more than 200
customers), customers with tiers and interest tags, customers shared by
colleagues of the same store. Deterministic for a given seed and day.

This is WeCom's side of the demo: the app learns it only by syncing over the API.
Loaded set-based (``common.bulk``: COPY on PostgreSQL), streaming, so 10,000
members × 500 follows fit in flat memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from common import bulk
from wecom.sandbox.brand_data import (
    ADD_WAYS,
    GIVEN_NAMES,
    MALLS,
    NICKNAMES,
    POSITIONS,
    REGIONS,
    SURNAMES,
    TAG_GROUPS,
)
from wecom.sandbox.models import (
    AccessToken,
    CallbackDelivery,
    ContactWay,
    Customer,
    Department,
    FeedCount,
    Follow,
    FollowTag,
    Media,
    Member,
    Message,
    Moment,
    MomentDelivery,
    MomentInteraction,
    MomentJob,
    MomentTask,
    MomentVisible,
    RateWindow,
    Tag,
    TagGroup,
    WelcomeCode,
)

MAX_MEMBERS = 200_000
MAX_FOLLOWS_PER_MEMBER = 20_000  # WeCom's expanded per-member ceiling (wecom-api.md §5)
MEMBERS_PER_STORE = 8
STORES_PER_REGION = 12
# Customers per follow in a store's pool: 1.3 follows per customer means about a
# quarter of customers added two or more colleagues of the same store.
FOLLOWS_PER_CUSTOMER = 1.3
TOP_SELLER_SHARE = 0.10  # these have 1.8–3× the mean, so some exceed the 200 limit
NO_PHOTO_SHARE = 0.08
FOLLOW_HISTORY_DAYS = 3 * 365
ROOT_DEPARTMENT = 1
FIRST_REGION_DEPARTMENT = 2
FIRST_STORE_DEPARTMENT = 100

MEMBER_FIELDS = ["id", "userid", "name", "department", "main_department", "position", "gender", "avatar", "status",
                 "is_verified", "is_licensed"]  # fmt: skip
CUSTOMER_FIELDS = ["id", "external_userid", "name", "type", "gender", "avatar", "corp_name"]
FOLLOW_FIELDS = ["id", "member", "customer", "createtime", "remark", "description", "add_way", "state"]


class BrandError(ValueError):
    """A request the seeder cannot honour; the message is for people."""


@dataclass(frozen=True)
class BrandSize:
    members: int = 60
    follows_per_member: int = 120
    unverified_share: float = 0.15
    seed: int = 42

    def validate(self) -> None:
        if not 1 <= self.members <= MAX_MEMBERS:
            raise BrandError(f"--associates must be between 1 and {MAX_MEMBERS:,}, got {self.members}.")
        if not 1 <= self.follows_per_member <= MAX_FOLLOWS_PER_MEMBER:
            raise BrandError(
                f"--contacts-per-associate must be between 1 and {MAX_FOLLOWS_PER_MEMBER:,} "
                f"(WeCom's per-member ceiling), got {self.follows_per_member}."
            )
        if not 0 <= self.unverified_share <= 1:
            raise BrandError(f"--unverified-share must be between 0 and 1, got {self.unverified_share}.")


@dataclass
class BrandSummary:
    departments: int = 0
    members: int = 0
    customers: int = 0
    follows: int = 0
    follow_tags: int = 0
    unverified: list[str] = field(default_factory=list)
    tier_group_id: str = ""
    first_region_id: int = FIRST_REGION_DEPARTMENT

    @property
    def rows(self) -> int:
        return self.departments + self.members + self.customers + self.follows + self.follow_tags

    def as_json(self) -> str:
        return json.dumps({**self.__dict__, "rows": self.rows}, ensure_ascii=False)


@dataclass
class _Plan:
    """What to generate, decided up front from the seed (one entry per member/store)."""

    store_ids: list[int]  # WeCom department ids of the stores
    member_store: list[int]  # index into store_ids, per member
    member_follows: list[int]  # follow count, per member
    store_pool: list[tuple[int, int]]  # (first customer index, pool size), per store

    @property
    def customers(self) -> int:
        return sum(size for _first, size in self.store_pool)

    @property
    def follows(self) -> int:
        return sum(self.member_follows)


def sandbox_is_empty() -> bool:
    return not (Department.objects.exists() or Member.objects.exists() or Customer.objects.exists())


def sandbox_flush() -> None:
    """Forget the whole sandbox corp."""
    bulk.truncate(
        [MomentInteraction, MomentDelivery, MomentVisible, FeedCount, MomentTask, Moment, MomentJob, RateWindow,
         FollowTag, Follow, Tag, TagGroup, Customer, Member, Department, Message, Media, AccessToken,
         CallbackDelivery, ContactWay, WelcomeCode]
    )  # fmt: skip


def _weighted_table(weights: list[tuple[object, int]]) -> list[object]:
    table = []
    for value, weight in weights:
        table.extend([value] * weight)
    return table


def _plan(size: BrandSize, rng: random.Random, store_ids: list[int]) -> _Plan:
    stores = len(store_ids)
    member_store = [i % stores for i in range(size.members)]
    rng.shuffle(member_store)
    mean = size.follows_per_member
    member_follows = []
    for _ in range(size.members):
        factor = rng.uniform(1.8, 3.0) if rng.random() < TOP_SELLER_SHARE else rng.uniform(0.3, 1.4)
        member_follows.append(max(1, min(MAX_FOLLOWS_PER_MEMBER, round(mean * factor))))
    per_store_total = [0] * stores
    per_store_max = [0] * stores
    for store, count in zip(member_store, member_follows, strict=True):
        per_store_total[store] += count
        per_store_max[store] = max(per_store_max[store], count)
    store_pool = []
    first = 0
    for store in range(stores):
        pool = max(per_store_max[store], math.ceil(per_store_total[store] / FOLLOWS_PER_CUSTOMER))
        store_pool.append((first, pool))
        first += pool
    return _Plan(store_ids, member_store, member_follows, store_pool)


def _create_departments(size: BrandSize) -> list[int]:
    """HQ → regions → stores (small: bulk_create); returns the stores' ids."""
    stores = max(1, math.ceil(size.members / MEMBERS_PER_STORE))
    # At least three regions when there are three stores, so manager scoping shows.
    regions = min(len(REGIONS), stores, max(3, math.ceil(stores / STORES_PER_REGION)))
    rows = [Department(id=ROOT_DEPARTMENT, name="品牌总部", name_en="Headquarters", parentid=0)]
    rows += [Department(id=FIRST_REGION_DEPARTMENT + i, name=REGIONS[i][0], parentid=ROOT_DEPARTMENT, order=i)
             for i in range(regions)]  # fmt: skip
    seen: dict[str, int] = {}
    store_ids = []
    for i in range(stores):
        region = i % regions
        cities = REGIONS[region][1]
        city = cities[(i // regions) % len(cities)]
        mall = MALLS[(i // (regions * len(cities))) % len(MALLS)]
        base = f"{city}{mall}"
        seen[base] = seen.get(base, 0) + 1
        name = f"{base}店" if seen[base] == 1 else f"{base}{seen[base]}店"
        store_ids.append(FIRST_STORE_DEPARTMENT + i)
        rows.append(Department(id=store_ids[-1], name=name, parentid=FIRST_REGION_DEPARTMENT + region, order=i))
    Department.objects.bulk_create(rows)
    return store_ids


def _create_tags(seed: int, created_at: int) -> tuple[list[list[int]], list[list[object]], str]:
    """Per tag group: its tag primary keys and a weighted pick table; and the tier group's id."""
    ids_per_group, pick_tables, tier_group_id = [], [], ""
    for order, (group_name, is_tier, tags) in enumerate(TAG_GROUPS):
        group = TagGroup.objects.create(group_id=f"etDemoGroup{seed}x{order}", name=group_name, order=order,
                                        create_time=created_at)  # fmt: skip
        if is_tier:
            tier_group_id = group.group_id
        Tag.objects.bulk_create(
            [
                Tag(tag_id=f"etDemoTag{seed}x{order}x{i}", group=group, name=name, order=i, create_time=created_at)
                for i, (name, _weight) in enumerate(tags)
            ]  # fmt: skip
        )
        ids = list(group.tags.order_by("order").values_list("pk", flat=True))
        ids_per_group.append(ids)
        pick_tables.append(_weighted_table([(pk, weight) for pk, (_n, weight) in zip(ids, tags, strict=True)]))
    return ids_per_group, pick_tables, tier_group_id


def _person_name(rng: random.Random) -> tuple[str, str]:
    surname, surname_py = SURNAMES[int(rng.random() * len(SURNAMES))]
    given, given_py = GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))]
    return surname + given, surname_py + given_py


def _member_rows(size, plan, rng, first_pk, unverified: list[str]) -> Iterator[tuple]:
    for index in range(size.members):
        name, pinyin = _person_name(rng)
        userid = f"{pinyin}{index + 1:05d}"
        verified = rng.random() >= size.unverified_share
        if not verified:
            unverified.append(userid)
        avatar = "" if rng.random() < NO_PHOTO_SHARE else f"https://wework.qpic.cn/wwpic/demo/{index}/0"
        position = POSITIONS[int(rng.random() * len(POSITIONS))]
        store = plan.store_ids[plan.member_store[index]]
        yield (first_pk + index, userid, name, json.dumps([store]), store, position, "0", avatar, 1, verified, True)


def _customer_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return _person_name(rng)[0]
    if roll < 0.7:
        return SURNAMES[int(rng.random() * len(SURNAMES))][0] + ("女士" if rng.random() < 0.8 else "先生")
    if roll < 0.9:
        return NICKNAMES[int(rng.random() * len(NICKNAMES))]
    return "小" + GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))][0][0]


def _customer_rows(size, plan, rng, first_pk, tier_of: array, tier_table) -> Iterator[tuple]:
    for index in range(plan.customers):
        digest = hashlib.blake2b(f"{size.seed}:{index}".encode(), digest_size=14).hexdigest()
        customer_type = 2 if rng.random() < 0.05 else 1
        gender = 2 if rng.random() < 0.78 else (1 if rng.random() < 0.8 else 0)
        tier_of.append(tier_table[int(rng.random() * len(tier_table))])
        corp_name = "" if customer_type == 1 else "某某科技有限公司"
        yield (first_pk + index, f"wm{digest}", _customer_name(rng), customer_type, gender, "", corp_name)


def _follow_rows(size, plan, rng, first_pk, first_member_pk, first_customer_pk, now: int) -> Iterator[tuple]:
    add_way_table = _weighted_table(ADD_WAYS)
    history_seconds = FOLLOW_HISTORY_DAYS * 86400
    pk = first_pk
    for index in range(size.members):
        store = plan.member_store[index]
        first, pool = plan.store_pool[store]
        count = min(plan.member_follows[index], pool)
        for offset in rng.sample(range(pool), count):
            createtime = now - int(rng.random() * history_seconds) - 3600
            add_way = add_way_table[int(rng.random() * len(add_way_table))]
            state = f"store-{plan.store_ids[store]}" if add_way == 1 else ""
            yield (pk, first_member_pk + index, first_customer_pk + first + offset, createtime, "", "", add_way, state)
            pk += 1


def _follow_tag_rows(first_follow_pk, follows, first_customer_pk, follow_customer, tier_of, ids_per_group,
                     first_pk) -> Iterator[tuple]:  # fmt: skip
    """Each follow carries its customer's tier; some also an interest and a source.
    Derived from the follow id by a multiplicative hash, so no second RNG pass."""
    interests, sources = ids_per_group[1], ids_per_group[2]
    pk = first_pk
    for offset in range(follows):
        follow_pk = first_follow_pk + offset
        yield (pk, follow_pk, tier_of[follow_customer[offset] - first_customer_pk])
        pk += 1
        mix = (follow_pk * 2654435761) & 0xFFFFFFFF
        if mix % 100 < 35:
            yield (pk, follow_pk, interests[(mix >> 8) % len(interests)])
            pk += 1
        if (mix >> 16) % 100 < 20:
            yield (pk, follow_pk, sources[(mix >> 4) % len(sources)])
            pk += 1


def brand_create(*, size: BrandSize, progress: Callable[[str, int], Callable[[int], None]] | None = None):
    """Create the brand in an empty sandbox, in one transaction. ``progress(label,
    total)`` returns a callback taking the rows just written."""
    size.validate()
    if not sandbox_is_empty():
        raise BrandError("The sandbox already has a directory; pass --flush to replace it.")
    rng = random.Random(size.seed)
    local_midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    now = int(local_midnight.timestamp())
    summary = BrandSummary()

    def tracker(label: str, total: int):
        return progress(label, total) if progress else None

    with transaction.atomic():
        store_ids = _create_departments(size)
        summary.departments = Department.objects.count()
        ids_per_group, pick_tables, summary.tier_group_id = _create_tags(size.seed, now)
        plan = _plan(size, rng, store_ids)

        first_member = bulk.next_primary_key(Member)
        summary.members = bulk.bulk_load(
            model=Member, fields=MEMBER_FIELDS, rows=_member_rows(size, plan, rng, first_member, summary.unverified),
            on_batch=tracker("members", size.members),
        )  # fmt: skip
        first_customer = bulk.next_primary_key(Customer)
        tier_of = array("q")
        summary.customers = bulk.bulk_load(
            model=Customer, fields=CUSTOMER_FIELDS,
            rows=_customer_rows(size, plan, rng, first_customer, tier_of, pick_tables[0]),
            on_batch=tracker("customers", plan.customers),
        )  # fmt: skip
        first_follow = bulk.next_primary_key(Follow)
        follow_customer = array("q")

        def follows_recording_customer():
            for row in _follow_rows(size, plan, rng, first_follow, first_member, first_customer, now):
                follow_customer.append(row[2])
                yield row

        summary.follows = bulk.bulk_load(
            model=Follow, fields=FOLLOW_FIELDS, rows=follows_recording_customer(),
            on_batch=tracker("follows", plan.follows),
        )  # fmt: skip
        summary.follow_tags = bulk.bulk_load(
            model=FollowTag, fields=["id", "follow", "tag"],
            rows=_follow_tag_rows(first_follow, summary.follows, first_customer, follow_customer, tier_of,
                                  ids_per_group, bulk.next_primary_key(FollowTag)),
            on_batch=tracker("follow tags", round(summary.follows * 1.55)),
        )  # fmt: skip
        bulk.reset_sequences([Member, Customer, Follow, FollowTag])
    bulk.analyze([Member, Customer, Follow, FollowTag])
    return summary
