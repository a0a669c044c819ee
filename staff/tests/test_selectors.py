"""Scoping: who sees which part of the directory."""

import pytest
from django.http import Http404

from staff import selectors
from staff.roles import MANAGER
from staff.tests import factories


def _ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def test_a_manager_sees_only_their_region(directory, east_manager):
    assert _ids(selectors.associates_for_user(user=east_manager)) == {directory.east_associate.pk}
    assert _ids(selectors.departments_for_user(user=east_manager)) == {directory.east.pk, directory.east_store.pk}
    assert _ids(selectors.contacts_for_user(user=east_manager)) == set(
        directory.east_associate.contacts.values_list("pk", flat=True)
    )
    assert _ids(selectors.customers_for_user(user=east_manager)) == {
        directory.east_customer.pk,
        directory.shared_customer.pk,
    }


def test_a_manager_gets_404_for_another_regions_associate(directory, east_manager):
    with pytest.raises(Http404):
        selectors.associate_get_for_user(user=east_manager, pk=directory.south_associate.pk)
    assert selectors.associate_get_for_user(user=east_manager, pk=directory.east_associate.pk)


def test_a_manager_gets_404_for_a_customer_only_another_region_has(directory, east_manager):
    with pytest.raises(Http404):
        selectors.customer_get_for_user(user=east_manager, pk=directory.south_customer.pk)


def test_an_associate_in_two_departments_is_listed_once(directory, east_manager):
    factories.associate("Both", departments=[directory.east, directory.east_store])
    rows = list(selectors.associates_for_user(user=east_manager).values_list("pk", flat=True))
    assert len(rows) == len(set(rows)) == 2


@pytest.mark.parametrize("role_fixture", ["marketing_admin", "approver"])
def test_marketing_admins_and_approvers_see_everything(directory, request, role_fixture):
    user = request.getfixturevalue(role_fixture)
    assert _ids(selectors.associates_for_user(user=user)) == {
        directory.east_associate.pk,
        directory.south_associate.pk,
    }


def test_a_manager_of_headquarters_sees_every_region(directory):
    boss = factories.user("boss", role=MANAGER, manages=[directory.hq])
    assert selectors.associates_for_user(user=boss).count() == 2


def test_a_user_without_a_role_or_department_sees_nothing(directory):
    nobody = factories.user("nobody")
    assert not selectors.associates_for_user(user=nobody).exists()
    assert not selectors.customers_for_user(user=nobody).exists()
    assert not selectors.contacts_for_user(user=nobody).exists()


def test_an_inactive_user_sees_nothing(directory, marketing_admin):
    marketing_admin.is_active = False
    assert not selectors.associates_for_user(user=marketing_admin).exists()


def test_contact_counts_are_per_associate_and_ignore_removed_contacts(directory, marketing_admin):
    directory.south_contact.is_active = False
    directory.south_contact.save()
    counts = dict(
        selectors.with_active_contact_count(selectors.associates_for_user(user=marketing_admin)).values_list(
            "pk", "contact_count"
        )
    )
    assert counts == {directory.east_associate.pk: 2, directory.south_associate.pk: 1}


def test_tag_filters_find_tagged_contacts_and_their_customers(directory, marketing_admin):
    from staff.models import Contact, Customer

    tagged_contacts = selectors.contacts_with_tag(Contact.objects.all(), tag_id=directory.gold.pk)
    assert tagged_contacts.count() == 2
    tagged_customers = selectors.customers_with_tag(Customer.objects.all(), tag_id=directory.gold.pk)
    assert _ids(tagged_customers) == {directory.east_customer.pk, directory.shared_customer.pk}
