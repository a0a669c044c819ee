"""A believable demo brand at any size: regions → stores → associates (some
unverified, some without a profile photo, some with more than 200 contacts),
customers with tiers and interest tags, customers shared by colleagues of the
same store. Deterministic for a given seed and day.

Loaded set-based (``staff.bulk``: COPY on PostgreSQL), streaming, so 10,000
associates × 500 contacts fit in flat memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import secrets
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from common import bulk
from staff.demo_data import (
    ADD_WAYS,
    GIVEN_NAMES,
    MALLS,
    NICKNAMES,
    POSITIONS,
    REGIONS,
    SURNAMES,
    TAG_GROUPS,
)
from staff.models import (
    Associate,
    AssociateDepartment,
    Contact,
    ContactTag,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    ManagerAssignment,
    User,
)
from staff.roles import APPROVER, MANAGER, MARKETING_ADMIN
from staff.services import DirectoryError, departments_rebuild_paths

MAX_ASSOCIATES = 200_000
MAX_CONTACTS_PER_ASSOCIATE = 20_000  # WeCom's expanded per-member ceiling (wecom-api.md §5)
ASSOCIATES_PER_STORE = 8
STORES_PER_REGION = 12
# Customers per contact in a store's pool: 1.3 contacts per customer means about
# a quarter of customers were added by two or more colleagues of the same store.
CONTACTS_PER_CUSTOMER = 1.3
TOP_SELLER_SHARE = 0.10  # these have 1.8–3× the mean, so some exceed the 200 limit
NO_PHOTO_SHARE = 0.08
CONTACT_HISTORY_DAYS = 3 * 365


@dataclass(frozen=True)
class DemoSize:
    associates: int = 60
    contacts_per_associate: int = 120
    unverified_share: float = 0.15
    seed: int = 42

    def validate(self) -> None:
        if not 1 <= self.associates <= MAX_ASSOCIATES:
            raise DirectoryError(f"--associates must be between 1 and {MAX_ASSOCIATES:,}, got {self.associates}.")
        if not 1 <= self.contacts_per_associate <= MAX_CONTACTS_PER_ASSOCIATE:
            raise DirectoryError(
                f"--contacts-per-associate must be between 1 and {MAX_CONTACTS_PER_ASSOCIATE:,} "
                f"(WeCom's per-member ceiling), got {self.contacts_per_associate}."
            )
        if not 0 <= self.unverified_share <= 1:
            raise DirectoryError(f"--unverified-share must be between 0 and 1, got {self.unverified_share}.")


@dataclass
class DemoLogin:
    username: str
    password: str
    role: str


@dataclass
class DemoSummary:
    departments: int = 0
    associates: int = 0
    customers: int = 0
    contacts: int = 0
    contact_tags: int = 0
    logins: list[DemoLogin] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.departments + self.associates + self.customers + self.contacts + self.contact_tags


@dataclass
class _Plan:
    """What to generate, decided up front from the seed (small: one entry per associate/store)."""

    store_ids: list[int]
    associate_store: list[int]  # index into store_ids, per associate
    associate_contacts: list[int]  # contact count, per associate
    store_pool: list[tuple[int, int]]  # (first customer index, pool size), per store

    @property
    def customers(self) -> int:
        return sum(size for _first, size in self.store_pool)

    @property
    def contacts(self) -> int:
        return sum(self.associate_contacts)


def directory_is_empty() -> bool:
    return not (Department.objects.exists() or Associate.objects.exists() or Customer.objects.exists())


def directory_flush() -> None:
    """Remove the whole directory (demo reset). TRUNCATE on PostgreSQL: a DELETE
    of 10M rows would take minutes."""
    models = [
        ContactTag,
        Contact,
        AssociateDepartment,
        ManagerAssignment,
        Associate,
        Customer,
        CustomerTag,
        CustomerTagGroup,
        Department,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
            # Inside a transaction with deferred foreign-key checks pending, TRUNCATE
            # is refused; run those checks now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            for model in models:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def _weighted_table(weights: list[tuple[object, int]]) -> list[object]:
    table = []
    for value, weight in weights:
        table.extend([value] * weight)
    return table


def _plan(size: DemoSize, rng: random.Random, store_ids: list[int]) -> _Plan:
    stores = len(store_ids)
    associate_store = [i % stores for i in range(size.associates)]
    rng.shuffle(associate_store)
    mean = size.contacts_per_associate
    associate_contacts = []
    for _ in range(size.associates):
        factor = rng.uniform(1.8, 3.0) if rng.random() < TOP_SELLER_SHARE else rng.uniform(0.3, 1.4)
        associate_contacts.append(max(1, min(MAX_CONTACTS_PER_ASSOCIATE, round(mean * factor))))
    per_store_total = [0] * stores
    per_store_max = [0] * stores
    for store, count in zip(associate_store, associate_contacts, strict=True):
        per_store_total[store] += count
        per_store_max[store] = max(per_store_max[store], count)
    store_pool = []
    first = 0
    for store in range(stores):
        pool = max(per_store_max[store], math.ceil(per_store_total[store] / CONTACTS_PER_CUSTOMER))
        store_pool.append((first, pool))
        first += pool
    return _Plan(store_ids, associate_store, associate_contacts, store_pool)


def _create_departments(size: DemoSize) -> list[int]:
    """HQ → regions → stores; returns the store primary keys (small: bulk_create)."""
    stores = max(1, math.ceil(size.associates / ASSOCIATES_PER_STORE))
    # At least three regions when there are three stores, so manager scoping shows.
    regions = min(len(REGIONS), stores, max(3, math.ceil(stores / STORES_PER_REGION)))
    hq = Department.objects.create(wecom_id=1, name="品牌总部", kind=Department.Kind.HEADQUARTERS)
    region_rows = Department.objects.bulk_create(
        [
            Department(wecom_id=2 + i, name=REGIONS[i][0], parent=hq, kind=Department.Kind.REGION, order=i)
            for i in range(regions)
        ]
    )
    store_rows = []
    seen: dict[str, int] = {}
    for i in range(stores):
        region_index = i % regions
        cities = REGIONS[region_index][1]
        city = cities[(i // regions) % len(cities)]
        mall = MALLS[(i // (regions * len(cities))) % len(MALLS)]
        base = f"{city}{mall}"
        seen[base] = seen.get(base, 0) + 1
        name = f"{base}店" if seen[base] == 1 else f"{base}{seen[base]}店"
        store_rows.append(
            Department(
                wecom_id=100 + i,
                name=name,
                parent=region_rows[region_index],
                kind=Department.Kind.STORE,
                order=i,
            )
        )
    created = Department.objects.bulk_create(store_rows)
    departments_rebuild_paths()
    if created and created[0].pk is None:  # backends that do not return keys
        return list(
            Department.objects.filter(kind=Department.Kind.STORE).order_by("wecom_id").values_list("pk", flat=True)
        )
    return [department.pk for department in created]


def _create_tags(seed: int) -> tuple[list[list[int]], list[list[object]]]:
    """Returns, per tag group, its tag primary keys and a weighted pick table of them."""
    ids_per_group, pick_tables = [], []
    for order, (group_name, is_tier, tags) in enumerate(TAG_GROUPS):
        group = CustomerTagGroup.objects.create(
            group_id=f"etDemoGroup{seed}x{order}", name=group_name, order=order, is_tier=is_tier
        )
        created = CustomerTag.objects.bulk_create(
            [
                CustomerTag(tag_id=f"etDemoTag{seed}x{order}x{i}", group=group, name=name, order=i)
                for i, (name, _weight) in enumerate(tags)
            ]
        )
        if created and created[0].pk is None:
            created = list(group.tags.order_by("order"))
        ids = [tag.pk for tag in created]
        ids_per_group.append(ids)
        pick_tables.append(_weighted_table([(tag_pk, weight) for tag_pk, (_n, weight) in zip(ids, tags, strict=True)]))
    return ids_per_group, pick_tables


def _person_name(rng: random.Random) -> tuple[str, str]:
    surname, surname_py = SURNAMES[int(rng.random() * len(SURNAMES))]
    given, given_py = GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))]
    return surname + given, surname_py + given_py


def _associate_rows(size, plan, rng, first_pk, now) -> Iterator[tuple]:
    for index in range(size.associates):
        name, pinyin = _person_name(rng)
        verified = rng.random() >= size.unverified_share
        avatar = "" if rng.random() < NO_PHOTO_SHARE else f"https://wework.qpic.cn/wwpic/demo/{index}/0"
        position = POSITIONS[int(rng.random() * len(POSITIONS))]
        main_department = plan.store_ids[plan.associate_store[index]]
        yield (
            first_pk + index,
            f"{pinyin}{index + 1:05d}",
            name,
            avatar,
            position,
            main_department,
            verified,
            True,
            None,
            now,
            now,
        )


ASSOCIATE_FIELDS = [
    "id",
    "userid",
    "name",
    "avatar",
    "position",
    "main_department",
    "is_verified",
    "is_active",
    "deactivated_at",
    "created_at",
    "updated_at",
]
CUSTOMER_FIELDS = ["id", "external_userid", "name", "type", "gender", "avatar", "corp_name", "created_at"]
CONTACT_FIELDS = [
    "id",
    "associate",
    "customer",
    "added_at",
    "remark",
    "description",
    "add_way",
    "state",
    "is_active",
    "removed_at",
]


def _customer_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return _person_name(rng)[0]
    if roll < 0.7:
        return SURNAMES[int(rng.random() * len(SURNAMES))][0] + ("女士" if rng.random() < 0.8 else "先生")
    if roll < 0.9:
        return NICKNAMES[int(rng.random() * len(NICKNAMES))]
    return "小" + GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))][0][0]


def _customer_rows(size, plan, rng, first_pk, now, tier_of: array, tier_table) -> Iterator[tuple]:
    for index in range(plan.customers):
        digest = hashlib.blake2b(f"{size.seed}:{index}".encode(), digest_size=14).hexdigest()
        customer_type = 2 if rng.random() < 0.05 else 1
        gender = 2 if rng.random() < 0.78 else (1 if rng.random() < 0.8 else 0)
        tier_of.append(tier_table[int(rng.random() * len(tier_table))])
        yield (
            first_pk + index,
            f"wm{digest}",
            _customer_name(rng),
            customer_type,
            gender,
            "",
            "" if customer_type == 1 else "某某科技有限公司",
            now,
        )


def _contact_rows(size, plan, rng, first_pk, first_associate_pk, first_customer_pk, now) -> Iterator[tuple]:
    add_way_table = _weighted_table(ADD_WAYS)
    history_seconds = CONTACT_HISTORY_DAYS * 86400
    pk = first_pk
    for index in range(size.associates):
        associate_pk = first_associate_pk + index
        store = plan.associate_store[index]
        first, pool = plan.store_pool[store]
        count = min(plan.associate_contacts[index], pool)
        for offset in rng.sample(range(pool), count):
            added_at = now - dt.timedelta(seconds=int(rng.random() * history_seconds) + 3600)
            add_way = add_way_table[int(rng.random() * len(add_way_table))]
            state = f"store-{plan.store_ids[store]}" if add_way == 1 else ""
            yield (pk, associate_pk, first_customer_pk + first + offset, added_at, "", "", add_way, state, True, None)
            pk += 1


def _contact_tag_rows(
    first_contact_pk, contacts, first_customer_pk, contact_customer, tier_of, ids_per_group, first_pk
) -> Iterator[tuple]:
    """Each contact carries its customer's tier; some also an interest and a source.
    Derived from the contact id by a multiplicative hash, so no second RNG pass."""
    interests, sources = ids_per_group[1], ids_per_group[2]
    pk = first_pk
    for offset in range(contacts):
        contact_pk = first_contact_pk + offset
        customer_pk = contact_customer[offset]
        yield (pk, contact_pk, tier_of[customer_pk - first_customer_pk])
        pk += 1
        mix = (contact_pk * 2654435761) & 0xFFFFFFFF
        if mix % 100 < 35:
            yield (pk, contact_pk, interests[(mix >> 8) % len(interests)])
            pk += 1
        if (mix >> 16) % 100 < 20:
            yield (pk, contact_pk, sources[(mix >> 4) % len(sources)])
            pk += 1


def _logins() -> list[DemoLogin]:
    """The demo logins, each with a fresh random password (no fixed defaults)."""
    return [
        DemoLogin("admin", secrets.token_urlsafe(12), MARKETING_ADMIN),
        DemoLogin("approver", secrets.token_urlsafe(12), APPROVER),
        DemoLogin("manager", secrets.token_urlsafe(12), MANAGER),
    ]


def _create_users(logins: list[DemoLogin], managed_department_pk: int) -> None:
    for login in logins:
        user, _created = User.objects.get_or_create(username=login.username)
        user.is_staff = True
        user.is_superuser = login.role == MARKETING_ADMIN
        user.set_password(login.password)
        user.save()
        user.groups.set([Group.objects.get(name=login.role)])
        if login.role == MANAGER:
            ManagerAssignment.objects.get_or_create(user=user, department_id=managed_department_pk)


def logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.txt"


def write_logins_file(logins: list[DemoLogin]) -> Path:
    path = logins_file()
    path.write_text("".join(f"{login.username}\t{login.password}\t{login.role}\n" for login in logins))
    path.chmod(0o600)
    return path


def demo_directory_create(
    *,
    size: DemoSize,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    create_logins: bool = True,
) -> DemoSummary:
    """Create the demo directory in an empty database, in one transaction.

    ``progress(label, total)`` returns a callback taking the rows just written.
    """
    size.validate()
    if not directory_is_empty():
        raise DirectoryError("The directory already has data; pass --flush to replace it with the demo brand.")
    rng = random.Random(size.seed)
    local_midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    now = local_midnight.astimezone(dt.UTC)
    summary = DemoSummary()

    def tracker(label: str, total: int):
        return progress(label, total) if progress else None

    with transaction.atomic():
        store_ids = _create_departments(size)
        summary.departments = Department.objects.count()
        ids_per_group, pick_tables = _create_tags(size.seed)
        plan = _plan(size, rng, store_ids)

        first_associate = bulk.next_primary_key(Associate)
        summary.associates = bulk.bulk_load(
            model=Associate,
            fields=ASSOCIATE_FIELDS,
            rows=_associate_rows(size, plan, rng, first_associate, now),
            on_batch=tracker("associates", size.associates),
        )
        first_membership = bulk.next_primary_key(AssociateDepartment)
        bulk.bulk_load(
            model=AssociateDepartment,
            fields=["id", "associate", "department"],
            rows=(
                (first_membership + i, first_associate + i, plan.store_ids[store])
                for i, store in enumerate(plan.associate_store)
            ),
        )

        first_customer = bulk.next_primary_key(Customer)
        tier_of = array("q")
        summary.customers = bulk.bulk_load(
            model=Customer,
            fields=CUSTOMER_FIELDS,
            rows=_customer_rows(size, plan, rng, first_customer, now, tier_of, pick_tables[0]),
            on_batch=tracker("customers", plan.customers),
        )

        first_contact = bulk.next_primary_key(Contact)
        contact_customer = array("q")

        def contacts_recording_customer():
            for row in _contact_rows(size, plan, rng, first_contact, first_associate, first_customer, now):
                contact_customer.append(row[2])
                yield row

        summary.contacts = bulk.bulk_load(
            model=Contact,
            fields=CONTACT_FIELDS,
            rows=contacts_recording_customer(),
            on_batch=tracker("contacts", plan.contacts),
        )
        summary.contact_tags = bulk.bulk_load(
            model=ContactTag,
            fields=["id", "contact", "tag"],
            rows=_contact_tag_rows(
                first_contact,
                summary.contacts,
                first_customer,
                contact_customer,
                tier_of,
                ids_per_group,
                bulk.next_primary_key(ContactTag),
            ),
            on_batch=tracker("contact tags", round(summary.contacts * 1.55)),
        )
        bulk.reset_sequences([Associate, AssociateDepartment, Customer, Contact, ContactTag])
        if create_logins:
            summary.logins = _logins()
            first_region = Department.objects.filter(kind=Department.Kind.REGION).order_by("wecom_id").first()
            _create_users(summary.logins, first_region.pk)
    bulk.analyze([Associate, AssociateDepartment, Customer, Contact, ContactTag])
    if summary.logins:
        write_logins_file(summary.logins)
    return summary
