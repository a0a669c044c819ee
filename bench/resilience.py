#!/usr/bin/env python
"""Faults during a dispatch, on the real stack: exactly one notification per associate,
whatever happens to the worker, Redis or PostgreSQL (DESIGN.md §5.3, §8).

1. Not timed: our own PostgreSQL cluster (``initdb`` in a temporary folder, a free port:
   the machine's server is shared, and this one is restarted) holds the app's database;
   a private ``redis-server`` is the broker, the cache and the rate limits' buckets.
   WeCom is the sandbox, served by gunicorn from its own database on the machine's server
   (``BENCH_RESILIENCE_DATABASE_URL``, dropped and re-created): WeCom does not go down
   with our PostgreSQL. ``sandbox_seed`` N members (one customer each), sync the app's
   directory over HTTP, and three moments for the whole brand, approved and scheduled.
2. A Celery worker (``--concurrency`` processes) and beat as subprocesses
   (``campaigns/tests/stack.py``), with ``WECOM_MESSAGE_SEND_PER_MINUTE=--rate``, the
   reconciler's ``MOMENTS_STALE_CLAIM_SECONDS=--stale`` and beat's intervals at
   ``--beat-percent`` of production's. A process that exits is restarted, as systemd's
   ``Restart=always`` would.
3. One scenario per moment: the moment falls due; once ``--fault-at`` of the brand has
   received its card, the fault, and ``--outage`` seconds later the recovery:
   (a) the worker and its pool SIGKILLed, then started again;
   (b) Redis stopped (every queued notify job and every bucket lost), then started again;
   (c) PostgreSQL stopped (``pg_ctl stop -m fast``: every connection cut), then started again.
   Then wait until every task of the moment is notified (or ``--timeout``).
4. Counted from the sandbox's record of every app message it received, per associate and
   link (the card of this moment's task for this associate): delivered (associates who got
   it), duplicates (deliveries beyond one), lost (associates who never got it); besides,
   re-sends WeCom's duplicate check suppressed, silent drops, and cards that reached the
   wrong member. Non-zero exit unless, in every scenario, delivered = N and duplicates =
   lost = 0, no task is left unnotified, and the fault hit mid-dispatch.

Elapsed is from the moment falling due to its last task notified. Its floor is N ÷ the
configured rate (the rate limit, not our code); a fault adds the outage and the recovery,
which is bounded by the reconciler: a lost job's tasks are queued again once the moment was
dispatched ``--stale`` seconds ago, a dead worker's claims are given back ``--stale``
seconds after they were taken (production: 600 s).

    python bench/resilience.py [--associates 10000] [--rate 6000] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import ROOT, PrivatePostgres, database_recreate, free_port, gunicorn_start, machine, manage

SANDBOX_URL = "postgres://postgres@127.0.0.1:5432/moments_bench_resilience"
SCENARIOS = ("worker SIGKILL", "Redis restart", "PostgreSQL restart")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associates", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=6_000, help="WECOM_MESSAGE_SEND_PER_MINUTE (60–10,000)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
    parser.add_argument("--stale", type=int, default=150, help="MOMENTS_STALE_CLAIM_SECONDS")
    parser.add_argument("--beat-percent", type=int, default=25, help="MOMENTS_BEAT_PERCENT: beat's intervals, %%")
    parser.add_argument("--fault-at", type=float, default=0.3, help="share of the brand notified before the fault")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds between the fault and the recovery")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per scenario (default: from the size)")
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    parser.add_argument("--smoke", action="store_true", help="300 associates at 1,200/min, for CI")
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    if args.smoke:
        args.associates, args.rate, args.stale, args.beat_percent = 300, 1_200, 20, 5
    if not args.timeout:
        args.timeout = 300 + 3 * args.associates / args.rate * 60
    return args


def missing(postgres: PrivatePostgres) -> str:
    if not shutil.which("redis-server"):
        return "needs redis-server on PATH (apt-get install redis-server)"
    return postgres.missing()


class Record:
    """The sandbox's record of the app messages it received (its own database), per expected
    (member, link) pair: the card of one moment's task for one associate."""

    def __init__(self, url: str, table: str):
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)
        self.table = table
        self.expected: dict[int, tuple[list[str], list[str]]] = {}  # moment id → (userids, links)

    def expect(self, moment_id: int, pairs: list[tuple[str, str]]) -> None:
        self.expected[moment_id] = ([userid for userid, _link in pairs], [link for _userid, link in pairs])

    def counts(self, moment_id: int) -> dict:
        userids, links = self.expected[moment_id]
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH expected AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS e(userid, link)),
                card AS (SELECT m.userid, m.outcome, m.received_at, e.userid AS owner
                         FROM {self.table} m JOIN expected e ON m.content -> 'textcard' ->> 'url' = e.link),
                per_member AS (SELECT userid, COUNT(*) AS n FROM card
                               WHERE outcome = 'delivered' AND userid = owner GROUP BY userid)
                SELECT (SELECT COUNT(*) FROM per_member),
                       (SELECT COALESCE(SUM(n - 1), 0) FROM per_member),
                       (SELECT COUNT(*) FROM card WHERE outcome = 'duplicate'),
                       (SELECT COUNT(*) FROM card WHERE outcome = 'dropped'),
                       (SELECT COUNT(*) FROM card WHERE userid <> owner),
                       (SELECT MIN(received_at) FROM card WHERE outcome = 'delivered'),
                       (SELECT MAX(received_at) FROM card WHERE outcome = 'delivered')
                """,
                [userids, links],
            )  # fmt: skip
            delivered, duplicates, suppressed, dropped, misdelivered, first, last = cursor.fetchone()
        return {"delivered": delivered, "duplicates": int(duplicates), "lost": len(userids) - delivered,
                "suppressed": suppressed, "dropped": dropped, "misdelivered": misdelivered, "first": first,
                "last": last}  # fmt: skip

    def delivered(self, moment_id: int) -> int:
        return self.counts(moment_id)["delivered"]


def main() -> None:
    args = arguments()
    directory = Path(tempfile.mkdtemp(prefix="moments-resilience-"))
    directory.chmod(0o755)  # the private PostgreSQL runs as the postgres user when we are root
    postgres = PrivatePostgres(directory / "postgres")
    if reason := missing(postgres):
        shutil.rmtree(directory, ignore_errors=True)
        if os.environ.get("CI") == "true":
            sys.exit(f"resilience bench: {reason}")
        print(f"resilience bench skipped: {reason}")
        return
    # SIGTERM (a CI timeout, make interrupted) unwinds through the finally below like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cleanup: list = []
    try:
        ok = run(args, directory, postgres, cleanup)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as error:  # clean up the rest anyway
                print(f"cleanup: {error!r}", file=sys.stderr)
        if args.keep:
            print(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    if not ok:
        sys.exit("resilience bench: not every associate was notified exactly once in every scenario")


def run(args, directory: Path, postgres: PrivatePostgres, cleanup: list) -> bool:
    sys.path.insert(0, str(ROOT))
    from campaigns.tests.stack import Stack  # the real stack's processes, as the end-to-end tests run them

    began = time.perf_counter()
    n, rate = args.associates, args.rate
    print(f"machine: {machine()}")
    print(f"size: {n:,} associates; message/send at {rate:,}/min; worker ×{args.concurrency}; "
          f"stale claims after {args.stale} s; beat at {args.beat_percent} %; fault at {args.fault_at:.0%} "
          f"notified, outage {args.outage:g} s")  # fmt: skip

    # WeCom's side: the sandbox's own database on the machine's server, seeded meanwhile.
    sandbox_url = os.environ.get("BENCH_RESILIENCE_DATABASE_URL", SANDBOX_URL)
    sandbox_env = {"DATABASE_URL": sandbox_url, "WECOM_SANDBOX": "1", "DEBUG": "0", "REDIS_URL": "",
                   "CELERY_BROKER_URL": "", "WECOM_SANDBOX_CALLBACK_URL": "", "WECOM_SANDBOX_BEHAVIOUR": "0",
                   "MOMENTS_VAR_DIR": str(ROOT / "var" / "bench")}  # fmt: skip
    database_recreate(sandbox_url)
    seeding_failed: list[BaseException] = []

    def seed() -> None:
        try:
            manage("migrate", "--verbosity", "0", env=sandbox_env)
            manage("sandbox_seed", "--associates", str(n), "--contacts-per-associate", "1", "--unverified-share", "0",
                   "--no-progress", env=sandbox_env)  # fmt: skip
        except BaseException as error:
            seeding_failed.append(error)

    seeding = threading.Thread(target=seed)
    seeding.start()

    # Our side: a PostgreSQL cluster and a Redis of our own.
    postgres.start()
    cleanup.append(lambda: postgres.stop("immediate"))
    app_url = postgres.url("moments")
    database_recreate(app_url)
    port = free_port()
    stack = Stack(f"http://127.0.0.1:{port}", directory)
    stack.redis.start()
    cleanup.append(stack.stop)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "moments_admin.settings.base", "DATABASE_URL": app_url, "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": stack.redis.url(0), "CELERY_BROKER_URL": stack.redis.url(1), "DEBUG": "0",
        "WECOM_BASE_URL": stack.wecom_base_url, "MOMENTS_PUBLIC_URL": stack.url,
        "MOMENTS_VAR_DIR": str(ROOT / "var" / "bench"), "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    seeding.join()
    if seeding_failed:
        raise seeding_failed[0]

    server = gunicorn_start(port=port, env=sandbox_env, log=directory / "sandbox.log")
    cleanup.append(lambda: (server.terminate(), server.wait(timeout=30)))

    moments = brand_build(stack, n)
    from campaigns.models import PublishTask
    from wecom.sandbox.models import Message

    record = Record(sandbox_url, Message._meta.db_table)
    cleanup.append(record.connection.close)
    print(f"set-up (databases, {n:,} members seeded and synced, servers): {time.perf_counter() - began:.0f} s")

    stack.overrides.update({
        "WECOM_MESSAGE_SEND_PER_MINUTE": str(rate), "MOMENTS_STALE_CLAIM_SECONDS": str(args.stale),
        "MOMENTS_BEAT_PERCENT": str(args.beat_percent),
    })  # fmt: skip
    stack.start_worker(concurrency=args.concurrency)
    stack.start_beat()

    def kill_worker():
        stack.kill("worker")
        time.sleep(args.outage)
        stack.start_worker(concurrency=args.concurrency)

    def restart_redis():
        stack.redis.stop()
        time.sleep(args.outage)
        stack.redis.start()

    def restart_postgres():
        postgres.stop("fast")
        time.sleep(args.outage)
        postgres.start()

    results = {}
    for name, moment, fault in zip(SCENARIOS, moments, (kill_worker, restart_redis, restart_postgres), strict=True):
        results[name] = scenario(args, stack, record, name, moment, fault)

    # The final count, after every scenario: a late re-send would show here.
    floor = n / rate * 60
    print(f"\nrate limit in force: message/send {rate:,}/min for all members together (a burst of {rate // 60}), "
          f"per member ≤ 30/min and ≤ 1000/h (each associate gets one card per moment); "
          f"floor for {n:,} cards: {floor:.0f} s")  # fmt: skip
    header = (f"{'scenario':20} {'delivered':>10} {'duplicates':>10} {'lost':>6} {'suppressed':>10} {'dropped':>7} "
              f"{'elapsed':>8} {'÷ floor':>7} {'fault at':>9} {'rate before':>12} {'tasks':>18}")  # fmt: skip
    print(header)
    ok = True
    for name, moment in zip(SCENARIOS, moments, strict=True):
        result = results[name]
        counts = record.counts(moment.pk)
        states = task_states(moment)
        line_ok = (counts["delivered"] == n and counts["duplicates"] == 0 and counts["lost"] == 0
                   and counts["misdelivered"] == 0 and states == {PublishTask.State.NOTIFIED: n}
                   and result["fault_at"] < n and not result["timed_out"])  # fmt: skip
        ok = ok and line_ok
        shown = ", ".join(f"{state} {count:,}" for state, count in sorted(states.items()))
        print(f"{name:20} {counts['delivered']:>10,} {counts['duplicates']:>10,} {counts['lost']:>6,} "
              f"{counts['suppressed']:>10,} {counts['dropped']:>7,} {result['elapsed']:>7.0f}s "
              f"{result['elapsed'] / floor:>6.2f}× {result['fault_at']:>9,} {result['steady'] / rate:>11.2f}× "
              f"{shown:>18}"
              + ("" if line_ok else "  ← FAILED"))  # fmt: skip
        if counts["misdelivered"]:
            print(f"  {counts['misdelivered']} cards reached a member they were not for")
        if result["fault_at"] >= n:
            print("  the dispatch finished before the fault: lower --fault-at or --rate")
    print(
        "suppressed: re-sends WeCom's duplicate check kept from the associate (at-least-once sending); "
        "dropped: silent drops over the per-member limits"
    )
    print(f"processes restarted by the supervisor: {stack.restarted or 'none'}")
    print(f"total: {time.perf_counter() - began:.0f} s; machine now: {machine()}")
    if not ok:
        print(stack.logs(lines=30))
    return ok


def brand_build(stack, n: int) -> list:
    """The app's directory synced from the sandbox, and one moment per scenario for the
    whole brand, approved and scheduled (not yet due)."""
    from django.utils import timezone

    from campaigns.tests.stack import brand_moments
    from staff.models import Associate
    from staff.sync import directory_sync
    from wecom.client import client_from_settings
    from wecom.ratelimit import Unlimited

    with client_from_settings(base_url=stack.wecom_base_url, limiter=Unlimited()) as client:
        directory_sync(client=client)
    active = Associate.objects.filter(is_active=True).count()
    if active != n:
        sys.exit(f"resilience bench: the sync made {active:,} active associates, not {n:,}")
    now = timezone.now()
    return brand_moments([(name, f"玫瑰系列上新 ({name})") for name in SCENARIOS],
                         publish_at=now + dt.timedelta(minutes=30), expires_at=now + dt.timedelta(hours=12),
                         campaign="resilience", users="resilience")  # fmt: skip


def task_states(moment) -> dict[str, int]:
    from django.db.models import Count

    from campaigns.models import PublishTask

    rows = PublishTask.objects.filter(moment=moment).values_list("state").annotate(n=Count("id"))
    return dict(rows.values_list("state", "n"))


def queued(stack) -> int:
    """Jobs waiting in the broker's queues (each a Redis list named after the queue)."""
    import redis
    from django.conf import settings

    try:
        broker = redis.Redis(port=stack.redis.port, db=1, socket_timeout=2)
        return sum(broker.llen(name) for name in settings.CELERY_TASK_QUEUES)
    except redis.exceptions.ConnectionError:
        return -1


