"""Writes to the directory. The only write path: admin, commands, sync and tasks
call these."""

from __future__ import annotations

from django.db import transaction

from staff.models import Department


class DirectoryError(ValueError):
    """A change to the directory that would break it; the message is for people."""


def _compute_paths(parents: dict[int, int | None]) -> dict[int, str]:
    """Materialised paths (``/1/4/17/``) for every department, from its parent map."""
    paths: dict[int, str] = {}
    for start in parents:
        chain = []
        node = start
        while node is not None and node not in paths:
            if node in chain:
                raise DirectoryError(f"Department {node} is its own ancestor: the department tree has a cycle.")
            chain.append(node)
            node = parents.get(node)
        prefix = paths[node] if node is not None else "/"
        for member in reversed(chain):
            prefix = f"{prefix}{member}/"
            paths[member] = prefix
    return paths


@transaction.atomic
def departments_rebuild_paths() -> int:
    """Recompute every department's ``path`` from the parent links; returns how
    many changed. Department trees have thousands of rows, not millions."""
    rows = list(Department.objects.select_for_update().values_list("pk", "parent_id", "path"))
    paths = _compute_paths({pk: parent_id for pk, parent_id, _path in rows})
    changed = [Department(pk=pk, path=paths[pk]) for pk, _parent, path in rows if paths[pk] != path]
    Department.objects.bulk_update(changed, ["path"], batch_size=1000)
    return len(changed)


def department_check_parent(*, department: Department, parent: Department | None) -> None:
    """Refuse a parent that lies inside the department's own subtree."""
    if parent is None or department.pk is None:
        return
    if parent.pk == department.pk or (department.path and parent.path.startswith(department.path)):
        raise DirectoryError(f"“{parent}” is inside “{department}”, so it cannot be its parent.")


@transaction.atomic
def department_save(*, department: Department) -> Department:
    """Save a department (new or moved) and keep the paths of its subtree right."""
    department_check_parent(department=department, parent=department.parent)
    department.save()
    departments_rebuild_paths()
    department.refresh_from_db(fields=["path"])
    return department
