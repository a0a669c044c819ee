"""The managers' dashboards over HTTP: their own login, the numbers the analytics services
compute, scoping (another region's campaign, associate or customer is a 404), sortable
and paginated tables in a bounded number of queries, CSV exports that Excel opens, and
bad filters answered with a message."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import dashboards, forecast, rollups
from analytics.models import AssociateDay, PlatformRules
from analytics.selectors import campaign_result
from analytics.tests import worlds
from analytics.tests.worlds import DAY, NEXT
from campaigns.models import PublishTask
from campaigns.tests import factories as cf
from staff.models import Contact
from staff.roles import MANAGER, MARKETING_ADMIN
from staff.tests import factories

PASSWORD = "a-long-test-password-42"


def _login(user) -> Client:
    user.set_password(PASSWORD)
    user.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    # Through the login page: authenticate() needs the request (django-axes counts failures per address).
    response = client.post(reverse("dashboards:login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _tile(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1).strip()


@pytest.fixture
def results(world):
    worlds.facts(world)
    rollups.rollups_refresh()
    elsewhere = factories.department("北京店")
    world["other"] = factories.associate("zoe", departments=[elsewhere])
    world["admin_user"] = factories.user("admin", role=MARKETING_ADMIN)
    world["admin"] = _login(world["admin_user"])
    world["manager_user"] = factories.user("rm", role=MANAGER, manages=[world["region"]])
    world["manager"] = _login(world["manager_user"])
    world["other_manager"] = _login(factories.user("om", role=MANAGER, manages=[elsewhere]))
    world["url"] = reverse("dashboards:campaign", args=[world["campaign"].public_id])
    return world


def test_it_asks_anonymous_visitors_to_log_in_on_its_own_page(results):
    response = Client().get(results["url"])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboards:login"))
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("dashboards:login"))
    assert page.status_code == 200 and b'name="password"' in page.content
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    results["manager_user"].set_password(PASSWORD)
    results["manager_user"].save()
    done = client.post(reverse("dashboards:login"), {"username": "rm", "password": PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("dashboards:index")


def test_a_user_without_a_role_is_refused(results):
    nobody = _login(factories.user("nobody"))
    assert nobody.get(reverse("dashboards:index")).status_code == 403


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_the_overview_shows_the_numbers_of_the_analytics_services(results, who):
    user = results["admin_user"] if who == "admin" else results["manager_user"]
    expected = campaign_result(user=user, campaign=results["campaign"])
    html = results[who].get(results["url"]).content.decode()
    assert _tile(html, "customers") == str(expected.customers) == "2"
    assert _tile(html, "deliveries") == str(expected.deliveries)
    assert _tile(html, "cap-loss") == str(expected.cap_loss)
    assert _tile(html, "verification-loss") == str(expected.verification_loss)
    assert _tile(html, "engagement") == str(expected.likes + expected.comments)
    assert _tile(html, "reach-rate") == f"{expected.reach_rate * 100:.1f}%"
    # the funnel: two moments × two associates, all published
    assert re.search(r"Published</span> <b>4</b>", html)
    # charts get their numbers as JSON, drawn by the self-hosted ECharts
    assert 'id="chart-data"' in html and "vendor/echarts/echarts.min.js" in html


def test_reach_so_far_grows_by_the_customers_first_reached_each_day(results):
    overview = dashboards.campaign_overview(user=results["manager_user"], campaign=results["campaign"],
                                            filters=dashboards.Filters())  # fmt: skip
    assert [(d["day"], d["reach"]) for d in overview.days] == [(DAY, 2), (NEXT, 2)]
    only_next = dashboards.Filters(start=NEXT, end=NEXT)
    overview = dashboards.campaign_overview(user=results["manager_user"], campaign=results["campaign"],
                                            filters=only_next)  # fmt: skip
    assert [(d["day"], d["reach"]) for d in overview.days] == [(NEXT, 2)]
    assert overview.deliveries == 3  # NEXT only: Lily 2, Ken 1


def test_a_manager_sees_only_their_subtree_and_gets_404_elsewhere(results):
    other = results["other_manager"]
    assert other.get(results["url"]).status_code == 404
    assert results["campaign"].name not in other.get(reverse("dashboards:index")).content.decode()
    assert other.get(reverse("dashboards:associate", args=[results["lily"].userid])).status_code == 404
    assert other.get(reverse("dashboards:customer", args=["wm-anna"])).status_code == 404
    leaderboard = reverse("dashboards:leaderboard", args=[results["campaign"].public_id])
    assert other.get(leaderboard).status_code == 404
    # the region's manager sees their people, and not Zoe of another store
    mine = results["manager"].get(leaderboard + "?by=associate").content.decode()
    assert results["lily"].userid in mine and results["ken"].userid in mine and results["other"].userid not in mine
    assert results["manager"].get(reverse("dashboards:associate", args=[results["other"].userid])).status_code == 404


def test_the_leaderboard_sorts_and_pages_in_a_bounded_number_of_queries(results):
    url = reverse("dashboards:leaderboard", args=[results["campaign"].public_id])
    html = results["admin"].get(url + "?by=associate&sort=-cap_loss").content.decode()
    rows = re.findall(r'<a href="/dashboard/associates/(\w+)/', html)
    assert rows == [results["lily"].userid, results["ken"].userid]  # Lily lost Anna to her full feed
    html = results["admin"].get(url + "?by=associate&sort=cap_loss").content.decode()
    assert re.findall(r'<a href="/dashboard/associates/(\w+)/', html) == rows[::-1]
    lily = AssociateDay.objects.filter(associate=results["lily"]).values_list("deliveries", flat=True)
    assert re.search(rf'>lily</a></td>.*?data-col="deliveries">{sum(lily)}<', html, re.S)

    def queries(path) -> int:
        with CaptureQueriesContext(connection) as seen:
            assert results["admin"].get(path).status_code == 200
        return len(seen)

    small = queries(url + "?by=associate")
    # 60 more associates with tasks and results: a second page, the same queries
    store = results["store"]
    moment = results["moments"][0]
    variant = moment.variants.first()
    for n in range(60):
        someone = factories.associate(f"extra{n}", departments=[store])
        PublishTask.objects.create(moment=moment, variant=variant, associate=someone, state=PublishTask.State.NOTIFIED)
        AssociateDay.objects.create(day=DAY, associate=someone, campaign=results["campaign"], deliveries=n)
    rollups.rollups_refresh()  # the periodic run: the live campaign's per-associate roll-up
    assert queries(url + "?by=associate") == small
    page2 = results["admin"].get(url + "?by=associate&page=2&sort=-deliveries").content.decode()
    assert "Page 2 of 2" in page2
    assert queries(url + "?by=store") <= small
    assert queries(results["url"]) <= 16


def test_every_table_downloads_as_csv_with_a_bom(results):
    url = reverse("dashboards:leaderboard", args=[results["campaign"].public_id])
    response = results["admin"].get(url + "?by=store&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert lines[0][0] == "Store" and lines[1][0] == "上海店"
    for path in (results["url"], reverse("dashboards:index"), reverse("dashboards:readiness"),
                 reverse("dashboards:forecast", args=[results["campaign"].public_id]),
                 reverse("dashboards:associate", args=[results["lily"].userid]),
                 reverse("dashboards:customer", args=["wm-anna"])):  # fmt: skip
        response = results["admin"].get(path + "?format=csv")
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content).decode("utf-8")
        assert body.startswith("\ufeff") and len(body.splitlines()) >= 2, path


def test_a_csv_cell_never_starts_a_formula(results):
    results["lily"].name = "=HYPERLINK(1)"
    results["lily"].save()
    url = reverse("dashboards:leaderboard", args=[results["campaign"].public_id])
    body = b"".join(results["admin"].get(url + "?format=csv").streaming_content).decode("utf-8")
    assert "'=HYPERLINK(1)" in body


@pytest.mark.parametrize(
    "query, message",
    [
        ("start=yesterday", "is not a date"),
        ("start=2027-02-11&end=2027-02-10", "before the first day"),
        ("start=2000-01-01&end=2027-02-10", "at most 366 days"),
        ("department=999999", "no department"),
        ("department=abc", "no department"),
        ("page=-4&sort=nonsense", None),
    ],
)
def test_bad_filters_get_a_message_not_an_error(results, query, message):
    for path in (results["url"], reverse("dashboards:leaderboard", args=[results["campaign"].public_id]),
                 reverse("dashboards:readiness")):  # fmt: skip
        response = results["manager"].get(f"{path}?{query}")
        assert response.status_code == 200
        if message:
            assert message in response.content.decode()


def test_another_regions_department_is_not_a_filter_for_a_manager(results):
    elsewhere = results["other"].main_department or results["other"].departments.first()
    response = results["manager"].get(f"{results['url']}?department={elsewhere.wecom_id}")
    assert "no department" in response.content.decode()


def test_unknown_campaigns_are_404(results):
    admin = results["admin"]
    assert admin.get("/dashboard/campaigns/5d6e0c1a-0000-4000-8000-000000000000/").status_code == 404
    assert admin.get("/dashboard/campaigns/not-a-uuid/").status_code == 404


def test_readiness_lists_the_accounts_to_fix_with_the_customers_they_cost(results):
    # the world's limit of 2, in force today
    PlatformRules.objects.filter(unverified_reach_limit=2).update(effective_from=timezone.localdate())
    html = results["manager"].get(reverse("dashboards:readiness")).content.decode()
    # Lily is unverified with 3 contacts under a limit of 2: one customer out of reach
    assert _tile(html, "count-unverified") == "1"
    assert _tile(html, "customers-lost") == "1"
    assert re.search(r'>lily</a></td>.*?data-col="contacts">3<.*?data-col="lost">1<', html, re.S)
    near = results["manager"].get(reverse("dashboards:readiness") + "?kind=near_limit").content.decode()
    assert ">lily<" not in near  # 3 contacts is beyond the limit, not near it
    Contact.objects.filter(associate=results["lily"], customer=results["cai"]).update(is_active=False)
    near = results["manager"].get(reverse("dashboards:readiness") + "?kind=near_limit").content.decode()
    assert ">lily<" in near  # 2 of 2: at the limit


def test_forecast_vs_actual_compares_the_last_snapshot_with_the_results(results):
    url = reverse("dashboards:forecast", args=[results["campaign"].public_id])
    assert "No forecast" in results["manager"].get(url).content.decode()
    snapshot = forecast.forecast_snapshot_create(campaign=results["campaign"])
    result = dashboards.forecast_vs_actual(user=results["manager_user"], campaign=results["campaign"],
                                           filters=dashboards.Filters())  # fmt: skip
    assert result.snapshot == snapshot
    assert result.totals["actual_deliveries"] == 6
    assert result.totals["forecast_deliveries"] == sum(d["forecast_deliveries"] for d in result.days) > 0
    html = results["manager"].get(url).content.decode()
    assert "Forecast computed at" in html
    # a second snapshot replaces the first
    forecast.forecast_snapshot_create(campaign=results["campaign"])
    assert dashboards.forecast_vs_actual(user=results["admin_user"], campaign=results["campaign"],
                                         filters=dashboards.Filters()).snapshot != snapshot  # fmt: skip


def test_the_customer_timeline_shows_slots_used_against_the_cap(results):
    html = results["manager"].get(reverse("dashboards:customer", args=["wm-anna"])).content.decode()
    # Anna on DAY: Lily's three own posts and Ken's moment; the cap of 3 on each row
    assert html.count('data-col="feed_cap">3<') >= 4
    found = results["manager"].get(reverse("dashboards:customers") + "?q=ann").content.decode()
    assert "/dashboard/customers/wm-anna/" in found


def test_a_campaign_still_in_planning_is_not_listed(results, db):
    planned = cf.campaign(results["admin_user"], name="not yet")
    cf.moment(planned)  # a draft
    html = results["admin"].get(reverse("dashboards:index")).content.decode()
    assert results["campaign"].name in html and "not yet" not in html


def test_the_associate_page_sums_their_results_by_campaign(results):
    html = results["manager"].get(reverse("dashboards:associate", args=[results["ken"].userid])).content.decode()
    ken = AssociateDay.objects.filter(associate=results["ken"])
    assert re.search(rf'data-col="deliveries">{sum(r.deliveries for r in ken)}<', html)
    assert _tile(html, "contacts") == "2"


def test_cta_clicks_reach_the_roll_ups_and_the_dashboards(results):
    from campaigns import links

    moment = results["moments"][0]
    lily_link = links.tracked_link_for(moment=moment, associate=results["lily"], url="https://shop.example/rose",
                                       purpose="cta")  # fmt: skip
    shared = links.tracked_link_for(moment=moment, associate=None, url="https://shop.example/rose", purpose="cta")
    phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    browser = Client()
    for link in (lily_link, lily_link, shared):
        assert browser.get(f"/go/{link.code}", HTTP_USER_AGENT=phone).status_code == 302
    rollups.rollups_refresh()
    # clicked today, counted on today in the roll-ups
    assert AssociateDay.objects.get(associate=results["lily"], day=timezone.localdate()).clicks == 2
    # a manager sees their associates' clicks; the whole brand also the enterprise link's
    html = results["manager"].get(results["url"]).content.decode()
    assert _tile(html, "clicks") == "2"
    html = results["admin"].get(results["url"]).content.decode()
    assert _tile(html, "clicks") == "3"
    # nothing new: the next refresh marks nothing
    assert rollups.clicks_mark() == 0


def test_new_contacts_through_the_campaigns_channel_codes_show(results):
    from campaigns.models import ChannelCode

    code = ChannelCode.objects.create(campaign=results["campaign"], associate=results["lily"], state="mtest01")
    newcomer = factories.customer("dora")
    factories.contact(results["lily"], newcomer)
    Contact.objects.filter(associate=results["lily"], customer=newcomer).update(state=code.state)
    factories.contact(results["ken"], factories.customer("eve"))  # added, but not through a code
    html = results["manager"].get(results["url"]).content.decode()
    assert _tile(html, "new-contacts") == "1"
    url = reverse("dashboards:leaderboard", args=[results["campaign"].public_id])
    html = results["manager"].get(url + "?by=associate&sort=-new_contacts").content.decode()
    assert re.search(r'>lily</a></td>.*?data-col="new_contacts">1<', html, re.S)
    assert re.search(r'>ken</a></td>.*?data-col="new_contacts">0<', html, re.S)


def test_every_page_runs_the_same_queries_with_more_data(results):
    pages = [reverse("dashboards:index"), results["url"],
             reverse("dashboards:leaderboard", args=[results["campaign"].public_id]) + "?by=store",
             reverse("dashboards:forecast", args=[results["campaign"].public_id]),
             reverse("dashboards:readiness"), reverse("dashboards:readiness") + "?kind=no_photo",
             reverse("dashboards:associate", args=[results["lily"].userid]),
             reverse("dashboards:customer", args=["wm-anna"]), reverse("dashboards:customers") + "?q=a"]  # fmt: skip
    forecast.forecast_snapshot_create(campaign=results["campaign"])

    def counts() -> list[int]:
        seen = []
        for path in pages:
            with CaptureQueriesContext(connection) as queries:
                assert results["manager"].get(path).status_code == 200, path
            seen.append(len(queries))
        return seen

    before = counts()
    # More of everything: associates with contacts, tasks, results and deliveries to Anna.
    moment, variant = results["moments"][0], results["moments"][0].variants.first()
    for n in range(30):
        someone = factories.associate(f"more{n}", departments=[results["store"]], verified=n % 2 == 0)
        factories.contact(someone, results["anna"])
        factories.contact(someone, factories.customer(f"c{n}"))
        PublishTask.objects.create(moment=moment, variant=variant, associate=someone, state=PublishTask.State.NOTIFIED)
        worlds.deliver(worlds.post(f"wm-{moment.pk}", moment=moment), someone, [results["anna"]], DAY)
    rollups.rollups_refresh()
    forecast.forecast_snapshot_create(campaign=results["campaign"])
    assert counts() == before


# Each page's queries: the session, the user, the two permission lookups and the role check, then
# the page's own (a manager's scope adds the ManagerAssignment lookup, with the departments).
PAGE_QUERIES = {
    "index": (8, 9),
    "campaign": (12, 12),
    "leaderboard-associate": (8, 9),
    "leaderboard-store": (8, 9),
    "edited": (9, 10),
    "forecast": (9, 10),
    "readiness": (9, 10),
    "associate": (11, 12),
    "customers": (6, 7),
    "customer": (10, 11),
}


def test_each_page_runs_a_fixed_number_of_queries(results):
    """The admin's and the manager's count of every page, the same on every request: a new
    query per request (a scope or permission read twice, a per-row lookup) fails here."""
    campaign = results["campaign"].public_id
    board = reverse("dashboards:leaderboard", args=[campaign])
    pages = {
        "index": reverse("dashboards:index"),
        "campaign": results["url"],
        "leaderboard-associate": board + "?by=associate",
        "leaderboard-store": board + "?by=store",
        "edited": reverse("dashboards:edited", args=[campaign]),
        "forecast": reverse("dashboards:forecast", args=[campaign]),
        "readiness": reverse("dashboards:readiness"),
        "associate": reverse("dashboards:associate", args=[results["lily"].userid]),
        "customers": reverse("dashboards:customers") + "?q=a",
        "customer": reverse("dashboards:customer", args=["wm-anna"]),
    }
    seen = {}
    for name, path in pages.items():
        for who in ("admin", "manager"):
            counts = []
            for _ in range(2):
                with CaptureQueriesContext(connection) as queries:
                    assert results[who].get(path).status_code == 200, (name, who)
                counts.append(len(queries))
            seen[name, who] = counts
    expected = {
        (name, who): [PAGE_QUERIES[name][i]] * 2 for name in pages for i, who in enumerate(("admin", "manager"))
    }
    assert seen == expected
