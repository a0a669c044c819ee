"""End to end on the real stack: a Celery worker and beat (subprocesses) against
PostgreSQL and Redis, the WeCom sandbox on a live server. Each associate gets
exactly one message in the sandbox's record, none missing, whatever happens to
the worker or the broker (DESIGN.md §5.3)."""

from __future__ import annotations

import re

import httpx
import pytest

from campaigns.models import Moment, PublishTask, State
from campaigns.tests.stack import Stack, brand, make_due, require_stack, sandbox_record, wait_for
from wecom.sandbox.models import Fault, Message

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(live_server, tmp_path, settings):
    require_stack()
    running = Stack(live_server.url, tmp_path)
    settings.WECOM_BASE_URL = running.wecom_base_url  # the Publish click, served by live_server
    settings.MOMENTS_PUBLIC_URL = live_server.url
    running.redis.start()
    yield running
    running.stop()


def _states(moment=None) -> dict[str, int]:
    tasks = PublishTask.objects.all() if moment is None else PublishTask.objects.filter(moment=moment)
    states: dict[str, int] = {}
    for state in tasks.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    return states


def _all_notified(total: int):
    return lambda: PublishTask.objects.filter(state=PublishTask.State.NOTIFIED).count() == total


def test_schedule_notify_open_publish_confirm(stack):
    """schedule → notification received → link opened → Publish → the member publishes
    in WeCom → the task is published, with beat and a worker doing every step."""
    (moment,) = brand(stack, associates=4)
    stack.start_worker()
    stack.start_beat()
    make_due([moment])

    wait_for(_all_notified(4), timeout=90, what="four notified tasks", stack=stack)
    record = sandbox_record()
    assert record["delivered"] == 4 and record["members"] == 4 and record["over_once"] == 0
    wait_for(lambda: Moment.objects.get(pk=moment.pk).state == State.LIVE, timeout=30, what="the moment live",
             stack=stack)  # fmt: skip

    task = PublishTask.objects.select_related("associate").order_by("id").first()
    message = Message.objects.get(userid=task.associate.userid)
    link = message.content["textcard"]["url"]
    assert link.startswith(stack.url)
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(link)
        assert page.status_code == 200 and "玫瑰系列上新" in page.text
        task.refresh_from_db()
        assert task.state == PublishTask.State.OPENED
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        posted = browser.post(link, data={"csrfmiddlewaretoken": csrf}, headers={"Referer": link})
        assert posted.status_code == 200
        again = browser.post(link, data={"csrfmiddlewaretoken": csrf}, headers={"Referer": link})
        assert again.status_code == 200
    task.refresh_from_db()
    assert task.state == PublishTask.State.PUBLISH_REQUESTED and task.wecom_jobid

    # The member opens WeCom and publishes the task it received.
    published = httpx.post(f"{stack.url}/wecom-sandbox/control/members/{task.associate.userid}/publish",
                           json={"jobid": task.wecom_jobid}, timeout=30)  # fmt: skip
    assert published.status_code == 200, published.text
    wait_for(lambda: PublishTask.objects.get(pk=task.pk).state == PublishTask.State.PUBLISHED, timeout=60,
             what="WeCom's confirmation", stack=stack)  # fmt: skip
    # The second click made no second WeCom task, and nobody got a second message.
    from wecom.sandbox.models import MomentJob

    assert MomentJob.objects.count() == 1
    assert sandbox_record()["over_once"] == 0


def test_many_dispatchers_at_once_claim_each_moment_once(stack):
    """Eight dispatcher runs at once on two workers, over three due moments."""
    moments = brand(stack, associates=20, moments=3)
    stack.start_worker("a", concurrency=4)
    stack.start_worker("b", concurrency=4)
    make_due(moments)
    stack.send("campaigns.tasks.dispatch_due_task", count=8)
    stack.start_beat()  # the reconciler and later dispatcher runs
    wait_for(_all_notified(60), timeout=120, what="sixty notified tasks", stack=stack)
    assert PublishTask.objects.count() == 60
    record = sandbox_record(moments_count=3)
    assert record["delivered"] == 60 and record["members"] == 20 and record["over_once"] == 0
    from campaigns.models import StateChange

    claims = StateChange.objects.filter(moment__in=moments, to_state=State.DISPATCHING).count()
    assert claims == 3


