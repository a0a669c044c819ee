"""The dashboards in a real browser (headless Chromium): a region manager and a marketing
admin log in on the dashboards' own page, open each dashboard, and see the numbers the
analytics services compute; charts are drawn by the self-hosted ECharts; a manager of
another region gets 404s. Screenshots go to test-results/."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics import dashboards, forecast, rollups, sync
from analytics.selectors import campaign_result
from analytics.tests import worlds
from campaigns import demo, dispatch, enterprise
from campaigns.models import Campaign, Moment, PublishTask
from staff.models import User
from staff.roles import MANAGER, MARKETING_ADMIN
from staff.tests import factories
from wecom.client import client_from_settings
from wecom.ratelimit import Unlimited
from wecom.sandbox import behaviour
from wecom.sandbox import models as sandbox

pytestmark = pytest.mark.browser
ARTIFACTS = Path("test-results")
PASSWORD = "a-long-test-password"


@pytest.fixture
def browser_context_args(browser_context_args):
    # a tablet in landscape: the managers' device
    return {**browser_context_args, "locale": "en-US", "viewport": {"width": 1180, "height": 820}}


@pytest.fixture
def results(world):
    worlds.facts(world)
    rollups.rollups_refresh()
    forecast.forecast_snapshot_create(campaign=world["campaign"])
    elsewhere = factories.department("北京店")
    for name, role, manages in (("boss", MARKETING_ADMIN, []), ("rm", MANAGER, [world["region"]]),
                                ("om", MANAGER, [elsewhere])):  # fmt: skip
        user = factories.user(name, role=role, manages=manages)
        user.set_password(PASSWORD)
        user.save()
        world[name] = user
    return world


def _login(page, live_server, username):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/dashboard/")
    page.wait_for_url("**/dashboard/login/**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[data-testid=login] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


@pytest.mark.parametrize("who", ["boss", "rm"])
def test_each_dashboard_shows_the_services_numbers(page, live_server, results, who):
    user, campaign = results[who], results["campaign"]
    expected = campaign_result(user=user, campaign=campaign)
    _login(page, live_server, who)
    page.click(f"text={campaign.name}")
    page.wait_for_selector("[data-chart=days][data-ready='1'] svg")
    page.wait_for_selector("[data-chart=funnel][data-ready='1'] svg")
    assert page.inner_text("[data-testid=customers]") == str(expected.customers)
    assert page.inner_text("[data-testid=deliveries]") == str(expected.deliveries)
    assert page.inner_text("[data-testid=cap-loss]") == str(expected.cap_loss)
    assert page.inner_text("[data-testid=verification-loss]") == str(expected.verification_loss)
    assert page.inner_text("[data-testid=engagement]") == str(expected.likes + expected.comments)
    _shot(page, f"{who}-overview")

    page.click("nav.tabs >> text=Associates")
    page.wait_for_selector("[data-testid=leaderboard]")
    table = dashboards.leaderboard(user=user, campaign=campaign, filters=dashboards.Filters(), by="associate",
                                   query={})  # fmt: skip
    cells = page.locator("[data-testid=leaderboard] td[data-col=deliveries]").all_inner_texts()
    assert cells == [str(row["deliveries"]) for row in table.rows]
    page.click("[data-testid=leaderboard] th >> text=Cap loss")  # sort by it
    page.wait_for_url("**sort=-cap_loss**")
    assert page.locator("[data-testid=leaderboard] td[data-col=name]").first.inner_text() == "lily"
    _shot(page, f"{who}-associates")

    page.click("nav.tabs >> text=Stores")
    assert page.locator("[data-testid=leaderboard] td[data-col=name]").all_inner_texts() == ["上海店"]

    page.click("nav.tabs >> text=Forecast vs actual")
    page.wait_for_selector("[data-chart=forecast][data-ready='1'] svg")
    result = dashboards.forecast_vs_actual(user=user, campaign=campaign, filters=dashboards.Filters())
    actual = page.locator("[data-testid=forecast] td[data-col=actual_deliveries]").all_inner_texts()
    assert actual == [str(day["actual_deliveries"]) for day in result.days]
    _shot(page, f"{who}-forecast")

    page.click("header nav >> text=Readiness")
    page.wait_for_selector("[data-testid=readiness]")
    _shot(page, f"{who}-readiness")

    page.click("header nav >> text=Customers")
    page.fill("[data-testid=q]", "anna")
    page.press("[data-testid=q]", "Enter")
    page.click("[data-testid=found] a")
    page.wait_for_selector("[data-testid=timeline]")
    assert page.locator("[data-testid=timeline] tbody tr").count() >= 4  # three own posts and Ken's moment
    _shot(page, f"{who}-customer")


def test_a_manager_of_another_region_sees_none_of_it(page, live_server, results):
    _login(page, live_server, "om")
    assert results["campaign"].name not in page.content()
    response = page.goto(f"{live_server.url}/dashboard/campaigns/{results['campaign'].public_id}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/dashboard/associates/{results['lily'].userid}/")
    assert response.status == 404


def test_the_dashboards_speak_chinese(page, live_server, results):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/dashboard/login/")
    page.select_option("select[name=language]", "zh-hans")
    page.click("form.lang button")
    page.wait_for_load_state()
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[data-testid=login] button[type=submit]")
    page.click(f"text={results['campaign'].name}")
    assert "触达率" in page.content()
    _shot(page, "boss-overview-zh")


# --- on the demo data: `make run`'s brand, its rehearsal played through WeCom's path ------------
@pytest.fixture
def demo_results(live_server, settings, tmp_path, wecom_base_url):
    """``seed_demo`` (the sandbox's brand, synced by the real client, the Valentine's campaign
    and its rehearsal), then the rehearsal as beat, the worker and the sandbox would play it:
    dispatch, notifications, the WeCom task, the members publishing in the sandbox, the
    confirmation, results sync over HTTP and the roll-ups; and the forecast snapshots."""
    settings.VAR_DIR = tmp_path
    factories.ensure_roles()  # an earlier live-server test flushed the roles the migrations made
    call_command("seed_demo", "--no-progress", associates=30, contacts_per_associate=60, stdout=io.StringIO())
    rehearsal = Campaign.objects.get(name=demo.REHEARSAL_NAME)
    moment = rehearsal.moments.get()
    # Played in the last three hours (WeCom's answers are about the past, as after a real morning).
    now = timezone.now()
    at = now - dt.timedelta(hours=3)
    Moment.objects.filter(pk=moment.pk).update(publish_at=at, expires_at=now + dt.timedelta(hours=9))
    with client_from_settings(base_url=wecom_base_url, limiter=Unlimited()) as client:
        dispatch.dispatch_due(now=at, enqueue=False)
        for task_id in PublishTask.objects.filter(moment=moment).values_list("pk", flat=True):
            dispatch.publish_task_notify(task_id=task_id, client=client, limiter=Unlimited(), now=at)
        assert enterprise.enterprise_tasks_create(moment_id=moment.pk, client=client, now=at) > 0
        now = timezone.now()
        behaviour.behaviour_tick(now)  # WeCom resolves the task into its moment...
        # ... which WeCom created three hours ago, when the task was sent (the sandbox's clock is the real one)
        sandbox.Moment.objects.filter(cancelled=False).update(create_time=at)
        assert behaviour.behaviour_tick(now)["published"] > 0  # most members published over the three hours
        enterprise.enterprise_tasks_poll(client=client)  # the moment ids of the tasks, as the confirm task does
        dispatch.publish_confirm(client=client, now=now)
        sync.results_sync(client=client, start=now - dt.timedelta(days=1), end=now + dt.timedelta(hours=1))
    rollups.rollups_refresh()
    for campaign in Campaign.objects.all():
        forecast.forecast_snapshot_create(campaign=campaign)
    users = {}
    for name in ("admin", "manager"):
        user = User.objects.get(username=name)
        user.set_password(PASSWORD)
        user.save()
        users[name] = user
    return {"campaign": rehearsal, "valentines": Campaign.objects.get(name=demo.CAMPAIGN_NAME), **users}


def test_the_demo_dashboards_show_the_services_numbers(page, live_server, demo_results):
    campaign = demo_results["campaign"]
    for who in ("admin", "manager"):
        user = demo_results[who]
        expected = dashboards.campaign_overview(user=user, campaign=campaign, filters=dashboards.Filters())
        assert expected.deliveries > 0, "the rehearsal delivered nothing: the demo is not living"
        _login(page, live_server, who)
        page.click(f"text={campaign.name}")
        page.wait_for_selector("[data-chart=days][data-ready='1'] svg")
        assert page.inner_text("[data-testid=customers]") == str(expected.customers)
        assert page.inner_text("[data-testid=deliveries]") == str(expected.deliveries)
        assert page.inner_text("[data-testid=verification-loss]") == str(expected.verification_loss)
        published = page.locator("[data-testid=funnel] li").last.locator("b").inner_text()
        assert published == str(expected.funnel["published"])
        _shot(page, f"demo-{who}-overview")
        page.click("nav.tabs >> text=Stores")
        table = dashboards.leaderboard(user=user, campaign=campaign, filters=dashboards.Filters(), by="store",
                                       query={})  # fmt: skip
        names = page.locator("[data-testid=leaderboard] td[data-col=name]").all_inner_texts()
        assert names == [row["name"] for row in table.rows]
        _shot(page, f"demo-{who}-stores")
        page.click("header nav >> text=Readiness")
        readiness = dashboards.readiness(user=user, filters=dashboards.Filters(), kind="unverified", query={})
        assert page.inner_text("[data-testid=count-unverified]") == str(readiness.unverified)
        _shot(page, f"demo-{who}-readiness")
    # the Valentine's campaign is planned: its forecast is there, its results not yet
    page.goto(f"{live_server.url}/dashboard/campaigns/{demo_results['valentines'].public_id}/forecast/")
    assert page.locator("[data-testid=snapshot]").count() == 1
    _shot(page, "demo-manager-forecast")
