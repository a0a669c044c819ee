"""The real stack for end-to-end tests: a Celery worker and beat as subprocesses,
against the test's PostgreSQL database and a private Redis (restartable without
disturbing anything else), with the WeCom sandbox served by ``live_server``."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

ROOT = Path(__file__).resolve().parents[2]


def stack_missing() -> str:
    """Why the real stack cannot run here ('' when it can)."""
    if connection.vendor != "postgresql":
        return (
            "needs PostgreSQL (DATABASE_URL=postgres://…): a worker process cannot share SQLite's in-memory test "
            "database"
        )
    if not shutil.which("redis-server"):
        return "needs redis-server on PATH (apt-get install redis-server)"
    return ""


def require_stack() -> None:
    reason = stack_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The real-stack tests must run in CI: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, stack: Stack | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack:
            stack.supervise()
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    logs = stack.logs() if stack else ""
    from campaigns.models import PublishTask

    states = dict(PublishTask.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    restarted = stack.restarted if stack else []
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; tasks: {states}; "
                         f"restarted: {restarted}\n{logs}")  # fmt: skip


class RedisServer:
    """A private redis-server without persistence: a restart loses every queued message."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        wait_for(lambda: self._ping(redis), timeout=10, what="redis-server to start")

    def _ping(self, redis) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


