"""Directory sync at WeCom's pace: concurrent fetching within the rate the sandbox enforces
(WeCom's base frequency, 45009 beyond), pauses on "too fast", and the same directory as the
sequential path. Over real HTTP, through the real client and limiter."""

from __future__ import annotations

import pytest
from django.db import connections

from staff import sync
from staff.models import Contact, ContactTag, Customer
from wecom.client import client_from_settings
from wecom.ratelimit import Budget, LocalTokenBucket, Unlimited
from wecom.sandbox import models as sm
from wecom.sandbox.protocol import frequency_name

PAGED = "externalcontact/batch/get_by_user"
SQLITE = connections["default"].vendor == "sqlite"
# Threads against the live server: the in-memory SQLite test database locks whole tables across
# threads (see test_sync.py); there the sequential path is what runs.
CONCURRENT = 0 if SQLITE else 4
needs_threads = pytest.mark.skipif(SQLITE, reason="concurrent fetching needs PostgreSQL (see test_sync.py)")


@pytest.fixture
def bigger_corp(sandbox_corp):
    """sandbox_corp and eight more members of the Shanghai store, two customers each (one
    tagged gold), so that a sync pages many times: 21 pages of one follow."""
    gold = sm.Tag.objects.get(tag_id="etGold")
    for n in range(8):
        member = sm.Member.objects.create(userid=f"p{n:02}", name=f"P{n}", department=[3], main_department=3)
        for k in range(2):
            customer = sm.Customer.objects.create(external_userid=f"wmp{n}-{k}", name=f"客户p{n}-{k}")
            follow = sm.Follow.objects.create(member=member, customer=customer, createtime=1_700_001_000 + n * 10 + k)
            if k == 0:
                sm.FollowTag.objects.create(follow=follow, tag=gold)
    return sandbox_corp


@pytest.fixture
def one_follow_pages(monkeypatch):
    monkeypatch.setattr(sync, "PAGE_FOLLOWS", 1)
    monkeypatch.setattr(sync, "CHUNK_MEMBERS", 2)
    monkeypatch.setattr(sync, "BACKOFF_SECONDS", (0.3,) * 40)


def _client(base_url, limiter, **budgets):
    client = client_from_settings(base_url=base_url, limiter=limiter, budgets=budgets)
    client.forget_token()
    return client


def _windows() -> list[int]:
    return list(sm.RateWindow.objects.filter(name=frequency_name(PAGED)).values_list("used", flat=True))


def _directory(*, active_only: bool = False):
    contacts = Contact.objects.filter(is_active=True) if active_only else Contact.objects.all()
    customers = Customer.objects.filter(contacts__in=contacts).distinct() if active_only else Customer.objects.all()
    return (
        sorted(customers.values_list("external_userid", "name", "type", "gender")),
        sorted(contacts.values_list("associate__userid", "customer__external_userid", "added_at", "is_active")),
        sorted(
            ContactTag.objects.filter(contact__in=contacts).values_list(
                "contact__associate__userid", "contact__customer__external_userid", "tag__tag_id"
            )
        ),
    )


def _forget_directory():
    ContactTag.objects.all().delete()
    Contact.objects.all().delete()
    Customer.objects.all().delete()


def test_the_sync_never_exceeds_the_rate_the_sandbox_enforces(wecom_base_url, bigger_corp, one_follow_pages, settings):
    # WeCom's 10,000 a minute, shrunk to 10 a second; our bucket: 5 a second, 2 saved up,
    # so at most 7 in any second (a margin for the calls' spread in flight).
    settings.WECOM_SANDBOX_CALLS_PER_WINDOW, settings.WECOM_SANDBOX_WINDOW_SECONDS = 10, 1
    pages = []
    with _client(wecom_base_url, LocalTokenBucket(), **{PAGED: Budget(rate=5, burst=2)}) as client:
        client._http.event_hooks["request"].append(lambda request: pages.append(request.url.path.endswith(PAGED)))
        run = sync.directory_sync(client=client, prefetch=CONCURRENT)
    assert run.status == "succeeded"
    windows = _windows()
    assert sum(windows) == sum(pages) >= 21  # every page asked once: none refused
    assert max(windows) <= 10
    assert len(windows) >= 3  # 21+ calls at 5 a second: the bucket, not the sandbox, set the pace
    assert Contact.objects.count() == 5 + 16 and ContactTag.objects.count() == 1 + 8


