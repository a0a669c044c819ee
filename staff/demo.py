"""The demo brand for ``make run`` and tests, built the way production builds it.

1. The WeCom sandbox gets a brand directory (``manage.py sandbox_seed``, called by
   name: application code never imports the sandbox).
2. The app's directory is **synced** from it through the real WeCom client. At
   seed time the web server is not running yet, so the client's HTTP goes through
   httpx's WSGI transport into the same Django app: same client code, same
   sandbox views, no socket. Later syncs (nightly, admin button) use TCP.
3. What WeCom's API does not tell and an admin would set by hand: which accounts
   are unverified, which tag group holds the membership tiers.
4. Logins for the three roles, with generated passwords.
"""

from __future__ import annotations

import io
import json
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from common import bulk
from staff.models import (
    Associate,
    AssociateDepartment,
    Contact,
    ContactTag,
    Customer,
    CustomerTag,
    CustomerTagGroup,
    Department,
    DirectorySyncRun,
    ManagerAssignment,
    User,
)
from staff.roles import APPROVER, MANAGER, MARKETING_ADMIN
from staff.services import DirectoryError
from staff.sync import Progress, directory_sync
from wecom.client import client_from_settings
from wecom.ratelimit import Unlimited


@dataclass(frozen=True)
class DemoSize:
    associates: int = 60
    contacts_per_associate: int = 120
    unverified_share: float = 0.15
    seed: int = 42


@dataclass
class DemoLogin:
    username: str
    password: str
    role: str


@dataclass
class DemoSummary:
    sandbox: dict = field(default_factory=dict)
    sync_counts: dict = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)


def directory_is_empty() -> bool:
    return not (Department.objects.exists() or Associate.objects.exists() or Customer.objects.exists())


def directory_flush() -> None:
    """Remove the app's whole directory (demo reset)."""
    bulk.truncate([ContactTag, Contact, AssociateDepartment, ManagerAssignment, Associate, Customer, CustomerTag,
                   CustomerTagGroup, Department, DirectorySyncRun])  # fmt: skip


def _in_process_sandbox_client():
    """The real client, its HTTP answered by this process's Django app (the sandbox
    views), for seeding before any server runs. Unthrottled: the sandbox is ours."""
    hosts = [host for host in settings.ALLOWED_HOSTS if host and not host.startswith(".") and host != "*"]
    host = "localhost" if "localhost" in hosts or "*" in settings.ALLOWED_HOSTS or not hosts else hosts[0]
    return client_from_settings(
        base_url=f"http://{host}/wecom-sandbox/cgi-bin/",
        transport=httpx.WSGITransport(app=WSGIHandler()),
        limiter=Unlimited(),
    )


@contextmanager
def _connection_kept_open():
    """In-process requests share this thread's database connection, inside the
    sync's transactions: Django must not close it at each request's start and end
    (its own test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _logins() -> list[DemoLogin]:
    """The demo logins, each with a fresh random password (no fixed defaults)."""
    return [
        DemoLogin("admin", secrets.token_urlsafe(12), MARKETING_ADMIN),
        DemoLogin("approver", secrets.token_urlsafe(12), APPROVER),
        DemoLogin("manager", secrets.token_urlsafe(12), MANAGER),
    ]


def _create_users(logins: list[DemoLogin], managed_department: Department) -> None:
    for login in logins:
        user, _created = User.objects.get_or_create(username=login.username)
        user.is_staff = True
        user.is_superuser = login.role == MARKETING_ADMIN
        user.set_password(login.password)
        user.save()
        user.groups.set([Group.objects.get(name=login.role)])
        if login.role == MANAGER:
            ManagerAssignment.objects.get_or_create(user=user, department=managed_department)


def logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.txt"


def write_logins_file(logins: list[DemoLogin]) -> Path:
    path = logins_file()
    path.write_text("".join(f"{login.username}\t{login.password}\t{login.role}\n" for login in logins))
    path.chmod(0o600)
    return path


def demo_brand_create(
    *, size: DemoSize, progress: bool = True, sync_progress: Progress | None = None, create_logins: bool = True
) -> DemoSummary:
    """Seed the sandbox, sync the directory from it, set the admin-only facts, create the logins."""
    if not settings.WECOM_SANDBOX:
        raise DirectoryError("seed_demo builds the demo in the WeCom sandbox: set WECOM_SANDBOX=1.")
    if not directory_is_empty():
        raise DirectoryError("The directory already has data; pass --flush to replace it with the demo brand.")
    output = call_command(
        "sandbox_seed",
        associates=size.associates,
        contacts_per_associate=size.contacts_per_associate,
        unverified_share=size.unverified_share,
        seed=size.seed,
        flush=True,  # the demo owns the sandbox's directory
        json=True,
        no_progress=not progress,
        stdout=io.StringIO(),
    )
    summary = DemoSummary(sandbox=json.loads(output))
    with _connection_kept_open(), _in_process_sandbox_client() as client:
        # In-process, the sandbox runs on the caller's thread and connection: no prefetch threads.
        run = directory_sync(client=client, progress=sync_progress, resume=False, prefetch=0)
    summary.sync_counts = run.counts
    unverified = summary.sandbox["unverified"]
    for start in range(0, len(unverified), 2000):
        Associate.objects.filter(userid__in=unverified[start : start + 2000]).update(is_verified=False)
    CustomerTagGroup.objects.filter(group_id=summary.sandbox["tier_group_id"]).update(is_tier=True)
    if create_logins:
        summary.logins = _logins()
        _create_users(summary.logins, Department.objects.get(wecom_id=summary.sandbox["first_region_id"]))
        write_logins_file(summary.logins)
    return summary