def poll(condition, *, stack, timeout: float, every: float = 0.5):
    """``condition()`` until truthy (returned) or ``timeout`` (None). Restarts processes that
    exited; our database may be down meanwhile (its errors count as 'not yet')."""
    from django.db import Error, connections

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.supervise()
        try:
            if value := condition():
                return value
        except Error:
            connections.close_all()
        time.sleep(every)
    return None


def scenario(args, stack, record: Record, name: str, moment, fault) -> dict:
    from campaigns.dispatch import publish_link
    from campaigns.models import PublishTask
    from campaigns.tests.stack import make_due

    n = args.associates
    print(f"\n## {name}")
    # Start from an empty queue: jobs the last scenario left (copies the reconciler queued, each finding its
    # tasks done) would delay this one's first cards.
    waited, left = time.monotonic(), queued(stack)
    if left:
        poll(lambda: queued(stack) == 0, stack=stack, timeout=args.timeout, every=1)
        print(f"  {left:,} jobs left in the queue by the last scenario, drained in {time.monotonic() - waited:.0f} s")
    make_due([moment])
    due = time.monotonic()
    tasks = poll(lambda: PublishTask.objects.filter(moment=moment).count() == n, stack=stack, timeout=120)
    if not tasks:
        sys.exit(f"resilience bench: the moment was not dispatched ({task_states(moment)})\n{stack.logs()}")
    pairs = [(task.associate.userid, publish_link(task))
             for task in PublishTask.objects.filter(moment=moment).select_related("associate")]  # fmt: skip
    record.expect(moment.pk, pairs)
    fault_after = math.ceil(n * args.fault_at)
    poll(lambda: record.delivered(moment.pk) >= fault_after, stack=stack, timeout=args.timeout)
    before = record.counts(moment.pk)
    fault_at, now = before["delivered"], dt.datetime.now(dt.UTC)
    # The rate achieved before the fault, from the sandbox's clock (this machine's).
    steady = (fault_at - 1) / max(1e-3, (now - before["first"]).total_seconds()) * 60 if fault_at > 1 else 0
    print(f"  {fault_at:,} of {n:,} notified after {time.monotonic() - due:.1f} s ({steady:,.0f}/min since the "
          f"first, {steady / args.rate:.2f}× the rate): {name}, {args.outage:g} s down", flush=True)  # fmt: skip
    fault()
    print(f"  back after {time.monotonic() - due:.1f} s with {record.delivered(moment.pk):,} notified", flush=True)

    def all_notified():
        return task_states(moment) == {PublishTask.State.NOTIFIED: n}

    done = poll(all_notified, stack=stack, timeout=args.timeout)
    elapsed = time.monotonic() - due
    counts = record.counts(moment.pk)
    print(f"  {'all' if done else 'NOT all'} notified after {elapsed:.1f} s: {counts['delivered']:,} delivered, "
          f"{counts['duplicates']} duplicates, {counts['lost']} lost, {counts['suppressed']} re-sends suppressed; "
          f"tasks {task_states(moment)}", flush=True)  # fmt: skip
    return {"elapsed": elapsed, "fault_at": fault_at, "steady": steady, "timed_out": not done}


if __name__ == "__main__":
    main()
