"""Small, explicit directory builders for tests."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth.models import Group
from django.utils import timezone

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
from staff.services import department_save

_numbers = itertools.count(1)


def department(name: str, *, parent: Department | None = None, kind=Department.Kind.STORE) -> Department:
    return department_save(department=Department(wecom_id=next(_numbers) + 10_000, name=name, parent=parent, kind=kind))


def associate(name: str, *, departments: list[Department], verified: bool = True, avatar: str = "") -> Associate:
    member = Associate.objects.create(
        userid=f"{name.lower()}{next(_numbers)}",
        name=name,
        is_verified=verified,
        avatar=avatar,
        main_department=departments[0],
    )
    AssociateDepartment.objects.bulk_create([AssociateDepartment(associate=member, department=d) for d in departments])
    return member


def customer(name: str) -> Customer:
    return Customer.objects.create(external_userid=f"wm{name.lower()}{next(_numbers)}", name=name)


def contact(associate: Associate, customer: Customer, *, days_ago: int = 10, tags=()) -> Contact:
    link = Contact.objects.create(
        associate=associate, customer=customer, added_at=timezone.now() - dt.timedelta(days=days_ago)
    )
    ContactTag.objects.bulk_create([ContactTag(contact=link, tag=tag) for tag in tags])
    return link


def tag(name: str, *, group_name: str = "Tier") -> CustomerTag:
    group, _ = CustomerTagGroup.objects.get_or_create(group_id=f"etg-{group_name}", defaults={"name": group_name})
    return CustomerTag.objects.create(tag_id=f"et-{name}-{next(_numbers)}", group=group, name=name)


def ensure_roles() -> None:
    """The role groups come from data migrations; a transactional test's flush removes
    them (Django re-creates permissions, not migration data), so put them back."""
    from django.contrib.auth.models import Permission

    from staff.roles import ROLE_PERMISSIONS, roles_sync

    if Group.objects.filter(name__in=list(ROLE_PERMISSIONS)).count() < len(ROLE_PERMISSIONS):
        roles_sync(group_model=Group, permission_model=Permission)


def user(username: str, *, role: str | None = None, manages: list[Department] = (), staff: bool = True) -> User:
    ensure_roles()
    person = User.objects.create_user(username=username, password="pw-for-tests-only", is_staff=staff)
    if role:
        person.groups.add(Group.objects.get(name=role))
    for managed in manages:
        ManagerAssignment.objects.create(user=person, department=managed)
    return person
