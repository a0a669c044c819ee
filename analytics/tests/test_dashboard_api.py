"""The dashboards' numbers over the API: the same figures as the pages, scoped the same
way, paginated tables with a CSV export, bad filters as 400s, and the platform rules."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from analytics import dashboards, rollups
from analytics.models import PlatformRules
from analytics.tests import worlds
from staff.roles import MANAGER, MARKETING_ADMIN
from staff.tests import factories

BASE = "/api/v1/analytics"


def _client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


@pytest.fixture
def results(world):
    worlds.facts(world)
    rollups.rollups_refresh()
    world["admin_user"] = factories.user("admin", role=MARKETING_ADMIN)
    world["manager_user"] = factories.user("rm", role=MANAGER, manages=[world["region"]])
    world["other"] = _client(factories.user("om", role=MANAGER, manages=[factories.department("北京店")]))
    world["base"] = f"{BASE}/dashboards/campaigns/{world['campaign'].public_id}"
    return world


def test_the_overview_is_the_pages_numbers(results):
    for user in (results["admin_user"], results["manager_user"]):
        got = _client(user).get(f"{results['base']}/overview/").json()
        expected = dashboards.campaign_overview(user=user, campaign=results["campaign"], filters=dashboards.Filters())
        assert (got["customers"], got["deliveries"], got["cap_loss"]) == (
            expected.customers, expected.deliveries, expected.cap_loss)  # fmt: skip
        assert got["funnel"]["published"] == expected.funnel["published"] == 4
    assert results["other"].get(f"{results['base']}/overview/").status_code == 404
    listed = _client(results["manager_user"]).get(f"{BASE}/dashboards/campaigns/").json()
    assert [line["name"] for line in listed] == [results["campaign"].name]


def test_the_leaderboard_pages_and_exports(results):
    api = _client(results["admin_user"])
    page = api.get(f"{results['base']}/leaderboard/", {"sort": "-cap_loss"}).json()
    assert page["count"] == 2 and page["sort"] == "-cap_loss" and page["next"] is None
    assert [row["key"] for row in page["results"]] == [results["lily"].userid, results["ken"].userid]
    exported = api.get(f"{results['base']}/leaderboard/", {"by": "store", "export": "csv"})
    body = b"".join(exported.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff") and "上海店" in body


@pytest.mark.parametrize("query", [{"start": "soon"}, {"start": "2027-02-11", "end": "2027-02-10"},
                                   {"department": "99999"}])  # fmt: skip
def test_a_bad_filter_is_a_400_that_says_why(results, query):
    response = _client(results["manager_user"]).get(f"{results['base']}/overview/", query)
    assert response.status_code == 400 and response.json()["filters"]


def test_readiness_and_forecast_vs_actual(results):
    api = _client(results["manager_user"])
    readiness = api.get(f"{BASE}/dashboards/readiness/").json()
    assert readiness["unverified"] == 1 and readiness["results"][0]["key"] == results["lily"].userid
    assert api.get(f"{BASE}/dashboards/readiness/", {"kind": "nonsense"}).status_code == 400
    compared = api.get(f"{results['base']}/forecast-vs-actual/").json()
    assert compared["computed_at"] is None and compared["totals"]["actual_deliveries"] == 6


def test_marketing_admins_add_a_rules_version_and_managers_only_read(results):
    admin, manager = _client(results["admin_user"]), _client(results["manager_user"])
    version = {"effective_from": "2030-01-01", "feed_cap": 4, "unverified_reach_limit": 300,
               "time_zone": "Asia/Shanghai"}  # fmt: skip
    assert manager.post(f"{BASE}/rules/", version, format="json").status_code == 403
    assert admin.post(f"{BASE}/rules/", version, format="json").status_code == 201
    assert PlatformRules.objects.filter(feed_cap=4).exists()
    assert admin.post(f"{BASE}/rules/", {**version, "feed_cap": 0}, format="json").status_code == 400
    assert admin.get(f"{BASE}/rules/").json()["count"] >= 2
