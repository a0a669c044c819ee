"""``manage.py sandbox_seed``."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from wecom.sandbox.models import Customer, Department, Follow, FollowTag, Member


def _seed(*args, **options):
    out = io.StringIO()
    result = call_command("sandbox_seed", "--no-progress", *args, stdout=out, **options)
    return result, out.getvalue()


def test_it_seeds_a_brand_and_reports_it_as_json(db):
    result, _ = _seed("--json", associates=24, contacts_per_associate=60)
    summary = json.loads(result)
    assert summary["members"] == Member.objects.count() == 24
    assert summary["follows"] == Follow.objects.count()
    assert summary["follow_tags"] == FollowTag.objects.count()
    assert summary["customers"] == Customer.objects.count()
    assert set(summary["unverified"]) == set(Member.objects.filter(is_verified=False).values_list("userid", flat=True))
    stores = Department.objects.filter(id__gte=100)
    assert all(m.department == [m.main_department] and stores.filter(id=m.main_department).exists()
               for m in Member.objects.all())  # fmt: skip


def test_it_refuses_to_seed_over_a_directory_unless_flushed(db):
    _seed(associates=8, contacts_per_associate=10)
    with pytest.raises(CommandError, match="--flush"):
        _seed(associates=8, contacts_per_associate=10)
    _, output = _seed("--flush", associates=9, contacts_per_associate=10)
    assert "Sandbox brand created" in output and Member.objects.count() == 9


@pytest.mark.parametrize("options", [{"associates": 0}, {"contacts_per_associate": -1}, {"unverified_share": 2.0}])
def test_it_refuses_nonsense_sizes(db, options):
    with pytest.raises(CommandError, match="must be between"):
        _seed(**options)
    assert not Member.objects.exists()


def test_it_refuses_when_the_sandbox_is_off(db, settings):
    settings.WECOM_SANDBOX = False
    with pytest.raises(CommandError, match="sandbox is off"):
        _seed()