def _dispatch_slowly(stack, associates: int = 150) -> None:
    """A dispatch under way: each message takes a while, so what follows lands mid-batch."""
    (moment,) = brand(stack, associates=associates, contacts=1)
    Fault.objects.create(endpoint="message/send", rate=1.0, latency_ms=40)
    stack.start_worker()
    stack.start_beat()
    make_due([moment])
    wait_for(lambda: Message.objects.count() >= 30, timeout=90, what="the first messages", stack=stack)


def test_a_worker_killed_mid_batch_loses_nobody_and_notifies_nobody_twice(stack):
    _dispatch_slowly(stack)
    stack.kill("worker")
    killed_at = Message.objects.count()
    assert killed_at < 150, "the worker finished before it was killed: make the batch slower"
    stack.start_worker()
    wait_for(_all_notified(150), timeout=300, what="every task notified after the restart", stack=stack)
    record = sandbox_record()
    assert record == {**record, "delivered": 150, "members": 150, "over_once": 0, "dropped": 0}


def test_redis_restarted_mid_dispatch_loses_nobody_and_notifies_nobody_twice(stack):
    _dispatch_slowly(stack)
    stack.redis.stop()  # every queued notify job is lost with it
    lost_at = Message.objects.count()
    stack.redis.start()
    assert lost_at < 150, "dispatch finished before Redis went down: make the batch slower"
    wait_for(_all_notified(150), timeout=300, what="every task notified after Redis came back", stack=stack)
    print("processes restarted by the supervisor:", stack.restarted or "none")
    record = sandbox_record()
    assert record == {**record, "delivered": 150, "members": 150, "over_once": 0, "dropped": 0}


def test_with_thirty_percent_faults_everyone_is_notified_exactly_once(stack):
    """45009, -1, HTTP 502, a timeout, and answers lost after the message went out."""
    (moment,) = brand(stack, associates=30, contacts=1)
    for fault in (
        {"errcode": 45009},
        {"errcode": -1},
        {"http_status": 502},
        {"drop_connection": True},
        {"errcode": -1, "after_effect": True},  # sent, but the answer says busy
        {"drop_connection": True, "after_effect": True},  # sent, but the answer never arrives
    ):
        Fault.objects.create(endpoint="message/send", rate=0.06, **fault)
    stack.start_worker(concurrency=4)
    stack.start_beat()
    make_due([moment])
    wait_for(_all_notified(30), timeout=240, what="every task notified despite the faults", stack=stack)
    record = sandbox_record()
    assert record == {**record, "delivered": 30, "members": 30, "over_once": 0, "dropped": 0}
    assert PublishTask.objects.filter(attempts__gt=1).exists()  # the faults did hit


