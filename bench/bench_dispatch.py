#!/usr/bin/env python
"""Dispatch of one moment to every associate, over real HTTP to the sandbox, at a
configured message rate (PostgreSQL).

1. ``sandbox_seed`` N members (one customer each) and sync the app's directory
   from the sandbox served by gunicorn (not timed).
2. A moment for the whole brand is approved and scheduled; ``dispatch_due``
   creates its PublishTasks (timed).
3. Worker threads notify every task through the real client, with the
   ``message/send`` budget set to the configured rate (timed). The baseline is
   that rate: the figure is the achieved rate ÷ the configured one (1.0 = bounded
   by the limit, not by our code). Duplicates and silent drops are counted from
   the sandbox's record of what it received; both must be 0.

    python bench/bench_dispatch.py [--associates 10000] [--rate 6000] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import free_port, fresh_postgres_django, serve_sandbox

WORKERS = 8  # notify threads, like a few Celery worker processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associates", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=6_000, help="configured message/send rate, per minute")
    parser.add_argument("--smoke", action="store_true", help="200 associates, for CI")
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    if args.smoke:
        args.associates = 200

    url = fresh_postgres_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.db.models import Count
    from django.utils import timezone

    from campaigns import dispatch, services
    from campaigns.models import Campaign, Moment, PublishTask, Tone, Variant
    from staff.models import Department, User
    from staff.roles import APPROVER, MARKETING_ADMIN
    from staff.sync import directory_sync
    from wecom import ratelimit
    from wecom.client import client_from_settings
    from wecom.ratelimit import Budget, LocalTokenBucket, Unlimited
    from wecom.sandbox.models import Message

    call_command("sandbox_seed", associates=args.associates, contacts_per_associate=1, unverified_share=0,
                 no_progress=True, stdout=io.StringIO())  # fmt: skip
    port = free_port()
    server = serve_sandbox(url, port)
    base_url = f"http://127.0.0.1:{port}/wecom-sandbox/cgi-bin/"
    try:
        with client_from_settings(base_url=base_url, limiter=Unlimited()) as client:
            directory_sync(client=client)

        from django.contrib.auth.models import Group

        writer = User.objects.create_user("bench-writer")
        writer.groups.add(Group.objects.get(name=MARKETING_ADMIN))
        approver = User.objects.create_user("bench-approver")
        approver.groups.add(Group.objects.get(name=APPROVER))
        now = timezone.now()
        today = timezone.localdate()
        campaign = Campaign.objects.create(
            name="bench", starts_on=today, ends_on=today + dt.timedelta(days=1), owner=writer
        )
        moment = Moment.objects.create(campaign=campaign, title="bench", publish_at=now + dt.timedelta(minutes=1),
                                       expires_at=now + dt.timedelta(hours=6))  # fmt: skip
        tone = Tone.objects.get(code="warm")
        variant = Variant.objects.create(moment=moment, name="all", tone=tone, copy="bench")
        variant.target_departments.set([Department.objects.get(parent__isnull=True)])
        services.moment_submit(moment=moment, by=writer)
        services.moment_decide(moment=moment, by=approver, approve=True)
        services.moment_schedule(moment=moment, by=writer)
        Moment.objects.filter(pk=moment.pk).update(publish_at=now)

        started = time.perf_counter()
        dispatch.dispatch_due(enqueue=False)
        dispatch_s = time.perf_counter() - started
        task_ids = list(PublishTask.objects.order_by("id").values_list("pk", flat=True))

        # The configured rate: message/send's global budget for this run (a burst of one second's worth).
        ratelimit.ENDPOINT_BUDGETS["message/send"] = Budget.per_minute(args.rate, burst=max(1, args.rate // 60))
        limiter = LocalTokenBucket()
        settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"
        settings.MOMENTS_QUIET_START = settings.MOMENTS_QUIET_END = 0  # measure at any hour
        work: queue.Queue = queue.Queue()
        for task_id in task_ids:
            work.put(task_id)
        errors: list[str] = []

        def worker():
            with client_from_settings(base_url=base_url, limiter=limiter) as client:
                while True:
                    try:
                        task_id = work.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        dispatch.publish_task_notify(task_id=task_id, client=client, limiter=limiter)
                    except dispatch.NotifyRetry:
                        work.put(task_id)
                    except Exception as error:
                        errors.append(repr(error))
            connections.close_all()

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        notify_s = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    notified = PublishTask.objects.filter(state=PublishTask.State.NOTIFIED).count()
    delivered = Message.objects.filter(outcome=Message.Outcome.DELIVERED)
    duplicates = delivered.values("userid").annotate(n=Count("id")).filter(n__gt=1).count()
    dropped = Message.objects.filter(outcome=Message.Outcome.DROPPED).count()
    achieved = notified / notify_s * 60
    print(f"associates: {len(task_ids):,}; tasks created by dispatch in {dispatch_s:.2f} s")
    print(f"notified: {notified:,} in {notify_s:.1f} s with {WORKERS} threads ({achieved:,.0f}/min)")
    print(f"configured rate: {args.rate:,}/min")
    print(f"ratio (1.0 = bounded by the configured rate): {achieved / args.rate:.2f}× the configured rate")
    print(f"duplicates: {duplicates}, silent drops: {dropped}, errors: {len(errors)}")
    for error in errors[:5]:
        print("  ", error)
    if duplicates or dropped or errors or notified != len(task_ids):
        sys.exit("dispatch bench: not every associate was notified exactly once")


if __name__ == "__main__":
    main()
