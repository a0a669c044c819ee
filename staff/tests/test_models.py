"""The directory's integrity lives in the database: these go around the ORM's
validation and expect the database itself to refuse."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from staff.models import Associate, Contact, ContactTag, Customer
from staff.tests import factories


def test_it_refuses_a_second_associate_with_the_same_userid(directory):
    with pytest.raises(IntegrityError), transaction.atomic():
        Associate.objects.create(userid=directory.east_associate.userid, name="Twin")


def test_it_refuses_an_upper_case_userid_because_wecom_ids_are_case_insensitive(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Associate.objects.create(userid="ZhangWei", name="张伟")


def test_it_refuses_a_second_customer_with_the_same_external_userid(directory):
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(external_userid=directory.east_customer.external_userid, name="Twin")


def test_it_refuses_the_same_contact_twice(directory):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(
            associate=directory.east_associate, customer=directory.east_customer, added_at=timezone.now()
        )


@pytest.mark.parametrize("missing", ["associate_id", "customer_id"])
def test_it_refuses_a_contact_to_a_missing_associate_or_customer(directory, missing):
    values = {"associate_id": directory.east_associate.pk, "customer_id": directory.south_customer.pk}
    values[missing] = 987_654_321
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(added_at=timezone.now(), **values)
        connection.check_constraints()  # foreign keys are deferred to commit; check now


def test_it_refuses_the_same_tag_twice_on_a_contact(directory):
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactTag.objects.create(contact=directory.east_contact, tag=directory.gold)


def test_deleting_a_customer_removes_its_contacts_and_their_tags(directory):
    directory.shared_customer.delete()
    assert not Contact.objects.filter(customer_id=directory.shared_customer.pk).exists()
    assert ContactTag.objects.filter(contact__customer_id=directory.shared_customer.pk).count() == 0


def test_a_department_cannot_be_deleted_while_it_has_children(directory):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        directory.east.delete()


def test_profile_photo_readiness_follows_the_avatar(directory):
    with_photo = factories.associate("Mia", departments=[directory.east_store], avatar="https://example.com/a.png")
    assert with_photo.has_profile_photo
    assert not directory.east_associate.has_profile_photo


def test_the_roles_migration_gave_each_group_exactly_the_current_permissions(db):
    from django.contrib.auth.models import Group

    from staff.roles import ROLE_PERMISSIONS

    for role, grants in ROLE_PERMISSIONS.items():
        expected = {f"{app}.{action}_{model}" for (app, model), actions in grants.items() for action in actions}
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=role).permissions.all()}
        assert granted == expected, role
