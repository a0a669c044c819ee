#!/usr/bin/env python
"""Requests per second and latency of the associate's page and the managers' dashboards,
served by gunicorn on loopback, next to a hello-world view in the same run (PostgreSQL).

1. Not timed: a brand built set-based (``_support.world_build``: N associates × M contacts)
   and its campaign (``_support.campaign_build``: 5 days × 2 moments for the whole brand),
   every moment live with its PublishTasks (``campaigns.dispatch.moment_tasks_create``) in a
   mix of states — 40% published, each with its post, the deliveries to the associate's
   contacts in the variant's audience and a like for one delivery in 40 — and the roll-ups
   computed the production way; a manager of the first region, logged in (a session).
   The dashboard's speed at 10M+ deliveries is bench/dashboard.py's: here the data is small.
2. The app under gunicorn as the Procfile's ``web`` runs it (``--workers`` × ``--threads``,
   gthread) on a free loopback port, against this database and a private Redis (cache, jsapi
   ticket, rate limits), with ``/bench-hello/`` added (bench/_load.py).
3. Each target in turn, ``--warm-up`` seconds not counted, then ``--seconds`` of closed-loop
   load from ``--concurrency`` clients (bench/_load.py): hello-world; the associate's publish
   page ``/p/<token>/`` (a GET of a valid link, the tokens of the first moment's tasks not yet
   published in turn) in a phone's browser, and inside the WeCom client (the opener cookie set, so the
   page signs ``wx.agentConfig`` with the jsapi ticket); the manager's campaign overview and
   leaderboard. Printed per target: requests/s, p50, p95 and p99 latency, requests/s as a
   share of hello-world's, and the load generator's own CPU time.
4. Checks (non-zero exit): every target's first answer is a 200 with its content (the copy on
   the publish page, the agent config inside WeCom, the campaign on the dashboards), and no
   request of the load got anything but a 2xx.

    python bench/load.py [--seconds 20] [--concurrency 8] [--associates 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import http_get, load
from _support import ROOT, campaign_build, free_port, fresh_postgres_django, gunicorn_start, machine, step, world_build

LOAD_URL = "postgres://postgres@127.0.0.1:5432/moments_bench_load"
PUBLISHED_PERCENT = 40  # of the tasks; the rest: publish requested, opened, failed, notified


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associates", type=int, default=2_000)
    parser.add_argument("--contacts-per-associate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="of load per target")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds per target, not counted")
    parser.add_argument("--concurrency", type=int, default=8, help="simultaneous clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--smoke", action="store_true", help="200 × 20 associates and contacts, 3 s a target, for CI")
    args, _others = parser.parse_known_args()  # bench/run.py passes every bench the same options
    if args.smoke:
        args.associates, args.contacts_per_associate, args.seconds, args.warm_up = 200, 20, 3.0, 1.0
    return args


def main() -> None:
    args = arguments()
    if not shutil.which("redis-server"):
        if os.environ.get("CI") == "true":
            sys.exit("load bench: needs redis-server on PATH")
        print("load bench skipped: needs redis-server on PATH (apt-get install redis-server)")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind through the finally blocks
    directory = Path(tempfile.mkdtemp(prefix="moments-load-"))
    cleanup: list = []
    try:
        problems = run(args, directory, cleanup)
    finally:
        for undo in reversed(cleanup):
            try:
                undo()
            except Exception as error:  # clean up the rest anyway
                print(f"cleanup: {error!r}", file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)
    for problem in problems:
        print("  ", problem)
    if problems:
        sys.exit(f"load bench: {len(problems)} problems")


def run(args, directory: Path, cleanup: list) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from campaigns.tests.stack import RedisServer

    redis = RedisServer(directory)
    redis.start()
    cleanup.append(redis.stop)
    url = os.environ.get("BENCH_LOAD_DATABASE_URL", LOAD_URL)
    os.environ.update({"BENCH_DATABASE_URL": url, "DEBUG": "0", "REDIS_URL": redis.url(0),
                       "CELERY_BROKER_URL": redis.url(1), "LOG_LEVEL": "WARNING"})  # fmt: skip
    fresh_postgres_django()
    from django.conf import settings

    print(f"size: {args.associates:,} associates × {args.contacts_per_associate} contacts; gunicorn {args.workers} "
          f"workers × {args.threads} threads; {args.concurrency} clients, {args.seconds:g} s a target "
          f"after {args.warm_up:g} s of warm-up")  # fmt: skip
    world = data_build(args)

    port = free_port()
    host = f"127.0.0.1:{port}"
    server = gunicorn_start(
        port=port, app="_load:wsgi_application()", workers=args.workers, threads=args.threads,
        log=directory / "gunicorn.log",
        env={"DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": settings.SECRET_KEY, "REDIS_URL": redis.url(0),
             "CELERY_BROKER_URL": redis.url(1), "WECOM_BASE_URL": f"http://{host}/wecom-sandbox/cgi-bin/",
             "MOMENTS_PUBLIC_URL": f"http://{host}", "LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    cleanup.append(lambda: (server.terminate(), server.wait(timeout=30)))

    targets = targets_build(world, host)
    print(f"machine: {machine()}")
    problems = []
    for name, (requests, marker) in targets.items():
        problems += first_answer(port, name, requests[0], marker)
    if problems:
        print((directory / "gunicorn.log").read_text()[-3000:])
        return problems

    results = {}
    for name, (requests, _marker) in targets.items():
        results[name] = load("127.0.0.1", port, requests, seconds=args.seconds, concurrency=args.concurrency,
                             warm_up=args.warm_up)  # fmt: skip
        result = results[name]
        if not result.answered:
            problems.append(f"{name}: no answer")
        elif result.failures:
            problems.append(f"{name}: {result.failures:,} of {sum(result.statuses.values()):,} requests without a "
                            f"2xx answer ({dict(result.statuses)})")  # fmt: skip

    hello = results["hello-world"].per_second
    print(f"\n{'target':36} {'requests':>9} {'req/s':>8} {'÷ hello':>8} {'p50':>9} {'p95':>9} {'p99':>9} "
          f"{'non-2xx':>8} {'client CPU':>11}")  # fmt: skip
    for name, result in results.items():
        print(f"{name:36} {result.answered:>9,} {result.per_second:>8,.0f} {result.per_second / hello:>7.2f}× "
              f"{result.percentile(0.5) * 1000:>6.1f} ms {result.percentile(0.95) * 1000:>6.1f} ms "
              f"{result.percentile(0.99) * 1000:>6.1f} ms {result.failures:>8,} "
              f"{result.client_cpu / result.seconds:>10.0%}")  # fmt: skip
    print("client CPU: the load generator's share of one core (the server has the rest of the machine)")
    print(f"machine now: {machine()}")
    return problems


def data_build(args) -> dict:
    """The brand, the campaign with its tasks and results, roll-ups, and a manager's session."""
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from analytics import rollups
    from analytics.models import Delivery, Engagement, Post
    from campaigns import dispatch
    from campaigns.models import Moment, PublishTask, State, Variant
    from staff.models import Contact, ContactTag, Department, ManagerAssignment, User
    from staff.roles import MANAGER

    world_build(args.associates, args.contacts_per_associate)
    with step("campaign, tasks"):
        built = campaign_build()
        moments = built["moments"]
        for moment in moments:
            dispatch.moment_tasks_create(moment)
        Moment.objects.filter(pk__in=[m.pk for m in moments]).update(state=State.LIVE)
    t = {model.__name__: connection.ops.quote_name(model._meta.db_table)
         for model in (PublishTask, Moment, Variant, Post, Delivery, Engagement, Contact, ContactTag)}  # fmt: skip
    variant_tag = connection.ops.quote_name(Variant.audience_tags.through._meta.db_table)
    ids = ", ".join(str(m.pk) for m in moments)
    p = PUBLISHED_PERCENT
    with step("results: states, posts, deliveries, likes"), connection.cursor() as cursor:
        # by the task's id: published, publish requested, opened, failed, the rest notified
        cursor.execute(f"""
            UPDATE {t["PublishTask"]} tk SET
                state = x.state, attempts = 1,
                msgid = CASE WHEN x.state <> 'failed' THEN 'msg-' || tk.id ELSE '' END,
                notified_at = CASE WHEN x.state <> 'failed' THEN x.at + interval '1 minute' END,
                opened_at = CASE WHEN x.state IN ('opened', 'publish_requested', 'published')
                                 THEN x.at + make_interval(mins => (10 + tk.id % 50)::int) END,
                publish_requested_at = CASE WHEN x.state IN ('publish_requested', 'published')
                                            THEN x.at + make_interval(mins => (15 + tk.id % 50)::int) END,
                published_at = CASE WHEN x.state = 'published'
                                    THEN x.at + make_interval(mins => (16 + tk.id % 50)::int) END,
                via = CASE WHEN x.state IN ('publish_requested', 'published') THEN 'jssdk' ELSE '' END,
                wecom_moment_id = CASE WHEN x.state = 'published' THEN 'bench-' || tk.id ELSE '' END,
                errcode = CASE WHEN x.state = 'failed' THEN 40003 END,
                error = CASE WHEN x.state = 'failed' THEN 'bench' ELSE '' END
            FROM (SELECT task.id, m.publish_at AS at,
                         CASE WHEN task.id % 100 < {p} THEN 'published'
                              WHEN task.id % 100 < {p + 5} THEN 'publish_requested'
                              WHEN task.id % 100 < {p + 25} THEN 'opened'
                              WHEN task.id % 100 < {p + 28} THEN 'failed' ELSE 'notified' END AS state
                  FROM {t["PublishTask"]} task JOIN {t["Moment"]} m ON m.id = task.moment_id
                  WHERE task.moment_id IN ({ids})) x
            WHERE x.id = tk.id
        """)  # fmt: skip
        cursor.execute(f"""
            INSERT INTO {t["Post"]} (wecom_moment_id, kind, created_at, text, synced_at, creator_id, moment_id)
            SELECT tk.wecom_moment_id, 1, tk.published_at, v.copy, tk.published_at + interval '1 day',
                   tk.associate_id, tk.moment_id
            FROM {t["PublishTask"]} tk JOIN {t["Variant"]} v ON v.id = tk.variant_id
            WHERE tk.state = 'published' AND tk.moment_id IN ({ids})
        """)  # fmt: skip
        # to the associate's active contacts in the variant's audience (all, or those with one of its tags)
        cursor.execute(f"""
            INSERT INTO {t["Delivery"]} (post_id, moment_id, associate_id, customer_id, day)
            SELECT po.id, po.moment_id, po.creator_id, c.customer_id, (po.created_at AT TIME ZONE %s)::date
            FROM {t["Post"]} po JOIN {t["PublishTask"]} tk ON tk.wecom_moment_id = po.wecom_moment_id
            JOIN {t["Variant"]} v ON v.id = tk.variant_id
            JOIN {t["Contact"]} c ON c.associate_id = po.creator_id AND c.is_active
            WHERE v.audience_all OR EXISTS (
                SELECT 1 FROM {t["ContactTag"]} ct JOIN {variant_tag} vt ON vt.customertag_id = ct.tag_id
                WHERE vt.variant_id = v.id AND ct.contact_id = c.id)
        """, [settings.TIME_ZONE])  # fmt: skip
        cursor.execute(f"""
            INSERT INTO {t["Engagement"]} (post_id, moment_id, associate_id, kind, customer_id, actor, created_at, day)
            SELECT d.post_id, d.moment_id, d.associate_id, 0, d.customer_id, 'wm-bench-' || d.customer_id,
                   po.created_at + interval '1 hour', d.day
            FROM {t["Delivery"]} d JOIN {t["Post"]} po ON po.id = d.post_id WHERE d.id % 40 = 0
        """)  # fmt: skip
    with step("roll-ups, VACUUM ANALYZE"):
        rollups.mark_everything()
        rollups.rollups_refresh()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    counts = {model.__name__: model.objects.count() for model in (PublishTask, Post, Delivery, Engagement)}
    print("  rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))

    top = Department.objects.get(parent__isnull=True)
    region = Department.objects.filter(parent=top).order_by("id").first()
    manager = User.objects.create_user("bench-manager", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER))
    ManagerAssignment.objects.create(user=manager, department=region)
    browser = Client()
    browser.force_login(manager)  # a session in the database, as the login page would leave it

    # The links associates open before they publish (a published task's page only says so).
    tasks = list(
        PublishTask.objects.filter(moment=moments[0], variant__position=0)
        .filter(state__in=[PublishTask.State.NOTIFIED, PublishTask.State.OPENED])
        .select_related("associate", "variant")
        .order_by("id")
    )
    return {"campaign": built["campaign"], "tasks": tasks,
            "session": browser.cookies[settings.SESSION_COOKIE_NAME].value}  # fmt: skip


