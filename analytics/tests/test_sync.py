"""Results sync against the sandbox over real HTTP: personal and enterprise posts become
Post and Delivery facts once; a re-run adds nothing; a crashed run is finished by the
next; a moment WeCom no longer knows is logged and skipped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import sync
from analytics.models import Delivery, Post
from staff.sync import directory_sync
from wecom.errors import TransientError
from wecom.sandbox import models as sm
from wecom.sandbox import publishing


@pytest.fixture
def published(sandbox_corp, wecom_client):
    """Lily posts her own moment; an enterprise moment is published by Lily and Ken."""
    directory_sync(client=wecom_client)
    lily, ken = sandbox_corp["lily"], sandbox_corp["ken"]
    now = timezone.now()
    personal, _ = publishing.publish_personal(lily, text="周末到店有惊喜", at=now - dt.timedelta(hours=2))
    body = {"text": {"content": "情人节限定"}, "visible_range": {"sender_list": {"user_list": ["lily", "ken"]}}}
    job = sm.MomentJob.objects.create(jobid="job-1", created_at=now - dt.timedelta(hours=1), ready_at=now, request=body)
    moment = sm.Moment.objects.get(moment_id=publishing.job_resolve(job).result["moment_id"])
    for member in (lily, ken):
        publishing.publish_enterprise(moment, member, at=now)
    return {
        "personal": personal,
        "enterprise": moment,
        "span": (now - dt.timedelta(days=1), now + dt.timedelta(hours=1)),
    }


def _facts() -> set[tuple[str, str, str]]:
    return set(Delivery.objects.values_list("post__wecom_moment_id", "associate__userid", "customer__external_userid"))


def _sandbox_facts() -> set[tuple[str, str, str]]:
    return set(
        sm.MomentDelivery.objects.values_list("moment__moment_id", "member__userid", "customer__external_userid")
    )


def test_posts_and_deliveries_are_ingested_once(published, wecom_client):
    start, end = published["span"]
    counts = sync.results_sync(client=wecom_client, start=start, end=end)
    assert counts["posts"] == 2 and counts["deliveries"] == len(_sandbox_facts()) > 0
    assert _facts() == _sandbox_facts()
    personal = Post.objects.get(wecom_moment_id=published["personal"].moment_id)
    assert personal.kind == Post.Kind.PERSONAL and personal.creator.userid == "lily"
    today = timezone.localdate()
    assert set(Delivery.objects.values_list("day", flat=True)) == {today}
    again = sync.results_sync(client=wecom_client, start=start, end=end)
    assert again["deliveries"] == 0 and Delivery.objects.count() == len(_sandbox_facts())


def test_a_crashed_run_is_finished_by_the_next(published, wecom_client):
    start, end = published["span"]
    # Posts are in, then WeCom fails a send-result page: the run stops half-way.
    sm.Fault.objects.create(endpoint="externalcontact/get_moment_send_result", http_status=502, rate=1.0, remaining=1)
    with pytest.raises(TransientError):
        sync.results_sync(client=wecom_client, start=start, end=end)
    half = Delivery.objects.count()
    sm.Fault.objects.all().delete()
    sync.results_sync(client=wecom_client, start=start, end=end)
    assert Post.objects.count() == 2 and half < len(_sandbox_facts())
    assert _facts() == _sandbox_facts()


def test_a_moment_wecom_no_longer_knows_is_skipped_and_logged(published, wecom_client, caplog):
    start, end = published["span"]
    sm.Fault.objects.create(endpoint="externalcontact/get_moment_task", errcode=41060, rate=1.0)
    counts = sync.results_sync(client=wecom_client, start=start, end=end)
    assert counts["skipped"] == 1 and "skipped" in caplog.text
    assert {m for m, _, _ in _facts()} == {published["personal"].moment_id}  # the personal post went in


def test_windows_are_thirty_days_at_most():
    start = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    spans = list(sync.windows(start, start + dt.timedelta(days=65)))
    assert len(spans) == 3 and all(end - begin <= 30 * 86400 for begin, end in spans)
    assert spans[0][0] == int(start.timestamp()) and spans[-1][1] == int((start + dt.timedelta(days=65)).timestamp())


def test_a_post_known_as_ours_later_is_linked_with_its_deliveries(published, wecom_client):
    """The JS-SDK path: a personal post becomes ours when confirmation ties it to a task."""
    from campaigns.models import Moment, PublishTask
    from campaigns.tests import factories as cf
    from staff.models import Associate
    from staff.roles import MARKETING_ADMIN
    from staff.tests import factories

    start, end = published["span"]
    sync.results_sync(client=wecom_client, start=start, end=end)
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moment = Moment.objects.create(campaign=campaign, title="m", publish_at=start, expires_at=end)
    variant = cf.variant(moment, associates=[Associate.objects.get(userid="lily")])
    PublishTask.objects.create(moment=moment, variant=variant, associate=variant.target_associates.get(),
                               wecom_moment_id=published["personal"].moment_id)  # fmt: skip
    sync.results_sync(client=wecom_client, start=start, end=end)
    post = Post.objects.get(wecom_moment_id=published["personal"].moment_id)
    assert post.moment == moment
    assert set(Delivery.objects.filter(post=post).values_list("moment_id", flat=True)) == {moment.pk}


def test_likes_and_comments_of_our_moments_are_ingested_once(published, wecom_client):
    """Customers' likes and comments (and a colleague's like) on an enterprise moment of
    ours become Engagement facts, once; the roll-up buckets they changed are marked."""
    from analytics.models import Engagement, RollupMark
    from campaigns.models import EnterpriseTask, Moment
    from campaigns.tests import factories as cf
    from staff.roles import MARKETING_ADMIN
    from staff.tests import factories

    start, end = published["span"]
    enterprise = published["enterprise"]
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moment = Moment.objects.create(campaign=campaign, title="m", publish_at=start, expires_at=end)
    EnterpriseTask.objects.create(variant=cf.variant(moment), wecom_moment_id=enterprise.moment_id,
                                  state=EnterpriseTask.State.DONE)  # fmt: skip
    lily = published["personal"].creator
    customer = sm.MomentDelivery.objects.filter(moment=enterprise, member=lily).first().customer
    at = timezone.now() - dt.timedelta(minutes=5)
    for kind, actor in ((sm.MomentInteraction.Kind.LIKE, {"external_userid": customer.external_userid}),
                        (sm.MomentInteraction.Kind.COMMENT, {"external_userid": customer.external_userid}),
                        (sm.MomentInteraction.Kind.LIKE, {"userid": "ken"})):  # fmt: skip
        sm.MomentInteraction.objects.create(moment=enterprise, member=lily, kind=kind, create_time=at, **actor)
    sm.MomentInteraction.objects.create(moment=published["personal"], member=lily, kind="like", create_time=at,
                                        external_userid=customer.external_userid)  # fmt: skip
    counts = sync.results_sync(client=wecom_client, start=start, end=end)
    assert counts["engagements"] == 3
    rows = set(Engagement.objects.values_list("moment_id", "associate__userid", "kind", "actor", "customer_id"))
    assert rows == {
        (moment.pk, "lily", Engagement.Kind.LIKE, customer.external_userid, _customer_pk(customer)),
        (moment.pk, "lily", Engagement.Kind.COMMENT, customer.external_userid, _customer_pk(customer)),
        (moment.pk, "lily", Engagement.Kind.LIKE, "ken", None),
    }
    assert RollupMark.objects.filter(stat="campaign", bucket=str(campaign.pk)).exists()
    assert sync.results_sync(client=wecom_client, start=start, end=end)["engagements"] == 0


def _customer_pk(sandbox_customer) -> int:
    from staff.models import Customer

    return Customer.objects.get(external_userid=sandbox_customer.external_userid).pk


def test_the_periodic_task_reads_while_moments_are_live_and_rolls_up(published, wecom_client, wecom_base_url,
                                                                     settings):  # fmt: skip
    """The beat's results sync: nothing to do without live moments; with one, the span
    from its publish time is read and the roll-ups follow; a second run at the same time
    (the lock taken) skips; two days after closing the moment is not read any more."""
    from django.core.cache import cache

    from analytics import tasks
    from analytics.models import AssociateDay
    from campaigns.models import EnterpriseTask, Moment, State
    from campaigns.tests import factories as cf
    from staff.roles import MARKETING_ADMIN
    from staff.tests import factories

    settings.WECOM_BASE_URL = wecom_base_url
    assert tasks.results_sync_task() == {"skipped": "nothing published"}
    start, end = published["span"]
    campaign = cf.campaign(factories.user("planner", role=MARKETING_ADMIN))
    moment = Moment.objects.create(campaign=campaign, title="m", publish_at=start + dt.timedelta(hours=12),
                                   expires_at=end, state=State.LIVE)  # fmt: skip
    EnterpriseTask.objects.create(variant=cf.variant(moment), wecom_moment_id=published["enterprise"].moment_id,
                                  state=EnterpriseTask.State.DONE)  # fmt: skip
    cache.add(tasks.SYNC_LOCK, "1", 60)
    assert tasks.results_sync_task() == {"skipped": "already running"}
    cache.delete(tasks.SYNC_LOCK)
    counts = tasks.results_sync_task()
    assert counts["deliveries"] == len(_sandbox_facts()) and counts["associate_day"] == 1
    assert AssociateDay.objects.filter(campaign=campaign).count() == 2  # Lily's and Ken's day
    assert tasks.results_sync_task(campaign_id=campaign.pk)["deliveries"] == 0  # on demand: nothing new
    Moment.objects.filter(pk=moment.pk).update(state=State.CLOSED)
    assert sync.sync_span(now=end) is not None  # just closed: still read
    assert sync.sync_span(now=end + sync.AFTER_CLOSE + dt.timedelta(minutes=1)) is None


def test_a_half_page_is_logged_and_the_rest_goes_in(db, caplog):
    """Items cut short (no id, no time, an unknown kind, not even an object) are skipped
    with a log line; the well-formed ones on the same page are stored."""
    page = [
        {"moment_id": "mom-ok", "create_time": 1_800_000_000, "create_type": 1},
        {"create_time": 1_800_000_000},
        {"moment_id": "mom-no-time"},
        {"moment_id": "mom-odd", "create_time": "soon"},
        {"moment_id": "mom-kind", "create_time": 1_800_000_000, "create_type": 7},
        "garbage",
    ]
    posts = sync._posts_upsert(page)
    assert [p.wecom_moment_id for p in posts] == ["mom-ok"] and Post.objects.count() == 1
    assert caplog.text.count("skipped") == 5
