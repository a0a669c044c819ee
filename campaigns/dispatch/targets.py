"""Who a variant reaches: the active associates of its departments' subtrees and its named associates."""

from __future__ import annotations

import operator
from functools import reduce

from django.db.models import Q

from campaigns.models import Variant
from staff.models import Associate, Department


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