def test_too_fast_is_waited_out_and_the_directory_is_the_same(wecom_base_url, bigger_corp, one_follow_pages, settings):
    """Without our limiter the fetchers outrun the sandbox's limit: it answers 45009, and the
    sync pauses and asks again. (This is also what makes the test above able to fail.)"""
    with _client(wecom_base_url, Unlimited()) as client:
        sync.directory_sync(client=client, prefetch=0)
    expected = _directory()
    _forget_directory()
    sm.RateWindow.objects.all().delete()
    settings.WECOM_SANDBOX_CALLS_PER_WINDOW, settings.WECOM_SANDBOX_WINDOW_SECONDS = 3, 1
    with _client(wecom_base_url, Unlimited()) as client:
        run = sync.directory_sync(client=client, prefetch=CONCURRENT)
    assert run.status == "succeeded"
    assert max(_windows()) > 3 and sum(_windows()) > 21  # refused, then asked again
    assert _directory() == expected


def test_a_concurrency_limit_and_a_dropped_connection_are_retried(wecom_client, bigger_corp, one_follow_pages):
    sm.Fault.objects.create(endpoint=PAGED, errcode=45033, remaining=2)
    sm.Fault.objects.create(endpoint=PAGED, drop_connection=True, remaining=1)
    run = sync.directory_sync(client=wecom_client, prefetch=CONCURRENT)
    assert run.status == "succeeded"
    assert not sm.Fault.objects.filter(remaining__gt=0).exists()  # every fault was met
    assert Contact.objects.count() == 21


def test_a_rate_limit_that_does_not_end_fails_the_run_for_a_later_resume(wecom_client, bigger_corp, monkeypatch):
    monkeypatch.setattr(sync, "BACKOFF_SECONDS", (0.05, 0.05))
    sm.Fault.objects.create(endpoint=PAGED, errcode=45009)
    with pytest.raises(sync.TransientError):
        sync.directory_sync(client=wecom_client, prefetch=CONCURRENT)
    assert sync.DirectorySyncRun.objects.get().status == "failed"


@needs_threads
def test_concurrent_fetching_gives_the_same_directory_as_the_sequential_path(
    wecom_client, bigger_corp, one_follow_pages
):
    concurrent = sync.directory_sync(client=wecom_client, prefetch=4)
    first = _directory()
    _forget_directory()
    sequential = sync.directory_sync(client=wecom_client, prefetch=0)
    assert _directory() == first
    follows = ("customers_created", "contacts_created", "contact_tags_added")
    assert [concurrent.counts[name] for name in follows] == [sequential.counts[name] for name in follows] == [20, 21, 9]

    # Changes in WeCom: a follow removed, a tag moved, a customer renamed, a follow added.
    sm.Follow.objects.filter(member__userid="p03").delete()
    sm.FollowTag.objects.filter(follow__member__userid="p05").delete()
    untagged = sm.Follow.objects.get(member__userid="p05", customer__external_userid="wmp5-1")
    sm.FollowTag.objects.create(follow=untagged, tag=sm.Tag.objects.get(tag_id="etSilver"))
    sm.Customer.objects.filter(external_userid="wmp1-0").update(name="改名")
    p07, wm1 = sm.Member.objects.get(userid="p07"), sm.Customer.objects.get(external_userid="wm1")
    sm.Follow.objects.create(member=p07, customer=wm1, createtime=1_700_002_000)
    changed = sync.directory_sync(client=wecom_client, prefetch=4)
    assert {k: v for k, v in changed.counts.items() if v} == {
        "contacts_created": 1,
        "contacts_removed": 2,
        "customers_updated": 1,
        "contact_tags_added": 1,
        "contact_tags_removed": 1,
    }
    incremental = _directory(active_only=True)
    assert not Contact.objects.filter(associate__userid="p03", is_active=True).exists()
    _forget_directory()
    sync.directory_sync(client=wecom_client, prefetch=0)
    assert _directory(active_only=True) == incremental
