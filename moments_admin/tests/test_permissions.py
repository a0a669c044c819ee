"""The permission matrix (issue #7; DESIGN.md §7): for every URL pattern of the project, every role
and the methods that matter, the status the app must answer. Table-driven, after pretix's
``src/tests/api/test_permissions.py``.

The roles are the columns (``permission_fixtures.ROLES``): anonymous; the associate, who has no
login, only the signed links of their notification; a manager of region A and one of region B; a
marketing admin; an approver. Every URL names an object inside region A, or a brand-wide one, so
a manager of region B gets a 404 wherever the object is A's (DESIGN.md §7: every queryset starts
from the requesting user's scope; other scopes get 404). Pages that list people also say which
markers each manager must (``shows``) and must not (``hides``) see.

Three tables:

- ``ROWS``: our own pages and APIs, a row per (route, method), sometimes more than one case.
- ``admin_rows()``: the admin by rule. For every registered model: its changelist, add, change,
  delete and history pages, GET and an empty-form POST, against the role's model permissions
  (``staff.roles.ROLE_PERMISSIONS``), the pages the ModelAdmin never offers (``ADMIN_NEVER``), and
  the directory's scoping (another region's object is a 404; a changelist shows only the role's
  region). Then a row per custom admin view.
- ``sandbox_rows()``: the WeCom sandbox answers everyone alike, as WeCom does. Its API checks the
  access token (a session means nothing there); its control plane is open by design (it is
  mounted only with ``WECOM_SANDBOX``, which production refuses).

On signed-link routes (``/p/…``) the associate holds their real link; everyone else holds one
whose signature is broken: a session grants nothing there.

``test_every_url_pattern_has_a_row`` fails naming each URL pattern without a row, so no URL lands
without its permissions decided here.

Where the app answers wrongly, the row keeps the correct status and ``KNOWN_BUGS`` names the cell
(route, method, case, role) with the reason: ``test_known_bugs_are_still_there`` checks that each
such cell still answers wrongly, so it documents the bug and fails once the bug is fixed (the entry
goes with the fix). ``test_permission`` checks the other cells of the row, a role at a time.

Speed (~2,600 requests): the world is built once for the module inside a transaction rolled back
at the end; each request runs in a savepoint of it, so a POST that changes or deletes something is
undone before the next; the sessions and Django's request handler are made once; and a test is a
row, not a cell, since pytest-django's per-test transaction costs as much as a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, override_settings
from django.test.client import ClientHandler
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from moments_admin.tests.permission_fixtures import (
    ANONYMOUS,
    ASSOCIATE,
    ASSOCIATE_A_NAME,
    ASSOCIATE_B_NAME,
    CAMPAIGN_A_NAME,
    CUSTOMER_A_NAME,
    CUSTOMER_B_NAME,
    GROUP_OF_ROLE,
    MANAGER_A,
    MANAGER_B,
    MARKETING,
    ROLES,
    STAFF_ROLES,
    World,
    world_build,
)
from staff.roles import ROLE_PERMISSIONS

Url = Callable[[World, str], str]


# --- the world, once per module ---------------------------------------------------------------------
# The conftest's per-test settings, applied once for the module (with ~2,500 requests, a few
# milliseconds a test add up), and WeCom unreachable, as in an outage: views that call it (a
# Publish outside the WeCom client, creating channel codes) meet a closed local port, never a
# real server or the sandbox of a running `make run`.
MODULE_SETTINGS = {
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "WECOM_BASE_URL": "http://127.0.0.1:9/wecom-sandbox/cgi-bin/",
    "WECOM_SANDBOX_CALLBACK_URL": "",
    "WECOM_SANDBOX_JOB_SECONDS": 0,
    "MOMENTS_QUIET_START": 0,
    "MOMENTS_QUIET_END": 0,
}


@pytest.fixture(autouse=True)
def _media_in_tmp():
    """Overrides the conftest's: the world's media folder serves the whole module."""


@pytest.fixture(autouse=True)
def _fast_passwords():
    """Overrides the conftest's: ``MODULE_SETTINGS`` has it."""