class Stack:
    def __init__(self, live_server_url: str, directory: Path):
        self.url = live_server_url
        self.directory = directory
        self.redis = RedisServer(directory)
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts = 0
        self.overrides: dict[str, str] = {}  # more settings for the processes started from now on
        self.argv: dict[str, list[str]] = {}
        self.restarted: list[str] = []

    @property
    def wecom_base_url(self) -> str:
        return f"{self.url}/wecom-sandbox/cgi-bin/"

    def env(self) -> dict[str, str]:
        db = connection.settings_dict
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "moments_admin.settings.base",
            "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.redis.url(1),
            "SECRET_KEY": settings.SECRET_KEY,  # the links the worker signs open in this process
            "WECOM_BASE_URL": self.wecom_base_url,
            "WECOM_SANDBOX_CALLBACK_URL": "",
            "WECOM_SANDBOX_BEHAVIOUR": "false",
            "WECOM_SANDBOX_JOB_SECONDS": "0",
            "MOMENTS_PUBLIC_URL": self.url,
            "MOMENTS_QUIET_START": "0",
            "MOMENTS_QUIET_END": "0",
            "MOMENTS_STALE_CLAIM_SECONDS": "3",
            "MOMENTS_BEAT_PERCENT": "5",  # dispatch every 2 s, reconcile every 6 s, confirm every 3 s
            "LOG_LEVEL": "INFO",
            **self.overrides,
        }

    def supervise(self) -> None:
        """Restart a process that exited by itself, as systemd's ``Restart=always`` does in
        production; each restart is recorded in ``restarted``."""
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.restarted.append(f"{name} exited with {process.returncode}")
                self._start(name, self.argv[name])

    def _start(self, name: str, argv: list[str]) -> None:
        self.argv[name] = argv
        self.starts += 1
        log = open(self.directory / f"{name}-{self.starts}.log", "w")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "moments_admin", *argv],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start_worker(self, name: str = "worker", *, concurrency: int = 2) -> None:
        self._start(name, ["worker", "-l", "INFO", "-c", str(concurrency), "-n", f"{name}-{self.starts}@%h",
                           "--without-gossip", "--without-mingle", "--without-heartbeat"])  # fmt: skip

    def start_beat(self) -> None:
        self._start("beat", ["beat", "-l", "INFO", "-s", str(self.directory / "beat-schedule")])

    def kill(self, name: str) -> None:
        """SIGKILL the process and its pool children: a crashed machine, nothing cleaned up."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        self.redis.stop()

    def logs(self, lines: int = 60) -> str:
        """The end of each process's log, the workers' first (beat's is mostly the same lines)."""
        out = []
        for log in sorted(self.directory.glob("*.log"), key=lambda path: (path.name.startswith("beat"), path.name)):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(out)

    def send(self, task_name: str, *args, count: int = 1) -> None:
        """Queue a task on the stack's broker (this process's own app points elsewhere)."""
        from celery import Celery

        app = Celery("moments-test", broker=self.redis.url(1))
        try:
            for _ in range(count):
                app.send_task(task_name, args=args)
        finally:
            app.close()


def brand(stack: Stack, *, associates: int, contacts: int = 2, moments: int = 1, copy: str = "玫瑰系列上新"):
    """A sandbox brand of ``associates`` members, synced into the app, and ``moments``
    due now for all of them, approved and scheduled. Returns the moments."""
    from django.core.management import call_command
    from django.utils import timezone

    from staff.sync import directory_sync
    from wecom.client import client_from_settings
    from wecom.ratelimit import Unlimited

    call_command("sandbox_seed", associates=associates, contacts_per_associate=contacts, unverified_share=0,
                 no_progress=True, stdout=io.StringIO())  # fmt: skip
    with client_from_settings(base_url=stack.wecom_base_url, limiter=Unlimited()) as client:
        client.forget_token()
        directory_sync(client=client, prefetch=0)
    now = timezone.now()
    return brand_moments([(f"第 {number + 1} 条", f"{copy} {number + 1}") for number in range(moments)],
                         publish_at=now + dt.timedelta(minutes=5), expires_at=now + dt.timedelta(hours=6),
                         campaign="情人节", users="stack")  # fmt: skip


def brand_moments(moments: list[tuple[str, str]], *, publish_at, expires_at, campaign: str, users: str) -> list:
    """A campaign of one moment per (title, copy) for the whole synced brand, each approved and
    scheduled at ``publish_at`` by a writer and an approver made for it (``<users>-writer``, …)."""
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, Moment, Tone, Variant
    from staff.models import Department, User
    from staff.roles import APPROVER, MARKETING_ADMIN

    writer = User.objects.create_user(f"{users}-writer")
    writer.groups.add(Group.objects.get(name=MARKETING_ADMIN))
    approver = User.objects.create_user(f"{users}-approver")
    approver.groups.add(Group.objects.get(name=APPROVER))
    today = timezone.localdate()
    plan = Campaign.objects.create(name=campaign, starts_on=today, ends_on=today + dt.timedelta(days=1),
                                   owner=writer)  # fmt: skip
    root = Department.objects.get(parent__isnull=True)
    made = []
    for title, copy in moments:
        moment = Moment.objects.create(campaign=plan, title=title, publish_at=publish_at, expires_at=expires_at)
        variant = Variant.objects.create(moment=moment, name="全员", tone=Tone.objects.get(code="warm"), copy=copy)
        variant.target_departments.set([root])
        services.moment_submit(moment=moment, by=writer)
        services.moment_decide(moment=moment, by=approver, approve=True)
        services.moment_schedule(moment=moment, by=writer)
        made.append(moment)
    return made


def make_due(moments) -> None:
    from django.utils import timezone

    from campaigns.models import Moment

    Moment.objects.filter(pk__in=[m.pk for m in moments]).update(publish_at=timezone.now() - dt.timedelta(seconds=1))


def sandbox_record(moments_count: int = 1) -> dict[str, int]:
    """What the sandbox received: delivered messages per member (duplicates and drops counted apart)."""
    from wecom.sandbox.models import Message

    delivered = dict(
        Message.objects.filter(outcome=Message.Outcome.DELIVERED).values_list("userid").annotate(n=Count("id"))
    )
    return {
        "delivered": sum(delivered.values()),
        "members": len(delivered),
        "over_once": sum(1 for n in delivered.values() if n > moments_count),
        "suppressed": Message.objects.filter(outcome=Message.Outcome.DUPLICATE).count(),
        "dropped": Message.objects.filter(outcome=Message.Outcome.DROPPED).count(),
    }
