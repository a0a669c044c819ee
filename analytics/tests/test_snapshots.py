"""Forecast snapshots and their recomputation (``analytics.snapshots``, issue #19): a plan change queues one
debounced run per campaign on the bulk queue after commit, a run keeps the whole forecast and the plan it
read, one run at a time per campaign, a lost message or a dead run is picked up by the sweep, and a
snapshot tells what changed since."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import pytest
from celery.signals import before_task_publish
from django.utils import timezone, translation

from analytics import forecast, snapshots
from analytics.models import ForecastJob, ForecastSnapshot, MomentForecast
from analytics.tasks import forecast_snapshots_task
from campaigns import services
from campaigns.models import Moment, State
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

JOB_TASK = "analytics.tasks.forecast_job_task"


@pytest.fixture(autouse=True)
def sent():
    """The forecast jobs' messages as Celery publishes them, to kombu's in-memory broker (not the
    developer's queue or CI's Redis): (job id, countdown in seconds, queue)."""
    from moments_admin.celery import app

    def use(url):
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    messages = []

    def record(sender=None, body=None, headers=None, routing_key=None, **kwargs):
        if sender == JOB_TASK:
            eta = headers.get("eta")
            wait = (dt.datetime.fromisoformat(eta) - timezone.now()).total_seconds() if eta else 0.0
            messages.append((body[0][0], round(wait), routing_key))

    saved = app.conf.broker_url
    use("memory://")
    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)
    use(saved)


@pytest.fixture(autouse=True)
def english():
    """The sentences asserted here are the English ones (the default language is zh-hans, translated since
    bc529c4)."""
    with translation.override("en"):
        yield


@pytest.fixture
def plan(db):
    """A draft campaign: two moments on one day, Lily (3 customers) and Ken (unverified, limit 1: 2 customers)."""
    from analytics.models import PlatformRules

    PlatformRules.objects.create(effective_from=timezone.localdate(), feed_cap=3, unverified_reach_limit=1)
    store = factories.department("上海店")
    lily = factories.associate("lily", departments=[store])
    ken = factories.associate("ken", departments=[store], verified=False)
    gold = factories.tag("金卡")
    for i in range(3):
        customer = Customer.objects.create(external_userid=f"wm-{i}", name=f"c{i}")
        factories.contact(lily, customer, tags=[gold] if i == 0 else [])
        if i < 2:
            Contact.objects.create(associate=ken, customer=customer, added_at=timezone.now() - dt.timedelta(days=i))
    owner = factories.user("planner", role=MARKETING_ADMIN)
    campaign = cf.campaign(owner, name="情人节")
    first = cf.moment(campaign, title="早安")
    second = cf.moment(campaign, title="午安", hour=12)
    cf.variant(first, departments=[store], name="全部")
    cf.variant(second, departments=[store], tags=[gold], name="金卡")
    return {"campaign": campaign, "first": first, "second": second, "owner": owner, "lily": lily, "ken": ken,
            "store": store, "gold": gold}  # fmt: skip


def _due(job: ForecastJob) -> None:
    ForecastJob.objects.filter(pk=job.pk).update(due_at=timezone.now() - dt.timedelta(seconds=1))


def test_a_plan_change_queues_one_recomputation_after_commit_debounced(plan, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.moment_edited(moment=plan["first"], by=plan["owner"])
        assert not ForecastJob.objects.exists()  # nothing before the commit
    with django_capture_on_commit_callbacks(execute=True):
        services.moment_edited(moment=plan["second"], by=plan["owner"])  # a second change, merged
    job = ForecastJob.objects.get(campaign=plan["campaign"])
    assert job.state == "queued" and not job.forced
    assert [(pk, queue) for pk, _wait, queue in sent] == [(job.pk, "bulk")]  # one message, on the bulk queue
    assert 25 <= sent[0][1] <= snapshots.DEBOUNCE_SECONDS
    assert job.due_at >= job.queued_at + dt.timedelta(seconds=snapshots.DEBOUNCE_SECONDS)


def test_a_run_before_its_due_time_waits_then_keeps_the_whole_forecast(plan, sent, django_capture_on_commit_callbacks):
    job = snapshots.request(plan["campaign"].pk)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert snapshots.job_run(job.pk) == {"skipped": "deferred"}  # the message came early: once more, when due
    assert len(sent) == 1 and 25 <= sent[0][1] <= 30 and not ForecastSnapshot.objects.exists()
    _due(job)
    assert snapshots.job_run(job.pk) == {"forecast": plan["campaign"].pk, "moments": 2}
    job.refresh_from_db()
    assert (job.state, job.stage, job.steps_done, job.steps_total, job.error) == ("done", "moments", 4, 4, "")
    snapshot = ForecastSnapshot.objects.get(campaign=plan["campaign"])
    assert snapshots.forecast_from_json(snapshot.forecast) == forecast.forecast_campaign(plan["campaign"])
    assert snapshot.plan_digest == snapshots.plan_read(plan["campaign"].pk).digest
    assert snapshot.computed_at <= job.started_at + dt.timedelta(seconds=1)
    for moment in (plan["first"], plan["second"]):  # each moment alone, as its page shows it
        kept = MomentForecast.objects.get(moment=moment)
        assert snapshots.forecast_from_json(kept.forecast) == forecast.forecast_moments([moment])
    assert snapshots.job_run(job.pk) == {"skipped": "nothing to do"}  # a stale message of a job that ran


def test_an_unchanged_plan_is_not_forecast_again_unless_asked(plan):
    snapshots.recompute(plan["campaign"].pk)
    first = ForecastSnapshot.objects.get(campaign=plan["campaign"])
    job = snapshots.request(plan["campaign"].pk)  # a workflow step that changed nothing the forecast reads
    _due(job)
    assert snapshots.job_run(job.pk) == {"unchanged": plan["campaign"].pk}
    assert ForecastSnapshot.objects.get(campaign=plan["campaign"]).pk == first.pk
    job = snapshots.request(plan["campaign"].pk, forced=True, delay=0)  # "Recompute now": the directory changed
    assert snapshots.job_run(job.pk)["forecast"] == plan["campaign"].pk
    assert ForecastSnapshot.objects.get(campaign=plan["campaign"]).pk != first.pk


def test_one_run_at_a_time_per_campaign_and_a_change_meanwhile_runs_once_more(
    plan, sent, django_capture_on_commit_callbacks
):
    job = snapshots.request(plan["campaign"].pk, delay=0)
    claimed, why = snapshots._claim(job.pk, forced=False)  # a worker took it and is forecasting
    assert claimed is not None and why == ""
    assert snapshots.job_run(job.pk) == {"skipped": "already running"}  # a second worker, or the sweep
    assert snapshots.recompute(plan["campaign"].pk) == {"skipped": "already running"}
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        snapshots.request(plan["campaign"].pk)  # the plan changes during the run
    assert sent == []  # no second run alongside
    with django_capture_on_commit_callbacks(execute=True):
        snapshots._finish(claimed)
    job.refresh_from_db()
    assert job.state == "queued" and [pk for pk, *_ in sent] == [job.pk]  # … but one more after it
    assert not job.forced  # the change asked for nothing more: that run compares the plan first
    _due(job)
    assert snapshots.job_run(job.pk)["forecast"] == plan["campaign"].pk  # no snapshot yet: forecast
    job = snapshots.request(plan["campaign"].pk)
    _due(job)
    assert snapshots.job_run(job.pk) == {"unchanged": plan["campaign"].pk}


def test_the_sweep_sends_a_lost_message_again_and_releases_a_dead_run(plan, sent, django_capture_on_commit_callbacks):
    other = cf.campaign(plan["owner"], name="会员日")
    lost = snapshots.request(plan["campaign"].pk)
    ForecastJob.objects.filter(pk=lost.pk).update(due_at=timezone.now() - snapshots.LOST_AFTER * 2)
    dead = ForecastJob.objects.create(campaign=other, state="running", started_at=timezone.now() - snapshots.LEASE * 2)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert snapshots.sweep() == {"resent": [lost.pk], "interrupted": [dead.pk]}
    dead.refresh_from_db()
    assert dead.state == "queued" and sorted(pk for pk, *_ in sent) == sorted([lost.pk, dead.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert snapshots.sweep() == {}  # sent again just now: not again


def test_a_failed_run_is_recorded_for_the_pages(plan, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(forecast, "forecast_snapshot_create", broken)  # a fault, injected
    job = snapshots.request(plan["campaign"].pk, delay=0)
    assert snapshots.job_run(job.pk) == {"failed": job.pk}
    job.refresh_from_db()
    assert (job.state, job.error) == ("failed", "the database went away")
    assert snapshots.job_progress(job)["text"] == "The last recomputation failed: the database went away"


def test_the_plan_digest_follows_what_the_forecast_reads(plan):
    campaign = plan["campaign"]
    before = snapshots.plan_read(campaign.pk)
    Moment.objects.filter(pk=plan["first"].pk).update(title="早上好")  # a title: nobody's reach
    assert snapshots.plan_read(campaign.pk).digest == before.digest
    variant = plan["second"].variants.get()
    variant.target_associates.add(plan["ken"])
    Moment.objects.filter(pk=plan["first"].pk).update(publish_at=plan["first"].publish_at + dt.timedelta(hours=1))
    Moment.objects.filter(pk=plan["second"].pk).update(state=State.APPROVED)
    after = snapshots.plan_read(campaign.pk)
    assert after.digest != before.digest
    assert snapshots.plan_changes(before, after) == [
        "“早上好”: its times changed.",
        "“午安” was approved.",
        "“午安”: the associates of “金卡” changed.",
    ]
    cf.variant(plan["first"], associates=[plan["lily"]], name="新")
    Moment.objects.filter(pk=plan["second"].pk).update(state=State.CANCELLED)
    changes = snapshots.plan_changes(after, snapshots.plan_read(campaign.pk))
    assert changes == ["“午安” was cancelled.", "“早上好”: variant “新” was added."]


def test_a_snapshot_is_stale_once_the_plan_changes_and_says_what_changed(plan):
    snapshots.recompute(plan["campaign"].pk)
    status = snapshots.campaign_status(plan["campaign"].pk)
    assert (status.stale, status.changes) == (False, [])
    assert status.forecast == forecast.forecast_campaign(plan["campaign"])
    plan["first"].variants.get().audience_tags.add(plan["gold"])
    status = snapshots.campaign_status(plan["campaign"].pk)
    assert status.stale and status.changes == ["“早安”: the audience of “全部” changed."]
    moment = snapshots.moment_status(plan["second"])  # the moment page: the campaign's plan changed too
    assert moment.stale and moment.changes == status.changes


def test_the_forecast_survives_its_json(plan):
    result = forecast.forecast_campaign(plan["campaign"])
    assert result.variants and result.verification  # Ken is past his limit
    data = snapshots.forecast_json(result)
    assert snapshots.forecast_from_json(data) == result
    assert snapshots.forecast_from_json({**data, "a_figure_of_later": 1}) == result  # older code reads newer rows
    assert asdict(snapshots.forecast_from_json({})) == asdict(forecast.Forecast())


def test_the_periodic_sweep_recomputes_with_the_jobs(plan):
    Moment.objects.filter(campaign=plan["campaign"]).update(state=State.APPROVED)
    assert forecast_snapshots_task() == {"forecast snapshots": [plan["campaign"].pk]}
    job = ForecastJob.objects.get(campaign=plan["campaign"])
    assert job.state == "done" and MomentForecast.objects.filter(moment__campaign=plan["campaign"]).count() == 2


# --- the API: read the snapshot, ask for a recomputation, follow it ------------------------------------------
def _api(user):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


def test_the_api_reads_the_snapshot_asks_for_a_recomputation_and_follows_it(
    plan, sent, django_capture_on_commit_callbacks
):
    api = _api(plan["owner"])
    campaign = plan["campaign"]
    snapshot_url = f"/api/v1/analytics/forecast/campaigns/{campaign.public_id}/"
    job_url = snapshot_url + "job/"
    assert api.get(snapshot_url).status_code == 404 and api.get(job_url).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        asked = api.post(job_url)
    assert asked.status_code == 202 and asked.json()["state"] == "queued" and asked.json()["campaign"] == str(
        campaign.public_id)  # fmt: skip
    assert [wait for _pk, wait, _queue in sent] == [0]  # asked for: now, not debounced
    assert api.get(asked["Location"]).json()["public_id"] == asked.json()["public_id"]
    snapshots.job_run(ForecastJob.objects.get(campaign=campaign).pk)  # the worker
    followed = api.get(job_url).json()
    assert (followed["state"], followed["steps_done"], followed["steps_total"]) == ("done", 4, 4)
    body = api.get(snapshot_url).json()
    expected = forecast.forecast_campaign(campaign)
    assert (body["reach"], body["contacts"], body["stale"], body["job"]["state"]) == (
        expected.reach, expected.contacts, False, "done")  # fmt: skip
    Moment.objects.filter(pk=plan["first"].pk).update(expires_at=plan["first"].expires_at + dt.timedelta(hours=1))
    body = api.get(snapshot_url).json()
    assert body["stale"] is True and body["changes"] == ["“早安”: its times changed."]


def test_who_may_not_read_the_plan_may_not_read_ask_or_follow_its_forecast(plan):
    from staff.roles import MANAGER

    snapshots.recompute(plan["campaign"].pk)
    job = ForecastJob.objects.get(campaign=plan["campaign"])
    base = f"/api/v1/analytics/forecast/campaigns/{plan['campaign'].public_id}/"
    for user in (factories.user("nobody"), factories.user("boss", role=MANAGER, manages=[plan["store"]])):
        api = _api(user)
        assert api.get(base).status_code == 403 and api.get(base + "job/").status_code == 403
        assert api.post(base + "job/").status_code == 403
        assert api.get(f"/api/v1/analytics/forecast/jobs/{job.public_id}/").status_code == 403
        assert api.post("/api/v1/analytics/forecast/", {"moments": [str(plan["first"].public_id)]},
                        format="json").status_code == 403  # fmt: skip
    job.refresh_from_db()
    assert job.requested_by is None and ForecastJob.objects.count() == 1


def test_the_forecast_of_chosen_moments_is_bounded(plan):
    api = _api(plan["owner"])
    too_many = [str(plan["first"].public_id)] * (snapshots.MAX_CHOSEN_MOMENTS + 1)
    response = api.post("/api/v1/analytics/forecast/", {"moments": too_many}, format="json")
    assert response.status_code == 400 and "moments" in response.json()


def test_the_dashboards_refresh_asks_for_the_same_job(client, plan):
    from django.urls import reverse

    Moment.objects.filter(campaign=plan["campaign"]).update(state=State.APPROVED)  # on the dashboards: planned
    client.force_login(plan["owner"])
    response = client.post(reverse("dashboards:forecast-refresh", args=[plan["campaign"].public_id]))
    assert response.status_code == 302 and response["Location"].endswith("?refreshing=1")
    job = ForecastJob.objects.get(campaign=plan["campaign"])
    assert (job.state, job.forced, job.requested_by) == ("queued", True, plan["owner"])
    assert job.due_at <= timezone.now()  # asked for: due now, not debounced


def test_each_moment_alone_is_read_from_the_campaigns_pass_where_exact(plan):
    """A moment whose day is planned alone as in its campaign (the other moments of the campaign that day
    approved or scheduled) is forecast alone from the campaign's pass over the contacts; one next to a draft
    is forecast by itself. Either way the run keeps exactly what ``forecast_moments([moment])`` says."""
    Moment.objects.filter(pk__in=[plan["first"].pk, plan["second"].pk]).update(state=State.APPROVED)
    later = cf.moment(plan["campaign"], title="次日", day=1)
    cf.variant(later, departments=[plan["store"]], name="全部")
    cf.variant(later, departments=[plan["store"]], tags=[plan["gold"]], name="金卡")
    draft_day = cf.moment(plan["campaign"], title="第三天", day=2)
    cf.variant(draft_day, associates=[plan["lily"]], name="全部")
    beside = cf.moment(plan["campaign"], title="第三天晚上", day=2, hour=20)
    cf.variant(beside, associates=[plan["ken"]], name="全部")
    Moment.objects.filter(pk__in=[later.pk, beside.pk]).update(state=State.SCHEDULED)
    other = cf.moment(cf.campaign(plan["owner"], name="会员日"), title="会员日", hour=8)
    cf.variant(other, associates=[plan["lily"]], name="会员")
    Moment.objects.filter(pk=other.pk).update(state=State.APPROVED)

    alone: dict = {}
    forecast.forecast_snapshot_create(campaign=plan["campaign"], alone=alone)
    first, second = plan["first"].pk, plan["second"].pk
    # `beside` alone is planned without the draft of its day; the draft alone, next to the scheduled `beside`.
    assert set(alone) == {first, second, later.pk, draft_day.pk}
    moments = list(Moment.objects.filter(campaign=plan["campaign"]))
    for moment in moments:
        if moment.pk in alone:
            assert asdict(alone[moment.pk]) == asdict(forecast.forecast_moments([moment])), moment.title
    assert alone[first].collisions or alone[second].collisions or alone[first].verify_accounts  # not all empty

    snapshots.recompute(plan["campaign"].pk)
    for moment in moments:
        kept = MomentForecast.objects.get(moment=moment).forecast
        assert asdict(snapshots.forecast_from_json(kept)) == asdict(forecast.forecast_moments([moment])), moment.title