@pytest.fixture(autouse=True)
def _sandbox_test_settings():
    """Overrides the conftest's: ``MODULE_SETTINGS`` has it."""


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once, inside a transaction rolled back when the module is done; each request runs in
    a savepoint of it (``_problems``)."""
    media = tmp_path_factory.mktemp("permission-media")
    with django_db_blocker.unblock(), override_settings(**MODULE_SETTINGS, MEDIA_ROOT=media), transaction.atomic():
        yield world_build()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def sessions(world) -> dict[str, str]:
    """A logged-in session per staff role, made once (a test's logout is rolled back with it)."""
    cookies = {}
    for role in STAFF_ROLES:
        client = Client()
        client.force_login(world.users[role], backend="django.contrib.auth.backends.ModelBackend")
        cookies[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return cookies


@pytest.fixture(scope="module")
def handler() -> ClientHandler:
    """One request handler for every test client: building Django's middleware chain costs
    ~150 ms (WhiteNoise indexes every static file), as much as dozens of requests. Without CSRF
    checks, like the test client's own: the matrix is about permissions."""
    return ClientHandler(enforce_csrf_checks=False)


@pytest.fixture(scope="module", autouse=True)
def _memory_broker():
    """Views that enqueue a task (a results sync, a forecast refresh) send it to an in-memory
    broker, not to the developer's queue or CI's Redis. Celery caches its connection pools, so
    they are dropped on the way in and out (what Celery itself does after a fork)."""
    from moments_admin.celery import app

    def use(url):
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    saved = app.conf.broker_url
    use("memory://")
    yield
    use(saved)


# --- how a row is written ------------------------------------------------------------------------------
def E(anonymous: int, associate: int, manager_a: int, manager_b: int, marketing: int, approver: int) -> dict:
    """The expected status per role, in the columns' order."""
    return dict(zip(ROLES, (anonymous, associate, manager_a, manager_b, marketing, approver), strict=True))


def everyone(status: int) -> dict:
    return dict.fromkeys(ROLES, status)


@dataclass
class Row:
    route: str  # the URL pattern: "namespace:name", or "/<full route>" when it has no name
    method: str
    url: Url
    expected: dict[str, int]
    case: str = ""  # tells rows of one route and method apart
    data: dict | str | None = None  # a str is sent as it is (XML)
    json: bool = True  # a dict as JSON (APIs) or as a form (pages)
    shows: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> markers the page must show
    hides: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> markers it must not show
    errcode: int | None = None  # the sandbox's WeCom envelope
    location: dict[str, str] = field(default_factory=dict)  # role -> where a redirect must point (prefix)

    @property
    def id(self) -> str:
        return f"{self.route}{f' [{self.case}]' if self.case else ''} {self.method}"


def regions(marker_a: str, marker_b: str) -> dict:
    """Each manager sees their region's marker and not the other's."""
    return {
        "shows": {MANAGER_A: (marker_a,), MANAGER_B: (marker_b,)},
        "hides": {MANAGER_A: (marker_b,), MANAGER_B: (marker_a,)},
    }


def _forecast_job(w: World):
    from analytics.models import ForecastJob

    return ForecastJob.objects.get(campaign=w.campaign_a).public_id


def rev(name: str, *args: Callable[[World], object], query: str = "") -> Url:
    """The URL of ``name`` with arguments read from the world."""

    def build(w: World, role: str) -> str:
        return reverse(name, args=[arg(w) for arg in args]) + (f"?{query}" if query else "")

    return build


def path(value: str) -> Url:
    return lambda w, role: value


def signed(name: str, token: Callable[[World], str]) -> Url:
    """The associate's real link; for everyone else the same link with a broken signature."""

    def build(w: World, role: str) -> str:
        value = token(w)
        if role != ASSOCIATE:
            value = value[:-3] + ("xyz" if not value.endswith("xyz") else "abc")
        return reverse(name, args=[value])

    return build


A = attrgetter
CAMPAIGN_A = A("campaign_a.public_id")
CAMPAIGN_SHARED = A("campaign_shared.public_id")
MOMENT_A = A("moment_a.public_id")
DRAFT_A = A("draft_a.public_id")
VARIANT_A = A("variant_a.public_id")
ASSOCIATE_A = A("associate_a.userid")
CUSTOMER_A = A("customer_a.external_userid")
CUSTOMER_SHARED = A("customer_shared.external_userid")
LINK_A = A("link_a.code")

# Dashboards: log in first (their own page), then the right to read reach, then the scope.
DASHBOARD = E(302, 302, 200, 200, 200, 200)
DASHBOARD_A = E(302, 302, 200, 404, 200, 200)  # about something of region A
# The API: no credentials is a 401 (it offers token authentication, so it says how to authenticate).
# Drafting: marketing admins write, approvers read; managers have no campaign rights.
API_READ = E(401, 401, 403, 403, 200, 200)
API_WRITE = E(401, 401, 403, 403, 400, 403)  # an empty body: the permission passed, the input did not
API_DONE = E(401, 401, 403, 403, 200, 403)
API_DELETE = E(401, 401, 403, 403, 405, 403)  # nothing is deleted through the API; DRF checks the permission first
API_APPROVE = E(401, 401, 403, 403, 403, 400)
# Whoever reads reach (or the directory), within their scope.
SCOPED = E(401, 401, 200, 200, 200, 200)
SCOPED_A = E(401, 401, 200, 404, 200, 200)  # about something of region A
# Signed links: only their holder.
LINK_HOLDER = E(404, 200, 404, 404, 404, 404)
STAFF_PAGE = E(302, 302, 200, 200, 200, 200)

# The columns of E(...): anonymous, associate, manager of A, manager of B, marketing admin, approver.
# fmt: off
ROWS: list[Row] = [
    # --- public -----------------------------------------------------------------------------------------
    Row("/", "GET", path("/"), everyone(302)),
    Row("healthz", "GET", path("/healthz"), everyone(200)),
    Row("healthz-queues", "GET", path("/healthz/queues"), everyone(503)),  # no worker in this test: unknown
    # Uploaded photos are public by design: WeCom's client fetches them for a moment (imgUrl).
    Row("media", "GET", path("/media/no-such-photo.jpg"), everyone(404)),
    Row("set_language", "POST", rev("set_language"), everyone(302), data={"language": "en"}, json=False),
    Row("set_language", "GET", rev("set_language"), everyone(302)),
    # WeCom's callback: signed by WeCom, so a bad signature is refused whoever sends it.
    Row("staff:wecom_callback", "GET", rev("staff:wecom_callback", query="msg_signature=bad&timestamp=1&nonce=1&"
                                           "echostr=x"), everyone(403)),
    Row("staff:wecom_callback", "POST", rev("staff:wecom_callback", query="msg_signature=bad&timestamp=1&nonce=1"),
        everyone(403), data="<xml><ToUserName>ww-sandbox-corp</ToUserName><Encrypt>bm90IHNpZ25lZA==</Encrypt></xml>"),
    # Customers' short links and QR codes: public by design.
    Row("campaigns:go", "GET", rev("campaigns:go", LINK_A), everyone(302)),
    Row("campaigns:go", "POST", rev("campaigns:go", LINK_A), everyone(405), data={}),
    Row("campaigns:go-qr-png", "GET", rev("campaigns:go-qr-png", LINK_A), everyone(200)),
    Row("campaigns:go-qr-svg", "GET", rev("campaigns:go-qr-svg", LINK_A), everyone(200)),
    Row("/go/", "GET", path("/go/"), everyone(404)),
    Row("/go/<path:rest>", "GET", path("/go/cut/off"), everyone(404)),

    # --- the associate's signed links ----------------------------------------------------------------
    Row("campaigns:publish", "GET", signed("campaigns:publish", A("publish_token")), LINK_HOLDER),
    # WeCom is unreachable here (MODULE_SETTINGS): the link holder gets the page saying so.
    Row("campaigns:publish", "POST", signed("campaigns:publish", A("publish_token")), LINK_HOLDER, data={},
        json=False),
    Row("campaigns:share", "POST", signed("campaigns:share", A("publish_token")), LINK_HOLDER, data={}, json=False),
    Row("campaigns:share", "GET", signed("campaigns:share", A("publish_token")), everyone(405)),
    Row("campaigns:my-tasks", "GET", signed("campaigns:my-tasks", A("my_tasks_token")), LINK_HOLDER),

    # --- the managers' dashboards ---------------------------------------------------------------------
    Row("dashboards:login", "GET", rev("dashboards:login"), E(200, 200, 302, 302, 302, 302)),
    Row("dashboards:login", "POST", rev("dashboards:login"), E(200, 200, 302, 302, 302, 302), data={}, json=False),
    Row("dashboards:logout", "POST", rev("dashboards:logout"), everyone(302), data={}, json=False),
    Row("dashboards:logout", "GET", rev("dashboards:logout"), everyone(405)),
    Row("dashboards:index", "GET", rev("dashboards:index"), DASHBOARD,
        shows={MANAGER_A: (CAMPAIGN_A_NAME,), MARKETING: (CAMPAIGN_A_NAME,)}, hides={MANAGER_B: (CAMPAIGN_A_NAME,)}),
    Row("dashboards:campaign", "GET", rev("dashboards:campaign", CAMPAIGN_A), DASHBOARD_A),
    Row("dashboards:campaign", "GET", rev("dashboards:campaign", CAMPAIGN_A, query="format=csv"), DASHBOARD_A,
        case="csv"),
    Row("dashboards:campaign", "GET", rev("dashboards:campaign", CAMPAIGN_SHARED), DASHBOARD, case="shared"),
    Row("dashboards:leaderboard", "GET", rev("dashboards:leaderboard", CAMPAIGN_A), DASHBOARD_A),
    Row("dashboards:leaderboard", "GET", rev("dashboards:leaderboard", CAMPAIGN_SHARED), DASHBOARD, case="shared",
        **regions(ASSOCIATE_A_NAME, ASSOCIATE_B_NAME)),
    Row("dashboards:forecast", "GET", rev("dashboards:forecast", CAMPAIGN_A), DASHBOARD_A),
    Row("dashboards:edited", "GET", rev("dashboards:edited", CAMPAIGN_A), DASHBOARD_A),
    Row("dashboards:edited", "GET", rev("dashboards:edited", CAMPAIGN_A, query="format=csv"), DASHBOARD_A,
        case="csv"),
    Row("dashboards:edited", "GET", rev("dashboards:edited", CAMPAIGN_SHARED), DASHBOARD, case="shared"),
    # Planners only (the forecast reads the plan); the view refuses before it looks at the campaign.
    Row("dashboards:forecast-refresh", "POST", rev("dashboards:forecast-refresh", CAMPAIGN_A),
        E(403, 403, 403, 403, 302, 302), data={}, json=False),
    Row("dashboards:forecast-refresh", "GET", rev("dashboards:forecast-refresh", CAMPAIGN_A), everyone(405)),
    Row("dashboards:readiness", "GET", rev("dashboards:readiness", query="kind=no_photo"), DASHBOARD,
        **regions(ASSOCIATE_A_NAME, ASSOCIATE_B_NAME)),
    Row("dashboards:associate", "GET", rev("dashboards:associate", ASSOCIATE_A), DASHBOARD_A),
    Row("dashboards:customers", "GET", rev("dashboards:customers", query="q=customer-of"), DASHBOARD,
        **regions(CUSTOMER_A_NAME, CUSTOMER_B_NAME)),
    Row("dashboards:customer", "GET", rev("dashboards:customer", CUSTOMER_A), DASHBOARD_A),
    Row("dashboards:customer", "GET", rev("dashboards:customer", CUSTOMER_SHARED), DASHBOARD, case="shared"),

    # --- the drafting API ---------------------------------------------------------------------------------
    Row("api:campaign-list", "GET", rev("api:campaign-list"), API_READ),
    Row("api:campaign-list", "POST", rev("api:campaign-list"), API_WRITE, data={}),
    Row("api:campaign-detail", "GET", rev("api:campaign-detail", CAMPAIGN_A), API_READ),
    Row("api:campaign-detail", "PATCH", rev("api:campaign-detail", CAMPAIGN_A), API_DONE, data={}),
    Row("api:campaign-detail", "DELETE", rev("api:campaign-detail", CAMPAIGN_A), API_DELETE),
    Row("api:campaign-submit", "POST", rev("api:campaign-submit", CAMPAIGN_A), API_DONE, data={}),
    Row("api:campaign-approve", "POST", rev("api:campaign-approve", CAMPAIGN_A), API_APPROVE, data={}),
    Row("api:campaign-reject", "POST", rev("api:campaign-reject", CAMPAIGN_A), API_APPROVE, data={}),
    Row("api:campaign-clone", "POST", rev("api:campaign-clone", CAMPAIGN_A), API_DONE, data={}),
    Row("api:moment-list", "GET", rev("api:moment-list"), API_READ),
    Row("api:moment-list", "POST", rev("api:moment-list"), API_WRITE, data={}),
    Row("api:moment-detail", "GET", rev("api:moment-detail", MOMENT_A), API_READ),
    Row("api:moment-detail", "DELETE", rev("api:moment-detail", MOMENT_A), API_DELETE),
    Row("api:moment-variants", "POST", rev("api:moment-variants", DRAFT_A), API_WRITE, data={}),
    Row("api:moment-submit", "POST", rev("api:moment-submit", DRAFT_A), API_DONE, data={}),
    Row("api:moment-approve", "POST", rev("api:moment-approve", DRAFT_A), API_APPROVE, data={}),
    Row("api:moment-reject", "POST", rev("api:moment-reject", DRAFT_A), API_APPROVE, data={}),
    Row("api:moment-schedule", "POST", rev("api:moment-schedule", DRAFT_A), API_WRITE, data={}),
    Row("api:moment-cancel", "POST", rev("api:moment-cancel", DRAFT_A), API_DONE, data={}),
    Row("api:variant-detail", "GET", rev("api:variant-detail", VARIANT_A), API_READ),
    Row("api:variant-detail", "PUT", rev("api:variant-detail", VARIANT_A), API_WRITE, data={}),
    # No permission of its own: any logged-in user learns that there is no DELETE.
    Row("api:variant-detail", "DELETE", rev("api:variant-detail", VARIANT_A), E(401, 401, 405, 405, 405, 405)),
    Row("api:media-list", "GET", rev("api:media-list"), API_READ),
    Row("api:media-list", "POST", rev("api:media-list"), API_WRITE, data={"title": "no file"}, json=False),
    Row("api:hashtag-list", "GET", rev("api:hashtag-list"), API_READ),
    Row("api:hashtag-list", "POST", rev("api:hashtag-list"), API_WRITE, data={}),
    Row("api:cta-list", "GET", rev("api:cta-list"), API_READ),
    Row("api:cta-list", "POST", rev("api:cta-list"), API_WRITE, data={}),
    Row("api-schema", "GET", rev("api-schema"), everyone(200)),

    # --- the reach API ------------------------------------------------------------------------------------
    Row("analytics-api:forecast-moments", "POST", rev("analytics-api:forecast-moments"),
        E(401, 401, 403, 403, 400, 400), data={}),
    Row("analytics-api:forecast-campaign", "GET", rev("analytics-api:forecast-campaign", CAMPAIGN_A), API_READ),
    # The forecast's recomputation: planners follow it and ask for it (it reads the plan).
    Row("analytics-api:forecast-campaign-job", "GET", rev("analytics-api:forecast-campaign-job", CAMPAIGN_A),
        API_READ),
    Row("analytics-api:forecast-campaign-job", "POST", rev("analytics-api:forecast-campaign-job", CAMPAIGN_A),
        E(401, 401, 403, 403, 202, 202), data={}),
    Row("analytics-api:forecast-job", "GET", rev("analytics-api:forecast-job", _forecast_job), API_READ),
    Row("analytics-api:campaign-reach", "GET", rev("analytics-api:campaign-reach", CAMPAIGN_A), SCOPED_A),
    Row("analytics-api:campaign-reach", "GET", rev("analytics-api:campaign-reach", CAMPAIGN_SHARED), SCOPED,
        case="shared"),
    Row("analytics-api:campaign-sync", "POST", rev("analytics-api:campaign-sync", CAMPAIGN_A),
        E(401, 401, 403, 403, 202, 403), data={}),
    Row("analytics-api:associate-reach", "GET", rev("analytics-api:associate-reach", ASSOCIATE_A), SCOPED_A),
    Row("analytics-api:associate-slots", "GET", rev("analytics-api:associate-slots", ASSOCIATE_A), SCOPED_A),
    Row("analytics-api:customer-timeline", "GET", rev("analytics-api:customer-timeline", CUSTOMER_A), SCOPED_A),

    # --- the dashboards' API ------------------------------------------------------------------------------
    Row("dashboard-api:campaigns", "GET", rev("dashboard-api:campaigns"), SCOPED,
        shows={MANAGER_A: (CAMPAIGN_A_NAME,), MARKETING: (CAMPAIGN_A_NAME,)}, hides={MANAGER_B: (CAMPAIGN_A_NAME,)}),
    Row("dashboard-api:overview", "GET", rev("dashboard-api:overview", CAMPAIGN_A), SCOPED_A),
    Row("dashboard-api:leaderboard", "GET", rev("dashboard-api:leaderboard", CAMPAIGN_A), SCOPED_A),
    Row("dashboard-api:leaderboard", "GET", rev("dashboard-api:leaderboard", CAMPAIGN_SHARED), SCOPED,
        case="shared", **regions(ASSOCIATE_A_NAME, ASSOCIATE_B_NAME)),
    Row("dashboard-api:forecast-vs-actual", "GET", rev("dashboard-api:forecast-vs-actual", CAMPAIGN_A), SCOPED_A),
    Row("dashboard-api:readiness", "GET", rev("dashboard-api:readiness", query="kind=no_photo"), SCOPED,
        **regions(ASSOCIATE_A_NAME, ASSOCIATE_B_NAME)),
    # The platform rules: marketing admins edit them, approvers read them.
    Row("dashboard-api:rules", "GET", rev("dashboard-api:rules"), API_READ),
    Row("dashboard-api:rules", "POST", rev("dashboard-api:rules"), API_WRITE, data={}),

    # --- the directory API ----------------------------------------------------------------------------------
    Row("directory-api:department-list", "GET", rev("directory-api:department-list"), SCOPED,
        **regions("Store-A", "Store-B")),
    Row("directory-api:associate-list", "GET", rev("directory-api:associate-list"), SCOPED,
        **regions(ASSOCIATE_A_NAME, ASSOCIATE_B_NAME)),
    Row("directory-api:associate-detail", "GET", rev("directory-api:associate-detail", ASSOCIATE_A), SCOPED_A),
    Row("directory-api:associate-detail", "DELETE", rev("directory-api:associate-detail", ASSOCIATE_A), API_DELETE),
    Row("directory-api:associate-contacts", "GET", rev("directory-api:associate-contacts", ASSOCIATE_A), SCOPED_A),
    Row("directory-api:customer-list", "GET", rev("directory-api:customer-list"), SCOPED,
        **regions(CUSTOMER_A_NAME, CUSTOMER_B_NAME)),
    Row("directory-api:customer-list", "POST", rev("directory-api:customer-list"), E(401, 401, 403, 403, 405, 403),
        data={}),
    Row("directory-api:customer-detail", "GET", rev("directory-api:customer-detail", CUSTOMER_A), SCOPED_A),
    # Directory syncs: marketing admins ("add" a sync run starts one).
    Row("directory-api:directory-sync-list", "GET", rev("directory-api:directory-sync-list"),
        E(401, 401, 403, 403, 200, 403)),
    Row("directory-api:directory-sync-list", "POST", rev("directory-api:directory-sync-list"),
        E(401, 401, 403, 403, 202, 403), data={}),

    # --- publish tasks and approvals ------------------------------------------------------------------------
    # Managers hold no view_publishtask (staff.roles), though the list is scoped for them.
    Row("task-api:publish-task-list", "GET", rev("task-api:publish-task-list"), API_READ),
    Row("task-api:moment-approvals", "GET", rev("task-api:moment-approvals", MOMENT_A), API_READ),
]
# fmt: on


# --- the admin, by rule ------------------------------------------------------------------------------------
# What a ModelAdmin never offers, whatever the role's permissions (its has_*_permission say no).
ADMIN_NEVER = {
    "staff.directorysyncrun": {"add", "change"},  # runs are started by the sync, not written by hand
    "staff.callbackevent": {"add", "change"},  # as WeCom sent them
    "campaigns.publishtask": {"add", "change", "delete"},  # made by dispatch, moved by the associate and WeCom
    "campaigns.approval": {"add", "change", "delete"},  # the audit trail
    "campaigns.statechange": {"add", "change", "delete"},
}
# Directory models whose admin is scoped (staff.selectors): another region's object is a 404, and
# the changelist shows only the role's region (the markers of region A, region B).
ADMIN_SCOPED = {
    "staff.department": ("Store-A", "Store-B"),
    "staff.associate": (ASSOCIATE_A_NAME, ASSOCIATE_B_NAME),
    "staff.customer": (CUSTOMER_A_NAME, CUSTOMER_B_NAME),
    "staff.contact": (CUSTOMER_A_NAME, CUSTOMER_B_NAME),
}
# A confirmed delete by a role that may delete: the object goes (302 to the changelist), unless
# what hangs off it keeps it. Django's admin then shows why instead (200) when a PROTECT foreign key
# holds it, and refuses (403) when the cascade would delete objects the user may not delete.
ADMIN_DELETED: dict[str, int] = {
    "staff.department": 200,  # its stores (a department's parent is PROTECT)
    "staff.associate": 200,  # their publish tasks, tracked links, clicks and channel codes
    "campaigns.tone": 200,  # the variants written in it
    "campaigns.calltoaction": 200,  # the variants that carry it
    "campaigns.campaign": 403,  # it went out: its publish tasks, approvals and history are not the marketer's to delete
}
# Models whose change form is valid empty (every field optional): the empty POST saves (302).
ADMIN_EMPTY_CHANGE_SAVES = {"campaigns.mediaasset"}  # only the title, which may be blank
# Models whose refused form answers 400 (with the form and its message) instead of Django's 200.
ADMIN_REFUSED_FORM_400 = {"campaigns.mediaasset"}  # a refused upload
LOGIN = "/admin/login/"


def _actions(role: str, label: str) -> set[str]:
    app_label, model_name = label.split(".")
    granted = set(ROLE_PERMISSIONS[GROUP_OF_ROLE[role]].get((app_label, model_name), ()))
    return granted - ADMIN_NEVER.get(label, set())


def _admin_expected(label: str, view: str, method: str) -> dict[str, int]:
    """The status of one admin page for each role, from the role's permissions."""
    expected = {ANONYMOUS: 302, ASSOCIATE: 302}  # no session: the admin's login page
    for role in STAFF_ROLES:
        actions = _actions(role, label)
        readable = bool(actions & {"view", "change"})
        outside = label in ADMIN_SCOPED and role == MANAGER_B and view not in ("changelist", "add")
        if outside:
            status = 404
        elif view in ("changelist", "history") or (view == "change" and method == "GET"):
            status = 200 if readable else 403
        elif view == "add":
            refused = 400 if method == "POST" and label in ADMIN_REFUSED_FORM_400 else 200
            status = refused if "add" in actions else 403
        elif view == "change":  # POST: the empty form comes back with its errors
            saves = 302 if label in ADMIN_EMPTY_CHANGE_SAVES else 200
            status = saves if "change" in actions else 403
        elif view == "delete" and method == "GET":
            status = 200 if "delete" in actions else 403
        else:  # delete, POST
            status = ADMIN_DELETED.get(label, 302) if "delete" in actions else 403
        expected[role] = status
    return expected


def _model_rows(model, label: str) -> list[Row]:
    app_label, model_name = label.split(".")
    prefix = f"admin:{app_label}_{model_name}"

    def url(view: str, *, with_object: bool) -> Url:
        def build(w: World, role: str) -> str:
            args = [w.admin_pk(model)] if with_object else []
            return reverse(f"{prefix}_{view}", args=args)

        return build

    def redirect(w: World, role: str) -> str:
        return f"/admin/{app_label}/{model_name}/{w.admin_pk(model)}/"

    markers = regions(*ADMIN_SCOPED[label]) if label in ADMIN_SCOPED else {}
    delete = {"post": "yes"}
    return [
        Row(f"{prefix}_changelist", "GET", url("changelist", with_object=False),
            _admin_expected(label, "changelist", "GET"), **markers),
        Row(f"{prefix}_add", "GET", url("add", with_object=False), _admin_expected(label, "add", "GET")),
        Row(f"{prefix}_add", "POST", url("add", with_object=False), _admin_expected(label, "add", "POST"), data={},
            json=False),
        Row(f"{prefix}_change", "GET", url("change", with_object=True), _admin_expected(label, "change", "GET")),
        Row(f"{prefix}_change", "POST", url("change", with_object=True), _admin_expected(label, "change", "POST"),
            data={}, json=False),
        Row(f"{prefix}_delete", "GET", url("delete", with_object=True), _admin_expected(label, "delete", "GET")),
        Row(f"{prefix}_delete", "POST", url("delete", with_object=True), _admin_expected(label, "delete", "POST"),
            data=delete, json=False),
        Row(f"{prefix}_history", "GET", url("history", with_object=True), _admin_expected(label, "history", "GET")),
        # Django's admin answers /<pk>/ with a redirect to the change page, for any staff user.
        Row(f"/admin/{app_label}/{model_name}/<path:object_id>/", "GET", redirect, everyone(302),
            location=dict.fromkeys((ANONYMOUS, ASSOCIATE), LOGIN)),
    ]  # fmt: skip


def admin_rows() -> list[Row]:
    rows = []
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label_lower):
        rows += _model_rows(model, model._meta.label_lower)
    return rows


def _content_type(model) -> Callable[[World], int]:
    return lambda w: ContentType.objects.get_for_model(model).pk


NOT_STAFF = E(302, 302, 403, 403, 403, 403)
MARKETING_ONLY = E(302, 302, 403, 403, 200, 403)
MARKETING_DONE = E(302, 302, 403, 403, 302, 403)  # a confirmed step: back to the object's page
APPROVER_ONLY = E(302, 302, 403, 403, 403, 200)
APPROVER_DONE = E(302, 302, 403, 403, 403, 302)
PLANNERS = E(302, 302, 403, 403, 200, 200)


def _admin_site_rows() -> list[Row]:
    from staff.models import Associate

    def app(label: str) -> Url:
        return lambda w, role: reverse("admin:app_list", args=[label])

    campaign = "admin:campaigns_campaign"
    moment = "admin:campaigns_moment"
    # fmt: off
    return [
        Row("admin:index", "GET", rev("admin:index"), STAFF_PAGE, location={ANONYMOUS: LOGIN, ASSOCIATE: LOGIN}),
        Row("admin:login", "GET", rev("admin:login"), E(200, 200, 302, 302, 302, 302)),
        Row("admin:login", "POST", rev("admin:login"), everyone(200), data={}, json=False),
        Row("admin:logout", "GET", rev("admin:logout"), E(302, 302, 405, 405, 405, 405)),
        Row("admin:logout", "POST", rev("admin:logout"), E(302, 302, 200, 200, 200, 200), data={}, json=False),
        Row("admin:password_change", "GET", rev("admin:password_change"), STAFF_PAGE),
        Row("admin:password_change", "POST", rev("admin:password_change"), STAFF_PAGE, data={}, json=False),
        Row("admin:password_change_done", "GET", rev("admin:password_change_done"), STAFF_PAGE),
        Row("admin:jsi18n", "GET", rev("admin:jsi18n"), STAFF_PAGE),
        Row("admin:search", "GET", rev("admin:search", query="s=associ"), STAFF_PAGE),
        # The admin's autocomplete answers from the scoped admin's queryset.
        Row("admin:autocomplete", "GET", rev("admin:autocomplete", query="app_label=staff&model_name=contact&"
            "field_name=associate&term="), STAFF_PAGE, case="associates", **regions(ASSOCIATE_A_NAME,
            ASSOCIATE_B_NAME)),
        Row("admin:autocomplete", "GET", rev("admin:autocomplete", query="app_label=staff&model_name=contact&"
            "field_name=customer&term="), STAFF_PAGE, case="customers", **regions(CUSTOMER_A_NAME, CUSTOMER_B_NAME)),
        # Our models have no public page.
        Row("admin:view_on_site", "GET", rev("admin:view_on_site", _content_type(Associate), A("associate_a.pk")),
            E(302, 302, 404, 404, 404, 404)),
        Row("admin:app_list", "GET", app("staff"), STAFF_PAGE, case="staff"),
        Row("admin:app_list", "GET", app("campaigns"), E(302, 302, 404, 404, 200, 200), case="campaigns"),
        Row("admin:app_list", "GET", app("analytics"), E(302, 302, 404, 404, 200, 200), case="analytics"),
        Row("admin:app_list", "GET", app("auth"), E(302, 302, 404, 404, 404, 404), case="auth"),
        Row("admin:app_list", "GET", app("django_celery_beat"), E(302, 302, 404, 404, 404, 404), case="beat"),
        Row("/admin/(?P<url>.*)$", "GET", path("/admin/no-such-page/"), E(302, 302, 404, 404, 404, 404)),
        # Passwords of others: superusers only.
        Row("admin:auth_user_password_change", "GET", rev("admin:auth_user_password_change",
            lambda w: w.users[MANAGER_A].pk), NOT_STAFF),
        # Starting a directory sync: marketing admins ("add" a sync run).
        Row("admin:staff_directorysyncrun_sync_now", "GET", rev("admin:staff_directorysyncrun_sync_now"),
            MARKETING_ONLY),
        Row("admin:staff_directorysyncrun_sync_now", "POST", rev("admin:staff_directorysyncrun_sync_now"),
            MARKETING_DONE, data={}, json=False),
        # The plan's workflow: a confirmation page (GET), then the step (POST).
        Row(f"{campaign}_submit_plan", "GET", rev(f"{campaign}_submit_plan", A("campaign_a.pk")), MARKETING_ONLY),
        Row(f"{campaign}_submit_plan", "POST", rev(f"{campaign}_submit_plan", A("campaign_a.pk")), MARKETING_DONE,
            data={}, json=False),
        Row(f"{campaign}_approve_plan", "GET", rev(f"{campaign}_approve_plan", A("campaign_a.pk")), APPROVER_ONLY),
        Row(f"{campaign}_approve_plan", "POST", rev(f"{campaign}_approve_plan", A("campaign_a.pk")), APPROVER_DONE,
            data={}, json=False),
        Row(f"{campaign}_reject_plan", "GET", rev(f"{campaign}_reject_plan", A("campaign_a.pk")), APPROVER_ONLY),
        Row(f"{campaign}_reject_plan", "POST", rev(f"{campaign}_reject_plan", A("campaign_a.pk")), APPROVER_DONE,
            data={}, json=False),
        Row(f"{campaign}_clone_plan", "GET", rev(f"{campaign}_clone_plan", A("campaign_a.pk")), MARKETING_ONLY),
        Row(f"{campaign}_clone_plan", "POST", rev(f"{campaign}_clone_plan", A("campaign_a.pk")), MARKETING_DONE,
            data={}, json=False),
        Row(f"{campaign}_create_channel_codes", "GET", rev(f"{campaign}_create_channel_codes", A("campaign_a.pk")),
            MARKETING_ONLY),
        Row(f"{campaign}_create_channel_codes", "POST", rev(f"{campaign}_create_channel_codes",
            A("campaign_a.pk")), MARKETING_DONE, data={}, json=False),
        Row(f"{campaign}_download_channel_codes", "GET", rev(f"{campaign}_download_channel_codes",
            A("campaign_a.pk")), PLANNERS),
        Row(f"{moment}_calendar", "GET", rev(f"{moment}_calendar"), PLANNERS),
        # The forecast panel's poll and its "Recompute now" (POST only): whoever sees the plan.
        Row(f"{campaign}_forecast_status", "GET", rev(f"{campaign}_forecast_status", A("campaign_a.pk")), PLANNERS),
        Row(f"{campaign}_forecast_recompute", "POST", rev(f"{campaign}_forecast_recompute", A("campaign_a.pk")),
            E(302, 302, 403, 403, 302, 302), data={}, json=False),
        Row(f"{campaign}_forecast_recompute", "GET", rev(f"{campaign}_forecast_recompute", A("campaign_a.pk")),
            E(302, 302, 405, 405, 405, 405)),
        Row(f"{moment}_submit", "GET", rev(f"{moment}_submit", A("draft_a.pk")), MARKETING_ONLY),
        Row(f"{moment}_submit", "POST", rev(f"{moment}_submit", A("draft_a.pk")), MARKETING_DONE, data={},
            json=False),
        Row(f"{moment}_approve", "GET", rev(f"{moment}_approve", A("draft_a.pk")), APPROVER_ONLY),
        Row(f"{moment}_approve", "POST", rev(f"{moment}_approve", A("draft_a.pk")), APPROVER_DONE, data={},
            json=False),
        Row(f"{moment}_reject", "GET", rev(f"{moment}_reject", A("draft_a.pk")), APPROVER_ONLY),
        Row(f"{moment}_reject", "POST", rev(f"{moment}_reject", A("draft_a.pk")), APPROVER_DONE, data={},
            json=False),
        Row(f"{moment}_schedule", "GET", rev(f"{moment}_schedule", A("draft_a.pk")), MARKETING_ONLY),
        Row(f"{moment}_schedule", "POST", rev(f"{moment}_schedule", A("draft_a.pk")), MARKETING_DONE, data={},
            json=False),
        Row(f"{moment}_cancel", "GET", rev(f"{moment}_cancel", A("draft_a.pk")), MARKETING_ONLY),
        Row(f"{moment}_cancel", "POST", rev(f"{moment}_cancel", A("draft_a.pk")), MARKETING_DONE, data={},
            json=False),
        Row(f"{moment}_clone", "GET", rev(f"{moment}_clone", A("draft_a.pk")), MARKETING_ONLY),
        Row(f"{moment}_clone", "POST", rev(f"{moment}_clone", A("draft_a.pk")), MARKETING_DONE, data={},
            json=False),
    ]
    # fmt: on


# --- the WeCom sandbox, by rule ------------------------------------------------------------------------------
# WeCom's HTTP methods for the endpoints the sandbox speaks (wecom-api.md); the others are POST.
SANDBOX_GET = {
    "gettoken", "get_jsapi_ticket", "ticket/get", "department/list", "user/list", "auth/getuserinfo",
    "externalcontact/get_follow_user_list", "externalcontact/list", "externalcontact/get",
    "externalcontact/get_moment_task_result",
}  # fmt: skip
MISSING_TOKEN = 41001
INVALID_SECRET = 40001


def sandbox_rows() -> list[Row]:
    """WeCom answers everyone alike: the API by its access token (HTTP 200 and an errcode, as WeCom
    does), the control plane openly. The control plane's writes are asked with GET, which every
    one of them refuses (405) before doing anything."""
    from wecom.sandbox.urls import ENDPOINTS

    rows = []
    for view in ENDPOINTS:
        route = f"wecom_sandbox:{view.wecom_path}"
        url = reverse(route)
        if view.wecom_path == "gettoken":
            rows.append(Row(route, "GET", path(f"{url}?corpid=ww-sandbox-corp&corpsecret=wrong"), everyone(200),
                            errcode=INVALID_SECRET))  # fmt: skip
        elif view.wecom_path in SANDBOX_GET:
            rows.append(Row(route, "GET", path(url), everyone(200), errcode=MISSING_TOKEN))
        else:
            rows.append(Row(route, "POST", path(url), everyone(200), data={}, errcode=MISSING_TOKEN))

    def control(name: str, status: int, *args: str) -> Row:
        return Row(f"wecom_sandbox:{name}", "GET", path(reverse(f"wecom_sandbox:{name}", args=args)), everyone(status))

    return rows + [
        control("control", 200),
        control("control-state", 200),
        control("control-seed", 405),
        control("control-reset", 405),
        control("control-follow-add", 405),
        control("control-follow-remove", 405),
        control("control-member", 405, "nobody"),
        control("control-member-publish", 405, "nobody"),
        control("control-member-post", 405, "nobody"),
        control("control-member-messages", 404, "nobody"),
        control("control-contact-way-scan", 405, "no-config"),
        control("control-customer-welcome", 200, "nobody"),  # nothing sent to them yet
        control("control-customer-like", 405, "nobody"),
        control("control-customer-comment", 405, "nobody"),
        control("control-faults", 200),
        control("control-tick", 405),
        control("control-callbacks", 200),
        control("control-jssdk-agent-config", 405),
        control("control-jssdk-share", 405),
        control("jssdk", 200),
        control("contact-way-qr", 404, "no-config"),
        control("oauth-authorize", 400),  # WeCom's page: the parameters are missing
    ]


ALL_ROWS = ROWS + admin_rows() + _admin_site_rows() + sandbox_rows()

# (route, method, case, role) -> why the app's answer is wrong. The row keeps the correct status;
# test_known_bugs_are_still_there fails once the bug is fixed, and the entry goes with the fix.
KNOWN_BUGS: dict[tuple[str, str, str, str], str] = {}


def _key(row: Row) -> tuple[str, str, str]:
    return row.route, row.method, row.case


def _known(row: Row, role: str) -> bool:
    return (*_key(row), role) in KNOWN_BUGS


# --- the tests ------------------------------------------------------------------------------------------------
def _request(client: Client, row: Row, url: str):
    method = row.method.lower()
    if row.data is None:
        return getattr(client, method)(url)
    if isinstance(row.data, str):
        return getattr(client, method)(url, row.data, content_type="text/xml")
    if row.json:
        return getattr(client, method)(url, row.data, content_type="application/json")
    return getattr(client, method)(url, row.data)  # a form (multipart), as a browser posts it


def _problems(row: Row, role: str, world: World, sessions: dict, handler: ClientHandler) -> list[str]:
    """Ask as ``role``, in a savepoint rolled back afterwards (a streamed CSV is read inside it:
    PostgreSQL's server-side cursor lives in the transaction); what differs from the row."""
    url = row.url(world, role)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.handler = handler
    if role in sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = sessions[role]
    with transaction.atomic():
        response = _request(client, row, url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    text = body.decode(errors="replace")
    expected = row.expected[role]
    if response.status_code != expected:
        return [f"{row.method} {url} as {role}: {response.status_code}, not {expected}"]
    problems = []
    if role in row.location and not response["Location"].startswith(row.location[role]):
        problems.append(f"{row.method} {url} as {role}: redirects to {response['Location']}")
    if row.errcode is not None and response.json().get("errcode") != row.errcode:
        problems.append(f"{row.method} {url} as {role}: {text[:200]}, not errcode {row.errcode}")
    problems += [f"{url} as {role} should show {m!r}" for m in row.shows.get(role, ()) if m not in text]
    problems += [f"{url} as {role} shows {m!r}: outside their scope" for m in row.hides.get(role, ()) if m in text]
    return problems


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in ALL_ROWS])
def test_permission(row: Row, world: World, sessions, handler, db):
    """Every role but the known bugs' cells (``test_known_bugs_are_still_there``), each in its own savepoint."""
    problems = []
    for role in ROLES:
        if not _known(row, role):
            problems += _problems(row, role, world, sessions, handler)
    assert not problems, "\n".join(problems)


