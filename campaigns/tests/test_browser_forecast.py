"""The forecast panel in a real browser (headless Chromium): a planner asks for a recomputation, the panel
follows it (static/campaigns/forecast-progress.js polls its status, no inline script) and says when the new
forecast is ready; reloading shows it, no longer stale."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import snapshots
from analytics.models import ForecastJob
from campaigns.models import Moment
from campaigns.tests import factories as cf
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

pytestmark = pytest.mark.browser
PASSWORD = "a-long-test-password"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US", "viewport": {"width": 1366, "height": 1000}}


def test_the_panel_follows_a_recomputation_until_the_new_forecast_is_ready(page, live_server, transactional_db):
    store = factories.department("上海店")
    lily = factories.associate("lily", departments=[store])
    for i in range(3):
        factories.contact(lily, factories.customer(f"c{i}"))
    planner = factories.user("planner", role=MARKETING_ADMIN)
    planner.set_password(PASSWORD)
    planner.save()
    campaign = cf.campaign(planner)
    moment = cf.moment(campaign, title="早安")
    cf.variant(moment, departments=[store])
    snapshots.recompute(campaign.pk)
    Moment.objects.filter(pk=moment.pk).update(publish_at=moment.publish_at + dt.timedelta(hours=1))  # stale now
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    status = page.locator("#reach-forecast-status")
    assert (
        "Stale: the plan changed since." in status.inner_text() and "“早安”: its times changed." in status.inner_text()
    )
    page.click('[data-forecast="recompute"]')
    page.wait_for_url(f"**/campaigns/campaign/{campaign.pk}/change/#reach-forecast")
    progress = page.locator('[data-forecast="progress"]')
    assert progress.inner_text().startswith("Recomputation queued")
    job = ForecastJob.objects.get(campaign=campaign)
    assert snapshots.job_run(job.pk)["forecast"] == campaign.pk  # the worker, while the page polls
    page.wait_for_function(
        "document.querySelector('[data-forecast=\"progress\"]').textContent.includes('The new forecast is ready')",
        timeout=15_000,
    )
    job.refresh_from_db()
    progress.locator("a").click()
    page.wait_for_load_state()
    assert "Stale" not in page.locator("#reach-forecast-status").inner_text()
    assert page.locator('[data-forecast="as-of"]').inner_text().startswith("As of ")
    assert (
        timezone.localtime(job.started_at).strftime("%Y-%m-%d") in page.locator('[data-forecast="as-of"]').inner_text()
    )
    assert not [e for e in errors if "Content Security Policy" in e], errors
