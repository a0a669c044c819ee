"""The reach forecast panel on the campaign and moment change pages: the numbers are
``analytics.forecast``'s, as its last snapshot has them (``analytics.snapshots``; the page never
forecasts), the colliding moments and the accounts to verify are named and linked, an empty plan
says so in a sentence, a stale snapshot says so and what changed, and the page's queries do not
grow with the number of associates, customers or variants."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import forecast, snapshots
from analytics.models import Delivery, ForecastJob, Post
from campaigns import planning
from campaigns.models import Moment, State
from campaigns.tests import factories as cf
from staff.models import Contact, Customer
from staff.roles import APPROVER, MANAGER, MARKETING_ADMIN
from staff.tests import factories


@pytest.fixture
def shop(db):
    store = factories.department("上海店")
    owner = factories.user("planner", role=MARKETING_ADMIN)
    campaign = cf.campaign(owner, name="情人节 2027")
    return {
        "store": store,
        "owner": owner,
        "campaign": campaign,
        "day": campaign.starts_on,
        "lily": factories.associate("Lily", departments=[store]),
        "ken": factories.associate("Ken", departments=[store], verified=False),
    }


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def _customers(associate, count: int) -> list[Customer]:
    start = timezone.now() - dt.timedelta(days=100)
    customers = Customer.objects.bulk_create(
        [Customer(external_userid=f"wm-{associate.userid}-{i}", name=f"c{i}") for i in range(count)]
    )
    Contact.objects.bulk_create([Contact(associate=associate, customer=c, added_at=start + dt.timedelta(minutes=i))
                                 for i, c in enumerate(customers)])  # fmt: skip
    return customers


def _moment(campaign, at: dt.datetime, *, title=None, associates=(), departments=(), state=State.DRAFT, variants=1):
    moment = Moment.objects.create(campaign=campaign, title=title or f"at {at:%H:%M}", publish_at=at,
                                   expires_at=at + dt.timedelta(hours=6), state=state)  # fmt: skip
    for n in range(variants):
        cf.variant(moment, associates=associates, departments=departments, name=f"变体{n}")
    return moment


def _panel(response):
    assert response.status_code == 200, response.content.decode()[-2000:]
    return response.context["reach_forecast"]


def _forecast(campaign) -> None:
    """What the worker does when the plan changes: the campaign's snapshot and each moment's."""
    assert "forecast" in snapshots.recompute(campaign.pk)


def _same_numbers(panel, expected: forecast.Forecast) -> None:
    got = panel.forecast
    assert (got.reach, got.contacts, got.duplicate_exposure, got.reach_rate) == (
        expected.reach, expected.contacts, expected.duplicate_exposure, expected.reach_rate)  # fmt: skip
    assert [(r.day, r.associates, r.audience, r.deliveries, r.reach, r.cap_loss, r.verification_loss)
            for r in panel.rows] == [(v.day, v.associates, v.audience, v.deliveries, v.reach, v.cap_loss,
                                      v.verification_loss) for v in expected.variants]  # fmt: skip
    assert (got.verify_accounts, got.verify_gain) == (expected.verify_accounts, expected.verify_gain)


@pytest.fixture
def busy_day(shop):
    """Lily (verified, one customer) and Ken (unverified, 201 customers) post three moments of ours
    on one day; another campaign's scheduled 8:00 moment takes one of Lily's slots first."""
    (anna,) = _customers(shop["lily"], 1)
    _customers(shop["ken"], 201)
    members_day = cf.campaign(shop["owner"], name="会员日")
    early = _moment(members_day, _at(shop["day"], 8), title="会员日早安", associates=[shop["lily"]],
                    state=State.SCHEDULED)  # fmt: skip
    ours = [_moment(shop["campaign"], _at(shop["day"], h), title=f"情人节 {h} 点", departments=[shop["store"]])
            for h in (9, 11, 13)]  # fmt: skip
    return {"anna": anna, "other": members_day, "early": early, "ours": ours}


def test_the_campaign_page_shows_the_forecast_of_its_moments(client, shop, busy_day):
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    response = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]))
    panel = _panel(response)
    expected = forecast.forecast_campaign(shop["campaign"])
    _same_numbers(panel, expected)
    # Ken reaches his 200 earliest-added customers, Lily her one: 201 of 202 customers.
    assert (expected.reach, expected.contacts) == (201, 202)
    assert [r.cap_loss for r in panel.rows] == [0, 0, 1]  # Lily's 13:00 is Anna's 4th moment of the day
    html = response.content.decode()
    assert 'id="reach-forecast"' in html and "Reach forecast" in html
    assert 'data-forecast="reach">201<' in html and 'data-forecast="reach-rate">99.5%<' in html
    assert panel.empty == ""
    assert "other campaigns&#x27; approved and scheduled moments" in html
    assert "As of " in html and 'data-forecast="stale"' not in html


def test_a_fourth_moment_names_the_moments_that_took_its_slots_and_links_them(client, shop, busy_day):
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    response = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]))
    panel = _panel(response)
    last = busy_day["ours"][-1]
    taken = {(row.taken_by.text, row.kind) for row in panel.collisions}
    assert taken == {("会员日早安", "another campaign, approved or scheduled"), ("情人节 9 点", "this campaign"),
                     ("情人节 11 点", "this campaign")}  # fmt: skip
    assert {row.moment.text for row in panel.collisions} == {last.title}
    assert all((row.customers, row.associates) == (1, 1) for row in panel.collisions)
    html = response.content.decode()
    early_url = reverse("admin:campaigns_moment_change", args=[busy_day["early"].pk])
    other_url = reverse("admin:campaigns_campaign_change", args=[busy_day["other"].pk])
    assert f'<a href="{early_url}" class="text-primary-600 dark:text-primary-500">会员日早安</a>' in html
    assert f'<a href="{other_url}" class="text-primary-600 dark:text-primary-500">会员日</a>' in html
    assert "1 delivery is hidden by the feed cap" in html
    # The worst associate-day: Lily on that day.
    assert [(row["associate"].text, row["day"], row["cap_loss"]) for row in panel.worst_days] == [
        ("Lily", shop["day"], 1)
    ]


def test_an_unverified_associate_past_the_limit_is_listed_to_verify(client, shop, busy_day):
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    response = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]))
    panel = _panel(response)
    assert panel.verify_sentence == "Verify this account to reach 1 more customer."
    assert [(row["associate"].text, row["customers"]) for row in panel.verify] == [("Ken", 1)]
    assert panel.forecast.verification_loss == 3  # the 201st customer, for each of the three moments
    html = response.content.decode()
    ken_url = reverse("admin:staff_associate_change", args=[shop["ken"].pk])
    assert f'<a href="{ken_url}" class="text-primary-600 dark:text-primary-500">Ken</a>' in html
    assert "Verify this account to reach 1 more customer." in html


def test_the_moment_page_forecasts_the_moment_next_to_approved_ones(client, shop, busy_day):
    first, second, last = busy_day["ours"]
    Moment.objects.filter(pk__in=[first.pk, second.pk]).update(state=State.APPROVED)
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    response = client.get(reverse("admin:campaigns_moment_change", args=[last.pk]))
    panel = _panel(response)
    _same_numbers(panel, forecast.forecast_moments([last]))
    assert [(r.variant, r.deliveries, r.cap_loss, r.verification_loss) for r in panel.rows] == [("变体0", 200, 1, 1)]
    assert {row.taken_by.text for row in panel.collisions} == {"会员日早安", first.title, second.title}
    assert panel.show_moment is False
    html = response.content.decode()
    assert "drafts are not counted" in html
    assert reverse("admin:campaigns_moment_change", args=[first.pk]) in html


def test_a_refused_moment_form_still_forecasts_what_is_saved(client, shop, busy_day):
    _forecast(shop["campaign"])
    last = busy_day["ours"][-1]
    later = shop["day"] + dt.timedelta(days=1)
    client.force_login(shop["owner"])
    response = client.post(reverse("admin:campaigns_moment_change", args=[last.pk]), {
        "campaign": shop["campaign"].pk, "title": last.title, "mode": "associate",
        "publish_at_0": later.isoformat(), "publish_at_1": "10:00:00",
        "expires_at_0": later.isoformat(), "expires_at_1": "09:00:00",  # before the publish time: refused
        "variants-TOTAL_FORMS": "0", "variants-INITIAL_FORMS": "0",
    })  # fmt: skip
    panel = _panel(response)
    assert "expires_at" in response.context["adminform"].form.errors
    assert [row.day for row in panel.rows] == [shop["day"]]  # the saved day, not the refused one


def test_personal_posts_already_in_the_feed_are_named_as_such(client, shop):
    (anna,) = _customers(shop["lily"], 1)
    for n in range(3):  # Lily's own posts this morning, seen by results sync
        post = Post.objects.create(wecom_moment_id=f"personal-{n}", kind=Post.Kind.PERSONAL, creator=shop["lily"],
                                   created_at=_at(shop["day"], 7))  # fmt: skip
        Delivery.objects.create(post=post, associate=shop["lily"], customer=anna, day=shop["day"])
    moment = _moment(shop["campaign"], _at(shop["day"], 10), associates=[shop["lily"]])
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    panel = _panel(client.get(reverse("admin:campaigns_moment_change", args=[moment.pk])))
    assert [(row.taken_by.text, row.taken_by.url, row.customers) for row in panel.collisions] == [
        ("Personal posts", "", 1)
    ]
    assert panel.forecast.reach == 0 and panel.forecast.cap_loss == 1


def test_an_empty_campaign_shows_zeros_and_a_sentence(client, shop):
    client.force_login(shop["owner"])
    response = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]))
    panel = _panel(response)
    assert panel.empty == "This campaign has no moments yet: add one to see how many customers it will reach."
    assert (panel.forecast.reach, panel.forecast.contacts, panel.reach_percent) == (0, 0, 0.0)
    html = response.content.decode()
    assert panel.empty in html and 'data-forecast="reach">0<' in html and 'data-forecast="reach-rate">0.0%<' in html
    assert "reach-forecast-variants" not in html


def test_a_moment_without_variants_or_audience_says_so(client, shop):
    client.force_login(shop["owner"])
    bare = Moment.objects.create(campaign=shop["campaign"], title="空", publish_at=_at(shop["day"], 10),
                                 expires_at=_at(shop["day"], 20))  # fmt: skip
    panel = _panel(client.get(reverse("admin:campaigns_moment_change", args=[bare.pk])))
    assert panel.empty.startswith("No variants yet") and panel.rows == []
    lonely = _moment(shop["campaign"], _at(shop["day"], 12), associates=[shop["lily"]])  # Lily has no contacts
    _forecast(shop["campaign"])
    response = client.get(reverse("admin:campaigns_moment_change", args=[lonely.pk]))
    panel = _panel(response)
    assert panel.empty.startswith("No customer is in the audience yet")
    assert [(r.audience, r.deliveries, r.reach) for r in panel.rows] == [(0, 0, 0)]
    assert "reach-forecast-variants" in response.content.decode()
    # The campaign page with that moment: zeros as well, no error.
    panel = _panel(client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])))
    assert panel.forecast.reach == 0 and panel.empty.startswith("No customer is in the audience yet")


def test_a_cancelled_moment_reaches_nobody(client, shop):
    _customers(shop["lily"], 2)
    moment = _moment(shop["campaign"], _at(shop["day"], 10), associates=[shop["lily"]], state=State.CANCELLED)
    client.force_login(shop["owner"])
    panel = _panel(client.get(reverse("admin:campaigns_moment_change", args=[moment.pk])))
    assert panel.empty == "This moment is cancelled: it will not reach anyone." and panel.forecast.reach == 0


def test_the_add_pages_have_no_forecast(client, shop):
    client.force_login(shop["owner"])
    for name in ("campaign", "moment"):
        response = client.get(reverse(f"admin:campaigns_{name}_add"))
        assert response.status_code == 200
        assert "reach_forecast" not in response.context and 'id="reach-forecast"' not in response.content.decode()


def test_approvers_see_the_forecast_managers_do_not(client, shop, busy_day):
    _forecast(shop["campaign"])
    url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    client.force_login(factories.user("checker", role=APPROVER))
    assert _panel(client.get(url)).forecast.reach == 201
    client.force_login(factories.user("boss", role=MANAGER, manages=[shop["store"]]))
    assert client.get(url).status_code == 403


def test_associates_outside_the_users_departments_are_not_named(client, shop, busy_day):
    """A manager who was also given the campaigns' view permission sees the plan, but not
    the names of associates outside their departments."""
    elsewhere = factories.department("北京店")
    viewer = factories.user("viewer", role=MANAGER, manages=[elsewhere])
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_campaign", "view_moment"]))
    _forecast(shop["campaign"])
    client.force_login(viewer)
    response = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]))
    panel = _panel(response)
    assert [row["associate"].text for row in panel.verify] == ["an associate outside your departments"]
    assert "Ken" not in response.content.decode().split('id="reach-forecast"')[1]


# --- bounded queries ---------------------------------------------------------------------------
def _grow_associates(shop, count: int, *, start: int) -> None:
    """``count`` more unverified associates in the store, each past the 200 limit and sharing a
    customer with Lily (duplicate exposure, cap loss on her day, one more account to verify)."""
    shared = Customer.objects.create(external_userid=f"wm-shared-{start}", name="shared")
    Contact.objects.create(associate=shop["lily"], customer=shared, added_at=timezone.now() - dt.timedelta(days=1))
    for i in range(start, start + count):
        member = factories.associate(f"A{i}", departments=[shop["store"]], verified=False)
        _customers(member, 201)
        Contact.objects.create(associate=member, customer=shared, added_at=timezone.now())


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_pages_do_not_grow_in_queries_with_associates(client, shop, busy_day, django_assert_max_num_queries):
    client.force_login(shop["owner"])
    urls = [reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]),
            reverse("admin:campaigns_moment_change", args=[busy_day["ours"][-1].pk])]  # fmt: skip
    _grow_associates(shop, 1, start=0)
    _forecast(shop["campaign"])
    for url in urls:
        client.get(url)  # warm the session and content types
    few = [_queries(client, url) for url in urls]
    _grow_associates(shop, 14, start=1)  # past the 10 the panel lists: "… and N more accounts."
    _forecast(shop["campaign"])
    for url, small in zip(urls, few, strict=True):
        with django_assert_max_num_queries(len(small)):
            response = client.get(url)
        panel = _panel(response)
        assert panel.forecast.verify_accounts == 16 and len(panel.verify) == 10 and not panel.stale
        assert panel.verify_more == "… and 6 more accounts."


def _forecast_statement(sql: str) -> bool:
    """The forecast's scratch tables, or the drafting checks' (both read every contact: the worker's)."""
    return any(
        table in sql for table in ("fc_sender", "fc_row", "fc_tag", "fc_assoc", "pl_target", "pl_assoc", "pl_ctag")
    )


def _more_variants(shop, busy_day) -> None:
    """Three more variants on each of our moments, and other campaigns' approved moments that day."""
    for moment in busy_day["ours"]:
        for n in range(3):
            cf.variant(moment, departments=[shop["store"]], name=f"more{n}")
    for h in (7, 10, 12):
        _moment(busy_day["other"], _at(shop["day"], h), associates=[shop["lily"], shop["ken"]], state=State.APPROVED,
                variants=2)  # fmt: skip


def test_the_campaign_page_does_not_grow_in_queries_with_variants(client, shop, busy_day):
    _forecast(shop["campaign"])
    client.force_login(shop["owner"])
    url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    client.get(url)  # warm the session and content types
    few = _queries(client, url)
    _more_variants(shop, busy_day)
    _forecast(shop["campaign"])
    many = _queries(client, url)
    assert len(_panel(client.get(url)).rows) == 12
    assert len(many) == len(few) and not any(_forecast_statement(q) for q in few + many)


def test_the_moment_panel_does_not_grow_in_queries_with_variants(shop, busy_day):
    """The moment page's variant inline and previews query per variant (the existing admin); the panel does not."""
    from django.contrib import admin

    from campaigns.admin import forecast_panel

    moment = busy_day["ours"][-1]

    def panel_queries():
        with CaptureQueriesContext(connection) as captured:
            panel = forecast_panel.moment_panel(moment=moment, user=shop["owner"], admin_site=admin.site)
        return panel, [q["sql"] for q in captured.captured_queries]

    _forecast(shop["campaign"])
    panel_queries()  # the user's permissions and directory scope are cached on it after the first
    _, few = panel_queries()
    _more_variants(shop, busy_day)
    _forecast(shop["campaign"])
    panel, many = panel_queries()
    assert len(panel.rows) == 4 and len(many) == len(few)
    assert not any(_forecast_statement(q) for q in few + many)


# --- never inside a request (issue #19) --------------------------------------------------------------
def _refuse_to_forecast(monkeypatch) -> None:
    """Every entry to the forecast raises: a page that forecasts fails."""

    def refused(*args, **kwargs):
        raise AssertionError("the forecast was computed inside a request")

    for name in ("forecast_campaign", "forecast_moments", "forecast_snapshot_create", "forecast_rows", "planned_for"):
        monkeypatch.setattr(forecast, name, refused)
    monkeypatch.setattr(planning, "moments_check", refused)  # the drafting checks read every contact too


def test_the_pages_never_call_the_forecast(client, shop, busy_day, monkeypatch):
    client.force_login(shop["owner"])
    campaign_url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    moment_url = reverse("admin:campaigns_moment_change", args=[busy_day["ours"][-1].pk])
    expected = forecast.forecast_campaign(shop["campaign"])
    _forecast(shop["campaign"])
    _refuse_to_forecast(monkeypatch)
    _same_numbers(_panel(client.get(campaign_url)), expected)
    assert _panel(client.get(moment_url)).rows
    Moment.objects.filter(pk=busy_day["ours"][0].pk).update(publish_at=_at(shop["day"], 8))  # stale now
    assert _panel(client.get(campaign_url)).stale and _panel(client.get(moment_url)).stale
    fresh = cf.campaign(shop["owner"], name="新活动")  # no snapshot at all
    _moment(fresh, _at(fresh.starts_on, 9), associates=[shop["lily"]])
    html = client.get(reverse("admin:campaigns_campaign_change", args=[fresh.pk])).content.decode()
    assert "No forecast of this plan yet." in html and "reach-forecast-headline" not in html


def _grow_brand(shop, associates: int, customers: int, *, start: int) -> None:
    """More associates in the store (verified or not), each with ``customers`` contacts."""
    for i in range(start, start + associates):
        _customers(factories.associate(f"B{i}", departments=[shop["store"]], verified=i % 2 == 0), customers)


def test_the_campaign_page_costs_the_same_queries_whatever_the_brand(client, shop, busy_day):
    client.force_login(shop["owner"])
    url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    _forecast(shop["campaign"])
    client.get(url)  # warm the session and content types
    small = _queries(client, url)
    _grow_brand(shop, 40, 210, start=0)  # ~8,400 more contacts, 20 more accounts to verify
    _forecast(shop["campaign"])
    large = _queries(client, url)
    panel = _panel(client.get(url))
    assert panel.forecast.contacts > 8000 and panel.forecast.verify_accounts == 21
    assert len(large) == len(small), "\n".join(large)
    assert not any(_forecast_statement(q) for q in large)


def test_a_stale_snapshot_says_so_and_what_changed_then_recomputes_on_request(client, shop, busy_day):
    client.force_login(shop["owner"])
    url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    _forecast(shop["campaign"])
    moved = busy_day["ours"][0]
    Moment.objects.filter(pk=moved.pk).update(publish_at=_at(shop["day"], 8))  # bypassing the services: the digest
    response = client.get(url)
    panel = _panel(response)
    assert panel.stale and panel.changes == [f"“{moved.title}”: its times changed."]
    html = response.content.decode()
    assert 'data-forecast="stale"' in html and "Stale: the plan changed since." in html
    assert f"“{moved.title}”: its times changed." in html and 'data-forecast="recompute"' in html
    recompute = reverse("admin:campaigns_campaign_forecast_recompute", args=[shop["campaign"].pk])
    assert client.get(recompute).status_code == 405
    response = client.post(recompute, {"next": url})
    assert response.status_code == 302 and response["Location"] == url + "#reach-forecast"
    job = ForecastJob.objects.get(campaign=shop["campaign"])
    assert job.state == "queued" and job.forced and job.requested_by == shop["owner"]
    panel = _panel(client.get(url))
    assert panel.progress["state"] == "queued" and panel.progress["text"].startswith("Recomputation queued")
    status = client.get(reverse("admin:campaigns_campaign_forecast_status", args=[shop["campaign"].pk])).json()
    assert status["state"] == "queued"
    snapshots.job_run(job.pk)  # the worker
    panel = _panel(client.get(url))
    assert not panel.stale and panel.progress["state"] == "done" and panel.changes == []


def test_an_unsafe_next_is_not_followed(client, shop):
    client.force_login(shop["owner"])
    recompute = reverse("admin:campaigns_campaign_forecast_recompute", args=[shop["campaign"].pk])
    response = client.post(recompute, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk]) + (
        "#reach-forecast")  # fmt: skip