def test_two_thousand_associates_at_a_low_configured_rate(stack):
    """The global message budget holds across worker processes: the achieved rate is the
    configured one (no more than its one-second burst above), with no silent drop. Below, only
    ≥ 0.5× in the steady state (the middle 90 % of the messages): the sandbox answering them
    runs inside this coverage-instrumented process, on the same two cores as the four workers,
    and measured 0.74–1.02× on CI machines; 0.5× still catches a dispatcher throttling itself.
    The benchmark measures the figure without coverage (docs/benchmarks.md)."""
    rate = 2400  # a minute: 40 a second
    (moment,) = brand(stack, associates=2000, contacts=1)
    stack.overrides["WECOM_MESSAGE_SEND_PER_MINUTE"] = str(rate)
    stack.start_worker(concurrency=4)
    stack.start_beat()
    make_due([moment])
    wait_for(_all_notified(2000), timeout=300, what="2,000 notified tasks", stack=stack)
    record = sandbox_record()
    assert record == {**record, "delivered": 2000, "members": 2000, "over_once": 0, "dropped": 0}
    times = sorted(Message.objects.values_list("received_at", flat=True))
    times = times[len(times) // 20 : -len(times) // 20]  # the steady state
    achieved = (len(times) - 1) / (times[-1] - times[0]).total_seconds() * 60
    print(f"2,000 associates: achieved {achieved:,.0f}/min for a configured {rate:,}/min "
          f"({achieved / rate:.2f}×)")  # fmt: skip
    assert 0.5 * rate <= achieved <= rate * 1.1


def test_enterprise_mode_one_wecom_task_at_dispatch_then_confirmed(stack):
    """Enterprise mode: the worker creates the variant's WeCom task at dispatch and beat
    polls its moment_id; associates publish in WeCom and beat confirms them."""
    from campaigns.models import EnterpriseTask
    from wecom.sandbox.models import MomentJob

    (moment,) = brand(stack, associates=3)
    Moment.objects.filter(pk=moment.pk).update(mode=Moment.Mode.ENTERPRISE)
    stack.start_worker()
    stack.start_beat()
    make_due([moment])
    wait_for(_all_notified(3), timeout=90, what="three notified tasks", stack=stack)
    done = wait_for(lambda: EnterpriseTask.objects.filter(state=EnterpriseTask.State.DONE).first(), timeout=60,
                    what="the WeCom task's moment_id", stack=stack)  # fmt: skip
    assert MomentJob.objects.count() == 1
    userid = PublishTask.objects.select_related("associate").first().associate.userid
    published = httpx.post(f"{stack.url}/wecom-sandbox/control/members/{userid}/publish",
                           json={"moment_id": done.wecom_moment_id}, timeout=30)  # fmt: skip
    assert published.status_code == 200, published.text
    wait_for(lambda: _states(moment).get("published") == 1, timeout=60, what="WeCom's confirmation", stack=stack)
    assert _states(moment) == {"published": 1, "notified": 2}


def test_a_callback_whose_job_was_lost_is_applied_by_beat_s_reconciler(stack):
    """Recorded, but its job never reached a worker (a broker restart): beat's reconciler queues it
    again on the "realtime" queue, which a worker started without -Q consumes with the others."""
    import datetime as dt

    from django.utils import timezone

    from staff.models import CallbackEvent

    payload = {"UserID": "newcomer", "ExternalUserID": "wm0"}
    event = CallbackEvent.objects.create(event="change_external_contact", change_type="add_external_contact",
                                         key="lost-job", payload=payload)  # fmt: skip
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - dt.timedelta(hours=1))
    stack.start_worker()
    stack.start_beat()
    wait_for(lambda: CallbackEvent.objects.filter(pk=event.pk, applied_at__isnull=False).exists(), timeout=120,
             what="the lost callback applied", stack=stack)  # fmt: skip
    event.refresh_from_db()
    assert event.outcome.startswith("skipped: unknown associate")
    worker_log = "\n".join(path.read_text() for path in stack.directory.glob("worker-*.log"))
    assert "callback_event_apply_task" in worker_log and ".> realtime" in worker_log
    # Beat's heartbeats reached a worker on every queue: the queues' health check is green.
    from django.test import Client

    wait_for(lambda: Client().get("/healthz/queues").status_code == 200, timeout=60, what="every queue's heartbeat",
             stack=stack)  # fmt: skip
    # The worker logs through the app's LOGGING: its lines name the task they come from (moments_admin.logs).
    assert re.search(r"staff\.tasks\.callback_events_reconcile_task [0-9a-f-]{36}\]: callback events queued again",
                     worker_log), worker_log[-3000:]  # fmt: skip
