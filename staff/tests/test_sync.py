"""Directory sync from the sandbox, over real HTTP, through the real client."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from staff import sync
from staff.models import Associate, AssociateDepartment, Contact, ContactTag, Customer, Department, DirectorySyncRun
from staff.roles import MARKETING_ADMIN
from staff.tests import factories
from wecom.errors import TransientError
from wecom.sandbox import models as sm


def _snapshot():
    return (
        sorted(Department.objects.values_list("wecom_id", "name", "parent__wecom_id", "kind", "path")),
        sorted(
            Associate.objects.values_list("userid", "name", "is_active", "is_verified", "main_department__wecom_id")
        ),
        sorted(AssociateDepartment.objects.values_list("associate__userid", "department__wecom_id")),
        sorted(Customer.objects.values_list("external_userid", "name", "type")),
        sorted(
            Contact.objects.values_list(
                "associate__userid", "customer__external_userid", "added_at", "add_way", "state", "is_active"
            )
        ),  # fmt: skip
        sorted(
            ContactTag.objects.values_list(
                "contact__associate__userid", "contact__customer__external_userid", "tag__tag_id"
            )
        ),  # fmt: skip
    )


def _changes(run) -> dict:
    return {name: count for name, count in run.counts.items() if count}


def test_the_first_sync_mirrors_wecom(wecom_client, sandbox_corp):
    run = sync.directory_sync(client=wecom_client)
    assert run.status == "succeeded"
    departments = {d.wecom_id: d for d in Department.objects.all()}
    assert departments[1].kind == "hq" and departments[2].kind == "region" and departments[3].kind == "store"
    assert departments[3].path == f"/{departments[1].pk}/{departments[2].pk}/{departments[3].pk}/"
    associates = {a.userid: a for a in Associate.objects.all()}
    assert set(associates) == {"lily", "ken", "mia", "gone"}
    assert not associates["gone"].is_active and associates["gone"].deactivated_at is not None
    assert associates["lily"].departments.get().wecom_id == 3
    contacts = Contact.objects.filter(associate__userid="lily").order_by("customer__external_userid")
    assert [c.customer.external_userid for c in contacts] == ["wm0", "wm1", "wm2"]
    first = contacts[0]
    assert first.added_at == dt.datetime.fromtimestamp(1_700_000_000, tz=dt.UTC)
    assert (first.add_way, first.state) == (1, "store-3")
    assert list(first.tags.values_list("tag_id", flat=True)) == ["etGold"]
    assert Customer.objects.get(external_userid="wm0").contacts.count() == 2  # shared by lily and ken
    assert _changes(run)["contacts_created"] == 5


def test_a_second_sync_changes_nothing(wecom_client, sandbox_corp):
    sync.directory_sync(client=wecom_client)
    before = _snapshot()
    second = sync.directory_sync(client=wecom_client)
    assert _changes(second) == {}
    assert _snapshot() == before


def test_changes_in_wecom_reach_the_directory(wecom_client, sandbox_corp):
    sync.directory_sync(client=wecom_client)
    lily = sandbox_corp["lily"]
    sm.Customer.objects.filter(external_userid="wm1").update(name="王女士")
    sm.Follow.objects.filter(member=lily, customer__external_userid="wm2").delete()
    sm.FollowTag.objects.filter(follow__member=lily).delete()
    new_customer = sm.Customer.objects.create(external_userid="wm9", name="新客户")
    sm.Follow.objects.create(member=lily, customer=new_customer, createtime=1_700_000_900)
    sm.Member.objects.filter(userid="ken").delete()
    sm.Department.objects.filter(id=4).update(name="华南新大区")

    run = sync.directory_sync(client=wecom_client)
    assert Customer.objects.get(external_userid="wm1").name == "王女士"
    removed = Contact.objects.get(associate__userid="lily", customer__external_userid="wm2")
    assert not removed.is_active and removed.removed_at is not None
    assert Contact.objects.filter(associate__userid="lily", customer__external_userid="wm9", is_active=True).exists()
    assert not ContactTag.objects.filter(contact__associate__userid="lily").exists()
    assert not Associate.objects.get(userid="ken").is_active
    assert Department.objects.get(wecom_id=4).name == "华南新大区"
    assert _changes(run) == {
        "associates_deactivated": 1,
        "contact_tags_removed": 1,
        "contacts_created": 1,
        "contacts_removed": 1,
        "customers_created": 1,
        "customers_updated": 1,
        "departments_updated": 1,
    }


def test_a_contact_that_comes_back_is_active_again(wecom_client, sandbox_corp):
    sync.directory_sync(client=wecom_client)
    follow = sm.Follow.objects.get(member__userid="lily", customer__external_userid="wm2")
    values = {"member": follow.member, "customer": follow.customer, "createtime": follow.createtime}
    follow.delete()
    sync.directory_sync(client=wecom_client)
    sm.Follow.objects.create(**values)
    sync.directory_sync(client=wecom_client)
    back = Contact.objects.get(associate__userid="lily", customer__external_userid="wm2")
    assert back.is_active and back.removed_at is None


def test_verification_is_kept_from_the_admin_and_new_accounts_use_the_setting(wecom_client, sandbox_corp, settings):
    settings.WECOM_NEW_ASSOCIATES_VERIFIED = False
    sync.directory_sync(client=wecom_client)
    assert not Associate.objects.filter(is_verified=True).exists()
    Associate.objects.filter(userid="lily").update(is_verified=True)
    sync.directory_sync(client=wecom_client)
    assert Associate.objects.get(userid="lily").is_verified


def test_an_interrupted_sync_resumes_after_the_last_finished_chunk(wecom_client, sandbox_corp, monkeypatch):
    monkeypatch.setattr(sync, "CHUNK_MEMBERS", 1)  # one member per chunk: ken, lily, mia

    def fail_after_first_chunk(stage, done, total):
        if done == 1:
            # WeCom busy (-1): the run fails (a rate limit, 45009, would be waited out instead)
            sm.Fault.objects.create(endpoint="externalcontact/batch/get_by_user", errcode=-1, remaining=1)

    with pytest.raises(TransientError):  # chunk by chunk: the fault hits the second one
        sync.directory_sync(client=wecom_client, progress=fail_after_first_chunk, prefetch=0)
    failed = DirectorySyncRun.objects.get()
    assert failed.status == "failed" and failed.checkpoint_userid == "ken" and "-1" in failed.error
    assert set(Contact.objects.values_list("associate__userid", flat=True)) == {"ken"}

    resumed = sync.directory_sync(client=wecom_client)
    assert resumed.status == "succeeded"
    assert resumed.counts["contacts_created"] == 3  # lily's three; ken's two were kept, not redone
    assert Contact.objects.count() == 5


def test_only_one_sync_runs_at_a_time(wecom_client, sandbox_corp):
    DirectorySyncRun.objects.create()
    with pytest.raises(sync.SyncAlreadyRunning):
        sync.directory_sync(client=wecom_client)


def test_a_run_abandoned_by_a_dead_worker_does_not_block_forever(wecom_client, sandbox_corp):
    stuck = DirectorySyncRun.objects.create()
    DirectorySyncRun.objects.filter(pk=stuck.pk).update(started_at=timezone.now() - dt.timedelta(hours=7))
    assert sync.directory_sync(client=wecom_client).status == "succeeded"
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "abandoned" in stuck.error


def test_the_task_syncs_through_the_configured_base_url(wecom_base_url, sandbox_corp, settings):
    from staff.tasks import directory_sync_task

    settings.WECOM_BASE_URL = wecom_base_url
    result = directory_sync_task.run()
    assert result["contacts_created"] == 5


def test_the_task_raises_a_transient_error_for_celery_to_retry(wecom_base_url, sandbox_corp, settings):
    from staff.tasks import directory_sync_task

    settings.WECOM_BASE_URL = wecom_base_url
    sm.Fault.objects.create(endpoint="department/list", errcode=-1)
    with pytest.raises(TransientError):
        directory_sync_task.run()  # called directly, Celery's retry re-raises the cause


def test_the_admin_button_confirms_then_starts_a_sync_after_commit(client, db, django_capture_on_commit_callbacks):
    client.force_login(factories.user("mkt", role=MARKETING_ADMIN))
    url = reverse("admin:staff_directorysyncrun_sync_now")
    assert "Start the sync" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url)
    assert response.status_code == 302
    assert len(callbacks) == 1 and callbacks[0].__self__.name == "staff.tasks.directory_sync_task"


def test_a_manager_cannot_start_a_sync(client, directory, east_manager):
    client.force_login(east_manager)
    assert client.post(reverse("admin:staff_directorysyncrun_sync_now")).status_code == 403


@pytest.mark.skipif(
    connections["default"].vendor == "sqlite",
    reason="prefetch threads hit the live server at once; the in-memory SQLite test database locks whole tables "
    "across threads (a file database in WAL mode does not). Runs on PostgreSQL in CI.",
)
def test_a_failed_prefetch_stops_the_run_before_its_chunk_and_the_next_run_finishes(
    wecom_client, sandbox_corp, monkeypatch
):
    monkeypatch.setattr(sync, "CHUNK_MEMBERS", 1)
    sm.Fault.objects.create(endpoint="externalcontact/batch/get_by_user", errcode=-1, remaining=1)
    with pytest.raises(TransientError):
        sync.directory_sync(client=wecom_client, prefetch=2)
    failed = DirectorySyncRun.objects.get()
    assert failed.status == "failed"
    # Whichever prefetched chunk met the fault, every chunk up to the checkpoint was written whole
    # (pages of later chunks may be written too: the resumed run finds them unchanged).
    expected = {"ken": 2, "lily": 3, "mia": 0}
    for userid, count in expected.items():
        if failed.checkpoint_userid and userid <= failed.checkpoint_userid:
            assert Contact.objects.filter(associate__userid=userid).count() == count
    resumed = sync.directory_sync(client=wecom_client, prefetch=2)
    assert resumed.status == "succeeded" and Contact.objects.count() == 5


@pytest.mark.skipif(
    connections["default"].vendor == "sqlite",
    reason="prefetch threads hit the live server at once; the in-memory SQLite test database locks whole tables "
    "across threads (a file database in WAL mode does not). Runs on PostgreSQL in CI.",
)
def test_prefetching_gives_the_same_directory_as_fetching_chunk_by_chunk(wecom_client, sandbox_corp, monkeypatch):
    monkeypatch.setattr(sync, "CHUNK_MEMBERS", 1)
    sync.directory_sync(client=wecom_client, prefetch=2)
    prefetched = set(Contact.objects.values_list("associate__userid", "customer__external_userid", "remark"))
    Contact.objects.all().delete()
    sync.directory_sync(client=wecom_client, prefetch=0)
    assert set(Contact.objects.values_list("associate__userid", "customer__external_userid", "remark")) == prefetched
    assert len(prefetched) == 5


class _NoTransactionClient:
    """The real client, refusing to be called while a database transaction is
    open: a transaction held across a network call blocks other writers (on
    SQLite the whole database, so the sandbox could not even issue a token)."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            from django.db import connection

            assert not connection.in_atomic_block, f"WeCom {name}() called inside a transaction"
            return attribute(*args, **kwargs)

        return call


def test_no_api_call_happens_inside_a_transaction(wecom_client, sandbox_corp):
    guarded = _NoTransactionClient(wecom_client)
    sync.directory_sync(client=guarded)
    sm.Follow.objects.filter(customer__external_userid="wm1").delete()
    sync.directory_sync(client=guarded)


def test_callbacks_call_the_api_outside_transactions(wecom_client, sandbox_corp):
    from staff import callbacks
    from staff.models import CallbackEvent

    sync.directory_sync(client=wecom_client)
    fields = {"Event": "change_external_contact", "ChangeType": "add_external_contact", "UserID": "lily",
              "ExternalUserID": "wm0", "CreateTime": "1", "FromUserName": "sys"}  # fmt: skip
    event = CallbackEvent.objects.create(
        key="k", event=fields["Event"], change_type=fields["ChangeType"], payload=fields
    )
    callbacks.callback_event_apply(event_id=event.pk, client=_NoTransactionClient(wecom_client))
    tag_event = CallbackEvent.objects.create(
        key="t", event="change_external_tag", payload={"Event": "change_external_tag"}
    )
    callbacks.callback_event_apply(event_id=tag_event.pk, client=_NoTransactionClient(wecom_client))