def test_who_may_not_see_the_plan_may_not_follow_or_recompute_its_forecast(client, shop):
    client.force_login(factories.user("boss", role=MANAGER, manages=[shop["store"]]))
    status = reverse("admin:campaigns_campaign_forecast_status", args=[shop["campaign"].pk])
    recompute = reverse("admin:campaigns_campaign_forecast_recompute", args=[shop["campaign"].pk])
    assert client.get(status).status_code == 403 and client.post(recompute).status_code == 403
    assert not ForecastJob.objects.exists()
    client.force_login(factories.user("checker", role=APPROVER))
    assert client.post(recompute).status_code == 302 and ForecastJob.objects.get().state == "queued"


def test_the_campaign_page_lists_its_moments_read_only_and_adds_new_ones(client, shop, busy_day):
    """The moments are listed with links to their pages (where they are edited), not as form rows: rows
    of Unfold's forms cost most of the page at brand size (issue #19). The inline still adds moments."""
    client.force_login(shop["owner"])
    url = reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])
    client.get(url)  # warm the session and content types
    few = len(_queries(client, url))
    html = client.get(url).content.decode()
    assert 'data-testid="moment-list"' in html and 'name="moments-0-id"' not in html
    for moment in busy_day["ours"]:
        assert reverse("admin:campaigns_moment_change", args=[moment.pk]) in html and moment.title in html
    assert busy_day["early"].title not in html.split('data-testid="moment-list"')[1].split("</table>")[0]
    for hour in (15, 17, 19):
        _moment(shop["campaign"], _at(shop["day"], hour), departments=[shop["store"]])
    assert len(_queries(client, url)) == few
    data = {"name": shop["campaign"].name, "starts_on": shop["campaign"].starts_on,
            "ends_on": shop["campaign"].ends_on, "moments-TOTAL_FORMS": "1", "moments-INITIAL_FORMS": "0",
            "moments-0-title": "新的", "moments-0-publish_at_0": shop["day"].isoformat(),
            "moments-0-publish_at_1": "21:00:00", "moments-0-expires_at_0": shop["day"].isoformat(),
            "moments-0-expires_at_1": "23:00:00", "moments-0-mode": "associate"}  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert shop["campaign"].moments.count() == 7 and shop["campaign"].moments.filter(title="新的").exists()
