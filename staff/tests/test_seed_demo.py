"""``manage.py seed_demo`` at a small size."""

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import RequestFactory

from staff import selectors
from staff.models import (
    Associate,
    Contact,
    ContactTag,
    Customer,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
    User,
)


def _seed(*extra, **options):
    out = io.StringIO()
    call_command("seed_demo", "--no-progress", *extra, stdout=out, **options)
    return out.getvalue()


def _fingerprint():
    """The brand by natural keys (database ids differ between runs)."""
    return (
        sorted(Associate.objects.values_list("userid", "name", "is_verified", "avatar")),
        sorted(Contact.objects.values_list("associate__userid", "customer__external_userid", "added_at", "add_way")),
        sorted(
            ContactTag.objects.values_list(
                "contact__associate__userid", "contact__customer__external_userid", "tag__name"
            )
        ),  # fmt: skip
    )


@pytest.fixture
def seeded(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    output = _seed(associates=40, contacts_per_associate=110, seed=7)
    return output


def test_it_builds_a_believable_brand(seeded):
    assert Department.objects.filter(kind="region").count() >= 3
    stores = Department.objects.filter(kind="store")
    assert stores.count() == 5
    assert Associate.objects.count() == 40
    assert all(a.departments.get().kind == "store" for a in Associate.objects.prefetch_related("departments"))
    assert Associate.objects.filter(is_verified=False).exists()
    assert Associate.objects.filter(avatar="").exists() or Associate.objects.count() < 20
    counts = selectors.with_active_contact_count(Associate.objects.all()).values_list("contact_count", flat=True)
    assert max(counts) > 200, "some associates must exceed the unverified reach limit"
    shared = Customer.objects.annotate(n=Count("contacts")).filter(n__gte=2)
    assert shared.exists(), "some customers are contacts of several associates"
    tier_group = CustomerTagGroup.objects.get(is_tier=True)
    tagged = ContactTag.objects.filter(tag__group=tier_group).values("contact").distinct().count()
    assert tagged == Contact.objects.count(), "every contact carries its customer's tier"
    assert "Demo brand ready" in seeded


def test_the_directory_arrives_through_a_sync_from_the_sandbox(seeded):
    from wecom.sandbox import models as sandbox

    run = DirectorySyncRun.objects.get()
    assert run.status == "succeeded" and run.counts["contacts_created"] == Contact.objects.count()
    assert set(Associate.objects.values_list("userid", flat=True)) == set(
        sandbox.Member.objects.values_list("userid", flat=True)
    )
    assert Contact.objects.count() == sandbox.Follow.objects.count()
    unverified = set(sandbox.Member.objects.filter(is_verified=False).values_list("userid", flat=True))
    assert (
        unverified and set(Associate.objects.filter(is_verified=False).values_list("userid", flat=True)) == unverified
    )


def test_a_customer_has_one_tier_whoever_added_them(seeded):
    tiers_per_customer = (
        ContactTag.objects.filter(tag__group__is_tier=True)
        .values("contact__customer")
        .annotate(n=Count("tag", distinct=True))
        .filter(n__gt=1)
    )
    assert not tiers_per_customer.exists()


def test_the_printed_logins_work_and_the_manager_is_scoped(seeded, tmp_path):
    logins = {}
    for line in seeded.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] in {"admin", "approver", "manager"}:
            logins[parts[-2]] = parts[-1]
    assert set(logins) == {"admin", "approver", "manager"}
    for username, password in logins.items():
        assert authenticate(RequestFactory().post("/admin/login/"), username=username, password=password), username
    assert (tmp_path / "demo-logins.txt").read_text().count("\n") == 3
    manager = User.objects.get(username="manager")
    assert 0 < selectors.associates_for_user(user=manager).count() < Associate.objects.count()


def test_passwords_are_generated_not_fixed(seeded, tmp_path):
    first = (tmp_path / "demo-logins.txt").read_text()
    _seed("--flush", associates=40, contacts_per_associate=110, seed=7)
    assert (tmp_path / "demo-logins.txt").read_text() != first


def test_the_same_seed_builds_the_same_brand(seeded, settings):
    settings.DEBUG = True  # the debug cursor wraps COPY differently: `make run` seeds with DEBUG on
    first = _fingerprint()
    _seed("--flush", "--no-logins", associates=40, contacts_per_associate=110, seed=7)
    assert _fingerprint() == first
    _seed("--flush", "--no-logins", associates=40, contacts_per_associate=110, seed=8)
    assert _fingerprint() != first


def test_if_empty_leaves_an_existing_directory_alone(seeded):
    before = Contact.objects.count()
    output = _seed("--if-empty")
    assert "not seeding again" in output
    assert "admin" in output  # the saved logins are shown again
    assert Contact.objects.count() == before


def test_it_refuses_to_seed_over_an_existing_directory(seeded):
    with pytest.raises(CommandError, match="--flush"):
        _seed()


@pytest.mark.parametrize(
    "options,message",
    [
        ({"associates": 0}, "--associates must be between 1 and"),
        ({"associates": -5}, "--associates must be between 1 and"),
        ({"contacts_per_associate": 0}, "--contacts-per-associate must be between 1 and"),
        ({"contacts_per_associate": 10**9}, "per-member ceiling"),
        ({"unverified_share": 1.5}, "--unverified-share must be between 0 and 1"),
    ],
)
def test_it_refuses_nonsense_sizes(db, options, message):
    with pytest.raises(CommandError, match=message):
        _seed(**options)
    assert not Associate.objects.exists()
