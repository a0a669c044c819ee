"""The reach API: a campaign's reach, an associate's, a customer's timeline and the
forecast, scoped like the dashboards (a manager sees their subtree; outside it, a 404),
bounded in queries, and bad input answered with a plain message."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics import rollups, snapshots
from analytics.models import Delivery, ForecastJob, Post
from analytics.tests import worlds
from analytics.tests.worlds import DAY, NEXT
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
    elsewhere = factories.department("北京店", parent=world["region"].parent)
    world["other"] = factories.associate("zoe", departments=[elsewhere])
    world["admin"] = _client(factories.user("admin", role=MARKETING_ADMIN))
    world["store_manager"] = _client(factories.user("sm", role=MANAGER, manages=[world["store"]]))
    world["other_manager"] = _client(factories.user("om", role=MANAGER, manages=[elsewhere]))
    return world


def test_campaign_reach_counts_each_customer_once_over_the_days(results):
    url = f"{BASE}/campaigns/{results['campaign'].public_id}/reach/"
    body = results["admin"].get(url).json()
    assert (body["customers"], body["deliveries"], body["contacts"]) == (2, 6, 3)
    assert (body["cap_loss"], body["verification_loss"], body["likes"], body["comments"]) == (1, 2, 2, 1)
    assert body["reach_rate"] == round(2 / 3, 4)
    assert [(row["day"], row["customers"], row["reach"]) for row in body["by_day"]] == [
        (DAY.isoformat(), 2, 2),
        (NEXT.isoformat(), 2, 2),  # the same two customers again: reach stays 2
    ]
    # The store's manager sees the same (both associates are theirs); another store's: not their campaign.
    assert results["store_manager"].get(url).json()["customers"] == 2
    mine = results["store_manager"].get(url).json()
    assert [(r["day"], r["reach"]) for r in mine["by_day"]] == [(DAY.isoformat(), 2), (NEXT.isoformat(), 2)]
    assert mine["contacts"] == 3
    assert results["other_manager"].get(url).status_code == 404


def test_a_customer_timeline_shows_who_and_the_slots_used(results):
    url = f"{BASE}/customers/wm-anna/timeline/"
    rows = results["admin"].get(url).json()["results"]
    on_day = [
        (r["associate"], r["personal"], r["slot"], r["used"], r["feed_cap"])
        for r in rows
        if r["day"] == DAY.isoformat()
    ]
    lily, ken = results["lily"].userid, results["ken"].userid
    assert sorted(on_day) == sorted([(lily, True, 1, 3, 3), (lily, True, 2, 3, 3), (lily, True, 3, 3, 3),
                                     (ken, False, 1, 1, 3)])  # fmt: skip
    campaign_rows = [r for r in rows if not r["personal"]]
    assert {r["moment"]["title"] for r in campaign_rows} == {m.title for m in results["moments"]}
    assert results["other_manager"].get(url).status_code == 404


def test_an_associate_reach_and_slots_within_scope(results):
    lily = results["lily"].userid
    body = results["store_manager"].get(f"{BASE}/associates/{lily}/reach/").json()
    assert (body["customers"], body["deliveries"], body["verification_loss"], body["verified"]) == (2, 3, 2, False)
    slots = results["admin"].get(f"{BASE}/associates/{lily}/slots/", {"start": DAY, "end": NEXT}).json()
    assert slots["results"][0] == {"day": NEXT.isoformat(), "customer": "wm-anna", "name": "anna", "used": 1,
                                   "feed_cap": 3} or any(r["used"] == 3 for r in slots["results"])  # fmt: skip
    assert {(r["day"], r["customer"], r["used"]) for r in slots["results"]} == {
        (DAY.isoformat(), "wm-anna", 3), (DAY.isoformat(), "wm-bo", 1),
        (NEXT.isoformat(), "wm-anna", 1), (NEXT.isoformat(), "wm-bo", 1)}  # fmt: skip
    assert results["other_manager"].get(f"{BASE}/associates/{lily}/reach/").status_code == 404
    assert results["other_manager"].get(f"{BASE}/associates/{lily}/slots/").status_code == 404


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start": "14/02/2027"}, "YYYY-MM-DD"),
        ({"start": "2027-02-14", "end": "2027-02-10"}, "start comes after the end"),
        ({"start": "2026-01-01", "end": "2027-02-10"}, "at most 92 days"),
        ({"end": "0001-01-01"}, "YYYY-MM-DD"),  # the default start would be before year 1: a 500 before
    ],
)
def test_bad_dates_get_a_plain_message(results, params, words):
    response = results["admin"].get(f"{BASE}/associates/{results['lily'].userid}/slots/", params)
    assert response.status_code == 400 and words in response.json()["start"][0]


def test_an_unknown_campaign_filter_is_refused(results):
    url = f"{BASE}/associates/{results['lily'].userid}/reach/"
    for value in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = results["admin"].get(url, {"campaign": value})
        assert response.status_code == 400 and response.json() == {"campaign": ["No such campaign."]}


def test_reading_reach_needs_a_role(results):
    nobody = _client(factories.user("nobody"))
    assert nobody.get(f"{BASE}/campaigns/{results['campaign'].public_id}/reach/").status_code == 403
    assert nobody.get(f"{BASE}/forecast/campaigns/{results['campaign'].public_id}/").status_code == 403
    # Managers read results, not plans.
    assert (
        results["store_manager"].get(f"{BASE}/forecast/campaigns/{results['campaign'].public_id}/").status_code == 403
    )


def test_the_forecast_of_a_campaign_and_of_chosen_moments(results):
    """Both are read from what the background computed (``analytics.snapshots``), never in the request."""
    campaign = results["campaign"]
    url = f"{BASE}/forecast/campaigns/{campaign.public_id}/"
    assert results["admin"].get(url).status_code == 404  # no forecast yet: ask for one
    snapshots.recompute(campaign.pk)  # what the worker does
    body = results["admin"].get(url).json()
    assert len(body["variants"]) == 2 and {v["moment"]["title"] for v in body["variants"]} == {
        m.title for m in results["moments"]}  # fmt: skip
    assert body["verify"]["accounts"] == 1  # Lily, unverified, loses Cai
    assert body["verification"] == [{"associate": results["lily"].userid, "customers": 1}]
    assert body["stale"] is False and body["changes"] == [] and body["job"]["state"] == "done"
    one = results["admin"].post(f"{BASE}/forecast/", {"moments": [str(results["moments"][0].public_id)]}, format="json")
    assert one.status_code == 202 and one.json()["state"] == "queued" and one.json()["forecast"] is None
    snapshots.job_run(ForecastJob.objects.get(public_id=one.json()["public_id"]).pk)  # the worker
    done = results["admin"].get(one["Location"]).json()
    assert done["state"] == "done" and len(done["forecast"]["variants"]) == 1
    for bad in ({"moments": []}, {"moments": ["00000000-0000-0000-0000-000000000000"]}, {}):
        response = results["admin"].post(f"{BASE}/forecast/", bad, format="json")
        assert response.status_code == 400 and "moments" in response.json()


def test_reads_are_bounded_in_queries(results):
    """Twice the facts, the same number of queries, on every read."""
    urls = [
        f"{BASE}/campaigns/{results['campaign'].public_id}/reach/",
        f"{BASE}/customers/wm-anna/timeline/",
        f"{BASE}/associates/{results['lily'].userid}/reach/",
        f"{BASE}/associates/{results['lily'].userid}/slots/?start={DAY}&end={NEXT}",
    ]

    def counts():
        found = []
        for url in urls:
            for client in (results["admin"], results["store_manager"]):
                with CaptureQueriesContext(connection) as queries:
                    assert client.get(url).status_code == 200
                found.append(len(queries))
        return found

    counts()  # warm: permissions and the scope are cached on the user after the first request
    before = counts()
    for n in range(20):  # more personal posts, more customers' deliveries
        post = worlds.post(f"more-{n}", creator=results["ken"], kind=Post.Kind.PERSONAL, day=NEXT)
        worlds.deliver(post, results["ken"], [results["anna"], results["bo"]], NEXT)
    rollups.rollups_refresh()
    assert Delivery.objects.count() > 40
    assert counts() == before and max(before) <= 12
