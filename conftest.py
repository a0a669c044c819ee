"""Shared fixtures: a two-region directory and a user per role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from staff.models import Associate, Contact, Customer, CustomerTag, Department
from staff.roles import APPROVER, MANAGER, MARKETING_ADMIN
from staff.tests import factories
from wecom.client import client_from_settings
from wecom.sandbox import models as sm


@dataclass
class Directory:
    hq: Department
    east: Department
    east_store: Department
    south: Department
    south_store: Department
    east_associate: Associate
    south_associate: Associate
    shared_customer: Customer
    east_customer: Customer
    south_customer: Customer
    gold: CustomerTag
    east_contact: Contact
    south_contact: Contact


@pytest.fixture
def directory(db) -> Directory:
    """HQ → East (Shanghai store) and South (Shenzhen store); one associate per
    store; a customer of each, and one customer who added both."""
    hq = factories.department("HQ", kind=Department.Kind.HEADQUARTERS)
    east = factories.department("East", parent=hq, kind=Department.Kind.REGION)
    south = factories.department("South", parent=hq, kind=Department.Kind.REGION)
    east_store = factories.department("Shanghai IFC", parent=east)
    south_store = factories.department("Shenzhen MixC", parent=south)
    east_associate = factories.associate("Lily", departments=[east_store])
    south_associate = factories.associate("Ken", departments=[south_store], verified=False)
    shared = factories.customer("Grace")
    east_customer = factories.customer("Amy")
    south_customer = factories.customer("Coco")
    gold = factories.tag("Gold")
    east_contact = factories.contact(east_associate, east_customer, tags=[gold])
    factories.contact(east_associate, shared)
    south_contact = factories.contact(south_associate, south_customer)
    factories.contact(south_associate, shared, tags=[gold])
    return Directory(
        hq,
        east,
        east_store,
        south,
        south_store,
        east_associate,
        south_associate,
        shared,
        east_customer,
        south_customer,
        gold,
        east_contact,
        south_contact,
    )


@pytest.fixture
def marketing_admin(db):
    return factories.user("marketing", role=MARKETING_ADMIN)


@pytest.fixture
def approver(db):
    return factories.user("approver", role=APPROVER)


@pytest.fixture
def east_manager(directory):
    return factories.user("east-manager", role=MANAGER, manages=[directory.east])


@pytest.fixture
def south_manager(directory):
    return factories.user("south-manager", role=MANAGER, manages=[directory.south])


# --- Browser tests (pytest-playwright with Debian's Chromium) -----------------
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Playwright's sync API keeps an event loop running in the test thread; Django's
# ORM refuses to run there unless told the test process is single-threaded-safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium)."
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests must run in CI. {reason}")
        pytest.skip(reason)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        # Flags from the machine notes: no sandbox as root, and no background
        # networking (the network is closed, so those connections only fail).
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a per-test folder, not the checkout's var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Tests that log in set passwords: a fast hash (production keeps Django's PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- The WeCom sandbox over real HTTP -------------------------------------------
@pytest.fixture(autouse=True)
def _sandbox_test_settings(settings):
    """Tests decide themselves when a sandbox event is pushed (callback_push),
    add_moment_task jobs finish at once, and there are no quiet hours, unless a test
    says otherwise."""
    settings.WECOM_SANDBOX_CALLBACK_URL = ""
    settings.WECOM_SANDBOX_JOB_SECONDS = 0
    # No quiet hours unless a test sets them: CI runs at any hour.
    settings.MOMENTS_QUIET_START = settings.MOMENTS_QUIET_END = 0


@pytest.fixture(autouse=True)
def _full_rate_limit_buckets(settings):
    """Each test starts with WeCom's rate-limit buckets full, as after a quiet minute. On the real stack
    they live in Redis (``REDIS_URL``) and would carry one test's spending into the next: add_moment_task
    allows 10 a minute, and a module of publish tests spends more."""
    from wecom.client import limiter_from_settings

    limiter_from_settings().refill()


@pytest.fixture
def wecom_base_url(live_server):
    return f"{live_server.url}/wecom-sandbox/cgi-bin/"


@pytest.fixture
def wecom_client(wecom_base_url):
    """The real client, pointed at the sandbox served by live_server."""
    wecom = client_from_settings(base_url=wecom_base_url)
    wecom.forget_token()
    yield wecom
    wecom.close()


@pytest.fixture
def sandbox_corp(transactional_db):
    """HQ(1) → East(2) → Shanghai(3); HQ → South(4). Three members, four customers."""
    sm.Department.objects.bulk_create(
        [
            sm.Department(id=1, name="品牌总部", parentid=0),
            sm.Department(id=2, name="华东大区", parentid=1, order=1),
            sm.Department(id=3, name="上海店", parentid=2),
            sm.Department(id=4, name="华南大区", parentid=1, order=2),
        ]
    )
    lily = sm.Member.objects.create(userid="lily", name="Lily", department=[3], main_department=3)
    ken = sm.Member.objects.create(userid="ken", name="Ken", department=[4], main_department=4, is_verified=False)
    sm.Member.objects.create(userid="mia", name="Mia", department=[3], main_department=3, is_licensed=False)
    sm.Member.objects.create(userid="gone", name="Gone", department=[3], status=sm.Member.Status.LEFT)
    group = sm.TagGroup.objects.create(group_id="etG1", name="会员等级", order=1)
    gold = sm.Tag.objects.create(tag_id="etGold", group=group, name="金卡", order=1)
    sm.Tag.objects.create(tag_id="etSilver", group=group, name="银卡", order=0)
    sm.TagGroup.objects.create(group_id="etG2", name="兴趣", order=2)
    customers = [sm.Customer.objects.create(external_userid=f"wm{i}", name=f"客户{i}") for i in range(4)]
    follows = [sm.Follow.objects.create(member=lily, customer=c, createtime=1_700_000_000 + i, add_way=1,
                                     state="store-3") for i, c in enumerate(customers[:3])]  # fmt: skip
    sm.Follow.objects.create(member=ken, customer=customers[3], createtime=1_700_000_100)
    sm.Follow.objects.create(member=ken, customer=customers[0], createtime=1_700_000_200)
    sm.FollowTag.objects.create(follow=follows[0], tag=gold)
    return {"lily": lily, "ken": ken, "customers": customers}
