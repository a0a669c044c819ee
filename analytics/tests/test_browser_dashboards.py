"""The dashboards in a real browser (headless Chromium): a region manager and a marketing
admin log in on the dashboards' own page, open each dashboard, and see the numbers the
analytics services compute; charts are drawn by the self-hosted ECharts; a manager of
another region gets 404s. Screenshots go to test-results/."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import dashboards, forecast, rollups
from analytics.selectors import campaign_result
from analytics.tests import worlds
from staff.roles import MANAGER, MARKETING_ADMIN
from staff.tests import factories

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
