"""Reads of the directory, always scoped to the requesting user.

Marketing admins, approvers and superusers see the whole directory. Anyone else
sees the departments they manage (``ManagerAssignment``) and their subtrees, the
associates who belong to those departments, and those associates' contacts and
customers. Every view, API and admin queryset starts here; an object outside the
scope is a 404 (``*_get_for_user``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Customer, Department, ManagerAssignment
from staff.roles import ROLES_WITH_FULL_SCOPE


@dataclass(frozen=True)
class DirectoryScope:
    everything: bool
    department_paths: tuple[str, ...] = ()
    # The managed departments themselves, read with their paths (pages that start from the
    # user's top departments need no second query); not part of the scope's identity.
    departments: tuple[Department, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.department_paths


def directory_scope(*, user) -> DirectoryScope:
    """What part of the directory ``user`` may see; computed once per user object."""
    cached = getattr(user, "_directory_scope", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active:
        scope = DirectoryScope(everything=False)
    elif user.is_superuser or user.groups.filter(name__in=ROLES_WITH_FULL_SCOPE).exists():
        scope = DirectoryScope(everything=True)
    else:
        departments = {a.department.path: a.department for a in
                       ManagerAssignment.objects.filter(user=user).select_related("department")}  # fmt: skip
        paths = tuple(sorted(departments))
        scope = DirectoryScope(everything=False, department_paths=paths,
                               departments=tuple(departments[p] for p in paths))  # fmt: skip
    user._directory_scope = scope
    return scope


def department_subtree_q(paths, prefix: str = "") -> Q:
    """``Q`` matching departments (through ``prefix``) inside any of the subtrees."""
    return reduce(operator.or_, (Q(**{f"{prefix}path__startswith": path}) for path in paths))


def departments_for_user(*, user) -> QuerySet[Department]:
    scope = directory_scope(user=user)
    if scope.everything:
        return Department.objects.all()
    if scope.is_empty:
        return Department.objects.none()
    return Department.objects.filter(department_subtree_q(scope.department_paths))


def associates_in_departments(departments: QuerySet[Department]) -> QuerySet[Associate]:
    """Associates with a membership in any of ``departments`` (no duplicates)."""
    member = AssociateDepartment.objects.filter(associate_id=OuterRef("pk"), department__in=departments)
    return Associate.objects.filter(Exists(member))


def associates_for_user(*, user) -> QuerySet[Associate]:
    scope = directory_scope(user=user)
    if scope.everything:
        return Associate.objects.all()
    if scope.is_empty:
        return Associate.objects.none()
    return associates_in_departments(departments_for_user(user=user))


def contacts_for_user(*, user) -> QuerySet[Contact]:
    scope = directory_scope(user=user)
    if scope.everything:
        return Contact.objects.all()
    if scope.is_empty:
        return Contact.objects.none()
    return Contact.objects.filter(associate__in=associates_for_user(user=user))


def customers_for_user(*, user) -> QuerySet[Customer]:
    scope = directory_scope(user=user)
    if scope.everything:
        return Customer.objects.all()
    if scope.is_empty:
        return Customer.objects.none()
    seen_by = Contact.objects.filter(customer_id=OuterRef("pk"), associate__in=associates_for_user(user=user))
    return Customer.objects.filter(Exists(seen_by))


def associate_get_for_user(*, user, pk) -> Associate:
    return get_object_or_404(associates_for_user(user=user).select_related("main_department"), pk=pk)


def customer_get_for_user(*, user, pk) -> Customer:
    return get_object_or_404(customers_for_user(user=user), pk=pk)


def _active_contact_count(column: str) -> Coalesce:
    """How many active contacts point at the outer row through ``column``, as one
    correlated subquery evaluated only for the rows a page shows: no N+1, and no
    GROUP BY over 10M contacts."""
    count = (
        Contact.objects.filter(**{column: OuterRef("pk")}, is_active=True)
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count, output_field=IntegerField()), 0)


def with_active_contact_count(associates: QuerySet[Associate]) -> QuerySet[Associate]:
    """Annotate ``contact_count``: the associate's active contacts."""
    return associates.annotate(contact_count=_active_contact_count("associate_id"))


def with_contact_count_of_customer(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Annotate ``contact_count``: how many associates this customer added (active)."""
    return customers.annotate(contact_count=_active_contact_count("customer_id"))


def contacts_with_tag(contacts: QuerySet[Contact], *, tag_id: int) -> QuerySet[Contact]:
    return contacts.filter(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag_id=tag_id)))


def customers_with_tag(customers: QuerySet[Customer], *, tag_id: int) -> QuerySet[Customer]:
    tagged = ContactTag.objects.filter(contact__customer_id=OuterRef("pk"), tag_id=tag_id)
    return customers.filter(Exists(tagged))