def test_known_bugs_are_still_there(world: World, sessions, handler, db):
    """Each ``KNOWN_BUGS`` cell still answers wrongly; once one is fixed, its entry must go (none today)."""
    rows = {_key(row): row for row in ALL_ROWS}
    fixed = [
        f"{route} {method} {case} as {role}: {reason}"
        for (route, method, case, role), reason in KNOWN_BUGS.items()
        if not _problems(rows[(route, method, case)], role, world, sessions, handler)
    ]
    assert not fixed, "fixed: remove from KNOWN_BUGS:\n" + "\n".join(fixed)


def _patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """Every URL pattern of the project as (key, full route): "namespace:name", or "/<route>"."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace) if part)
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield (name or f"/{route}"), route


def test_every_url_pattern_has_a_row():
    keys = {key for key, _route in _patterns()}
    covered = {row.route for row in ALL_ROWS}
    missing = sorted(keys - covered)
    assert not missing, "URL patterns without a row in the permission matrix:\n" + "\n".join(missing)
    assert not covered - keys, f"rows for URL patterns that no longer exist: {sorted(covered - keys)}"


def test_the_rows_are_one_per_route_method_and_case():
    keys = [_key(row) for row in ALL_ROWS]
    assert len(keys) == len(set(keys)), sorted({key for key in keys if keys.count(key) > 1})
    assert all(set(row.expected) == set(ROLES) for row in ALL_ROWS)


def test_the_admin_rules_name_registered_models():
    labels = {model._meta.label_lower for model in admin.site._registry}
    for table in (ADMIN_NEVER, ADMIN_SCOPED, ADMIN_DELETED, ADMIN_EMPTY_CHANGE_SAVES):
        assert set(table) <= labels, set(table) - labels


def test_a_manager_reads_only_scoped_models_in_the_admin():
    """The admin rule expects a manager of region B to open region A's objects only where the
    admin is scoped (``ADMIN_SCOPED``): granting managers a model whose admin is not scoped would
    make the rule expect a 200 there. Scope that admin first, then add it to ``ADMIN_SCOPED``."""
    labels = {model._meta.label_lower for model in admin.site._registry}
    readable = {label for label in labels if _actions(MANAGER_B, label)}
    assert readable <= set(ADMIN_SCOPED), readable - set(ADMIN_SCOPED)
