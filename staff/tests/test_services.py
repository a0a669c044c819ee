import pytest

from staff.models import Department
from staff.services import DirectoryError, department_check_parent, department_save, departments_rebuild_paths
from staff.tests import factories


def test_paths_follow_the_tree(directory):
    assert directory.hq.path == f"/{directory.hq.pk}/"
    assert directory.east_store.path == f"/{directory.hq.pk}/{directory.east.pk}/{directory.east_store.pk}/"


def test_moving_a_department_moves_its_subtree(directory):
    directory.east.parent = directory.south
    department_save(department=directory.east)
    store = Department.objects.get(pk=directory.east_store.pk)
    assert store.path.startswith(Department.objects.get(pk=directory.south.pk).path)


def test_a_department_cannot_move_under_its_own_subtree(directory):
    with pytest.raises(DirectoryError, match="cannot be its parent"):
        department_check_parent(department=directory.east, parent=directory.east_store)


def test_rebuilding_is_idempotent(directory):
    assert departments_rebuild_paths() == 0


def test_a_cycle_in_the_stored_tree_is_reported(db):
    first = factories.department("A")
    second = factories.department("B", parent=first)
    Department.objects.filter(pk=first.pk).update(parent=second)
    with pytest.raises(DirectoryError, match="cycle"):
        departments_rebuild_paths()