def targets_build(world, host: str) -> dict[str, tuple[list[bytes], str]]:
    """Per target: the requests (used in turn) and a text its first answer must contain."""
    from django.conf import settings
    from django.core import signing
    from django.urls import reverse

    from campaigns import dispatch, opener

    phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    in_wecom = phone + " wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh"
    tasks, campaign = world["tasks"], world["campaign"]
    copy = tasks[0].variant.copy

    def opener_cookie(userid: str) -> str:  # as response.set_signed_cookie(OPENER_COOKIE, …, salt=SALT) leaves it
        return signing.get_cookie_signer(salt=opener.OPENER_COOKIE + opener.SALT).sign(userid)

    publish = [
        (reverse("campaigns:publish", args=[dispatch.publish_link_token(task)]), task.associate.userid)
        for task in tasks
    ]
    session = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={world['session']}"}
    overview = reverse("dashboards:campaign", args=[campaign.public_id])
    board = reverse("dashboards:leaderboard", args=[campaign.public_id])
    return {
        "hello-world": ([http_get("/bench-hello/", host=host)], "hello"),
        "publish page, phone browser": (
            [http_get(path, host=host, headers={"User-Agent": phone}) for path, _userid in publish], copy,
        ),
        "publish page, inside WeCom": (
            [http_get(path, host=host, headers={"User-Agent": in_wecom,
                                                "Cookie": f"{opener.OPENER_COOKIE}={opener_cookie(userid)}"})
             for path, userid in publish],
            'id="wecom-agent-config"',
        ),
        "dashboard: campaign overview": ([http_get(overview, host=host, headers=session)], campaign.name),
        "dashboard: leaderboard": ([http_get(board, host=host, headers=session)], campaign.name),
    }  # fmt: skip


def first_answer(port: int, name: str, request: bytes, marker: str) -> list[str]:
    """One request before the load: a 200 carrying the marker, or the problem."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks).decode("utf-8", errors="replace")
    status = answer.split(" ", 2)[1] if " " in answer else "?"
    if status != "200":
        return [f"{name}: HTTP {status} before the load: {answer[:300]!r}"]
    if marker not in answer:
        return [f"{name}: the answer lacks {marker!r}"]
    return []


if __name__ == "__main__":
    main()
