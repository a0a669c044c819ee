"""Deploy-level security (issue #7, DESIGN §7): production settings refuse what they must (no secret
defaults, no sandbox) and pass `check --deploy`; a strict Content Security Policy on our own pages;
login lockout by username and address; no default accounts."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Moment, PublishTask
from campaigns.tests import factories as cf
from staff.models import Department, User
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-test-password-7"
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "moments.example.com",
    "WECOM_CORP_ID": "ww-corp",
    "WECOM_SECRET": "app-secret",
    "WECOM_AGENT_ID": "1000005",
    # required too; nothing connects to them at start-up or in check --deploy
    "DATABASE_URL": "postgres://moments@127.0.0.1:5432/moments",
    "CELERY_BROKER_URL": "memory://",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "MOMENTS_PUBLIC_URL": "https://moments.example.com",
}


# --- production settings, in fresh processes ------------------------------------------------------
INHERITED_NOT = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "WECOM_SANDBOX", "WECOM_JSSDK_URLS",
                 "WECOM_ENCODING_AES_KEY", "WECOM_CALLBACK_TOKEN", "LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES",
                 "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE", *PRODUCTION}  # fmt: skip


def _run(tmp_path, args, **environment):
    """Python in a fresh process under production settings, with only the given environment
    (the test run's own database, secrets, sandbox flag and test-only switches are left out)."""
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_NOT}
    env.update(DJANGO_SETTINGS_MODULE="moments_admin.settings.production", MOMENTS_VAR_DIR=str(tmp_path))
    env.update({key: value for key, value in environment.items() if value is not None})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# Imports the production settings module once per environment, in one process (a fresh import each
# time), and tells what came of it: the refusal, or the values asked for.
LOAD_EACH = """
import importlib, json, os, sys
from django.core.exceptions import ImproperlyConfigured
start = dict(os.environ)
answers = {}
for name, change in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update({**start, **{key: value for key, value in change.items() if value is not None}})
    for key in [key for key, value in change.items() if value is None]:
        os.environ.pop(key, None)
    for module in [module for module in sys.modules if module.startswith("moments_admin.settings")]:
        del sys.modules[module]
    try:
        s = importlib.import_module("moments_admin.settings.production")
    except ImproperlyConfigured as error:
        answers[name] = {"refused": str(error)}
        continue
    answers[name] = {"script-src": s.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"],
                     "limit": s.AXES_FAILURE_LIMIT, "cool-off": s.AXES_COOLOFF_TIME.total_seconds()}
print(json.dumps(answers))
"""
REFUSALS = {
    "no-key": ({"SECRET_KEY": None}, "SECRET_KEY is required"),
    "short-key": ({"SECRET_KEY": "too-short"}, "SECRET_KEY must be a random string of at least 50 characters"),
    "repetitive-key": ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY must be a random string of at least 50 characters"),
    "no-hosts": ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is required"),
    "no-corp": ({"WECOM_CORP_ID": None}, "WECOM_CORP_ID is required"),
    "no-wecom-secret": ({"WECOM_SECRET": None}, "WECOM_SECRET is required"),
    "no-agent-id": ({"WECOM_AGENT_ID": None}, "WECOM_AGENT_ID is required"),
    "aes-key-without-token": ({"WECOM_ENCODING_AES_KEY": "k" * 43}, "WECOM_CALLBACK_TOKEN is required with"),
    "sandbox": ({"WECOM_SANDBOX": "1"}, "sandbox cannot be enabled in production"),
    "sandbox-on": ({"WECOM_SANDBOX": "on"}, "sandbox cannot be enabled in production"),
    "lockout-limit-0": ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT must be at least 1"),
}
LOADS = {
    "defaults": {},
    "lockout-from-env": {"LOGIN_FAILURE_LIMIT": "3", "LOGIN_LOCKOUT_MINUTES": "30"},
    "own-jssdk": {"WECOM_JSSDK_URLS": "https://cdn.example.com:8443/sdk/a.js"},
}


@pytest.fixture(scope="module")
def production_loads(tmp_path_factory):
    cases = {name: change for name, (change, _message) in REFUSALS.items()} | LOADS
    loaded = _run(tmp_path_factory.mktemp("var"), ["-c", LOAD_EACH, json.dumps(cases)], **PRODUCTION)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", list(REFUSALS))
def test_it_refuses_to_start_production_without_its_secrets_or_with_the_sandbox(production_loads, case):
    assert REFUSALS[case][1] in production_loads[case].get("refused", "")


def test_the_lockout_limit_and_cool_off_come_from_the_environment(production_loads):
    assert (production_loads["defaults"]["limit"], production_loads["defaults"]["cool-off"]) == (5, 900)
    assert (production_loads["lockout-from-env"]["limit"], production_loads["lockout-from-env"]["cool-off"]) == (
        3,
        1800,
    )


def test_the_associates_page_may_run_wecoms_js_sdk_and_no_other_foreign_script(production_loads):
    assert production_loads["defaults"]["script-src"] == [
        "'self'", "https://open.work.weixin.qq.com", "https://res.wx.qq.com",
    ]  # fmt: skip
    assert production_loads["own-jssdk"]["script-src"] == ["'self'", "https://cdn.example.com:8443"]


def test_check_deploy_passes_with_no_warning_under_production_settings(tmp_path):
    checked = _run(tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues (0 silenced)." in checked.stdout


def test_production_answers_with_hsts_a_referrer_policy_a_strict_csp_and_secure_cookies(tmp_path):
    """Through the whole middleware stack under production settings: plain HTTP is redirected to HTTPS,
    an HTTPS answer carries HSTS, the referrer policy and the CSP, the cookies are Secure; and the
    sandbox (the WeCom stand-in, and its control plane that acts as any member or customer) is neither
    installed nor routed."""
    show = """
import django, json
django.setup()
from django.apps import apps
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="moments.example.com")
plain = client.get("/api/v1/schema/")
tls = client.get("/api/v1/schema/", secure=True)
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "hsts": tls.get("Strict-Transport-Security"), "referrer": tls.get("Referrer-Policy"),
    "csp": tls.get("Content-Security-Policy"), "frame": tls.get("X-Frame-Options"),
    "nosniff": tls.get("X-Content-Type-Options"),
    "cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.LANGUAGE_COOKIE_SECURE,
                settings.SESSION_COOKIE_HTTPONLY],
    "sandbox": [apps.is_installed("wecom.sandbox"), client.get("/wecom-sandbox/control/", secure=True).status_code,
                settings.WECOM_SANDBOX, settings.WECOM_ENCODING_AES_KEY, settings.WECOM_CALLBACK_TOKEN],
    "debug": settings.DEBUG,
}))
"""
    started = _run(tmp_path, ["-c", show], **PRODUCTION)
    assert started.returncode == 0, started.stderr
    answer = json.loads(started.stdout.splitlines()[-1])
    assert answer["plain"] == [301, "https://moments.example.com/api/v1/schema/"]
    assert answer["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert answer["referrer"] == "same-origin"
    assert answer["frame"] == "DENY" and answer["nosniff"] == "nosniff"
    assert answer["cookies"] == [True, True, True, True]
    policy = _directives(answer["csp"])
    assert policy["script-src"] == ["'self'", "https://open.work.weixin.qq.com", "https://res.wx.qq.com"]
    assert policy["style-src"] == ["'self'"] and policy["default-src"] == ["'self'"]
    assert answer["sandbox"] == [False, 404, False, "", ""] and answer["debug"] is False


# --- Content Security Policy on our pages ------------------------------------------------------
def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_strict(response):
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive], directive
    # And the page needs no more: no inline script or style (data blocks for scripts are not run).
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all(" src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts
    assert "<style" not in html and not re.search(r"<[^>]*\s(style|on[a-z]+)=", html)
    return policy


@pytest.fixture
def lily_task(db, settings):
    """A moment due now for Lily's store, dispatched: her publish task."""
    settings.MOMENTS_PUBLIC_URL = "http://testserver"
    cf.ensure_tones()
    factories.ensure_roles()
    store = factories.department("上海店")
    lily = factories.associate("Lily", departments=[store])
    lily.userid = "lily"
    lily.save(update_fields=["userid"])
    writer, approver = factories.user("writer", role=MARKETING_ADMIN), factories.user("checker", role=APPROVER)
    now = timezone.now()
    campaign = cf.campaign(writer, days_ahead=0, length=2)
    moment = Moment.objects.create(campaign=campaign, title="情人节", publish_at=now + dt.timedelta(minutes=5),
                                   expires_at=now + dt.timedelta(hours=12))  # fmt: skip
    variant = cf.variant(moment, departments=[store], hashtags=["情人节"])
    variant.personal_touch = variant.PersonalTouch.EDIT
    variant.save(update_fields=["personal_touch"])
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    Moment.objects.filter(pk=moment.pk).update(publish_at=now - dt.timedelta(seconds=1))
    dispatch.dispatch_due(enqueue=False)
    return PublishTask.objects.get(associate=lily)


def test_the_associates_pages_carry_a_strict_policy_and_need_no_more(client, lily_task):
    publish = client.get(dispatch.publish_link(lily_task))
    assert publish.status_code == 200 and b'id="publish"' in publish.content
    _assert_strict(publish)
    _assert_strict(client.get(reverse("campaigns:my-tasks", args=[dispatch.my_tasks_token(lily_task.associate)])))
    missing = client.get("/go/not-a-code/")
    assert missing.status_code == 404
    _assert_strict(missing)


def test_the_dashboards_and_their_login_carry_a_strict_policy(client, lily_task):
    _assert_strict(client.get(reverse("dashboards:login")))
    client.force_login(User.objects.get(username="writer"))
    index = client.get(reverse("dashboards:index"))
    assert index.status_code == 200
    _assert_strict(index)
    campaign = client.get(reverse("dashboards:campaign", args=[lily_task.moment.campaign.public_id]))
    assert campaign.status_code == 200 and b"data-chart" in campaign.content
    _assert_strict(campaign)


def test_only_the_admin_gets_inline_scripts_and_eval(client, marketing_admin):
    """django-unfold writes inline scripts and styles and runs Alpine.js: under /admin/ only."""
    client.force_login(marketing_admin)
    policy = _directives(client.get(reverse("admin:index"))["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "'unsafe-inline'", "'unsafe-eval'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]


# --- login lockout (django-axes) -----------------------------------------------------------------
LOGIN_PAGES = ["admin:login", "dashboards:login"]


@pytest.fixture
def staff_user(db):
    user = factories.user("lin", role=MARKETING_ADMIN)
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(login_page: str, username: str, password: str, address: str = "203.0.113.7", **headers):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(reverse(login_page), {"username": username, "password": password}, REMOTE_ADDR=address,
                           **headers)  # fmt: skip
    return response, client


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(login_page: str, username: str, times: int, **kwargs):
    for _ in range(times):
        response, _client = _login(login_page, username, "wrong-password", **kwargs)
    return response


@pytest.mark.parametrize("login_page", LOGIN_PAGES)
def test_it_locks_a_username_from_an_address_after_five_wrong_passwords(staff_user, login_page):
    assert _fail(login_page, "lin", 4).status_code == 200  # the form again, with its message
    locked = _fail(login_page, "lin", 1)
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content and b"try again in 15 minutes" in locked.content
    _assert_strict(locked)

    response, client = _login(login_page, "lin", PASSWORD)  # even the right password, from there
    assert response.status_code == 429 and not _logged_in(client)


@pytest.mark.parametrize("login_page", LOGIN_PAGES)
def test_another_address_or_another_username_is_not_locked(staff_user, login_page):
    other = factories.user("mei", role=MARKETING_ADMIN)
    other.set_password(PASSWORD)
    other.save()
    _fail(login_page, "lin", 5)

    response, client = _login(login_page, "lin", PASSWORD, address="198.51.100.20")
    assert response.status_code == 302 and _logged_in(client)
    response, client = _login(login_page, "mei", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_failures_count_across_both_login_pages(staff_user):
    _fail("admin:login", "lin", 3)
    assert _fail("dashboards:login", "lin", 2).status_code == 429
    assert _login("admin:login", "lin", PASSWORD)[0].status_code == 429


def test_the_lock_ends_after_the_cool_off(staff_user, settings):
    settings.AXES_COOLOFF_TIME = dt.timedelta(seconds=1)
    _fail("dashboards:login", "lin", 5)
    assert _login("dashboards:login", "lin", PASSWORD)[0].status_code == 429
    time.sleep(1.1)
    response, client = _login("dashboards:login", "lin", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_an_administrator_can_lift_a_lock_early(staff_user):
    _fail("admin:login", "lin", 5)
    call_command("axes_reset_username", "lin", stdout=io.StringIO())
    assert not AccessAttempt.objects.exists()
    response, client = _login("admin:login", "lin", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_a_successful_login_starts_the_count_again(staff_user):
    _fail("dashboards:login", "lin", 4)
    assert _login("dashboards:login", "lin", PASSWORD)[0].status_code == 302
    assert _fail("dashboards:login", "lin", 4).status_code == 200


def test_a_forged_forwarded_for_header_buys_no_fresh_attempts(staff_user, settings):
    """Without a trusted proxy the header is ignored; behind one, only the address it appended counts."""
    for n in range(5):
        _fail("dashboards:login", "lin", 1, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert _login("dashboards:login", "lin", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99")[0].status_code == 429

    settings.TRUST_X_FORWARDED_FOR = True
    proxy = "10.0.0.2"
    for n in range(5):  # the client forges a different first entry each time; the proxy appends the truth
        _fail("dashboards:login", "lin", 1, address=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.5")
    behind = _login("dashboards:login", "lin", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert behind[0].status_code == 429
    elsewhere = _login("dashboards:login", "lin", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.6")
    assert elsewhere[0].status_code == 302  # another client behind the same proxy


# --- no default accounts -------------------------------------------------------------------------
def test_the_migrations_create_no_account(db):
    assert not User.objects.exists()


def test_seed_demo_is_refused_without_the_sandbox_and_changes_nothing(directory, settings, tmp_path):
    settings.WECOM_SANDBOX = False
    settings.VAR_DIR = tmp_path
    before = Department.objects.count()
    with pytest.raises(CommandError, match="refused without it"):
        call_command("seed_demo", "--flush", "--no-progress")
    assert Department.objects.count() == before and not User.objects.exists()
    assert not (tmp_path / "demo-logins.txt").exists()


def test_seed_demo_campaign_is_refused_without_the_sandbox_and_deletes_nothing(directory, settings):
    from campaigns.models import Campaign

    settings.WECOM_SANDBOX = False
    writer = User.objects.create_user("writer")
    Campaign.objects.create(name="Real", starts_on="2027-02-10", ends_on="2027-02-14", owner=writer)
    for flags in (["--flush-only"], ["--flush"], []):
        with pytest.raises(CommandError, match="refused without the sandbox"):
            call_command("seed_demo_campaign", *flags)
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Real"]


def test_seed_demo_is_refused_under_production_settings(tmp_path):
    """Before it touches the database (this one has no tables), --flush included."""
    refused = _run(tmp_path, ["manage.py", "seed_demo", "--flush", "--no-progress"],
                   **{**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})  # fmt: skip
    assert refused.returncode != 0
    assert "seed_demo builds the demo brand in the WeCom sandbox and is refused" in refused.stderr


# --- the policy in a real browser (headless Chromium) -------------------------------------------------
# Chromium fires securitypolicyviolation for every blocked script, style, eval or load, and logs it to
# the console; both are collected. The init script runs before the page's own (Playwright injects it).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " " + (e.blockedURI || "inline") + " at " + location.pathname);
});
"""


def _watch(page) -> list[str]:
    seen: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return seen


def _violations(page, console: list[str]) -> list[str]:
    return console + page.evaluate("window.__csp || []")


def _watcher_sees_an_inline_style(page, console: list[str]) -> bool:
    """The control: an inline <style> added now must be reported, or the watch proves nothing."""
    page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'b {}'; document.head.append(s); }"
    )
    page.wait_for_timeout(100)
    found = _violations(page, console)
    console.clear()
    page.evaluate("window.__csp = []")
    return any("style-src" in line for line in found)


@pytest.mark.browser
def test_the_associates_page_in_wecom_runs_under_the_strict_policy(browser, live_server, sandbox_corp, lily_task,
                                                                   wecom_client, settings):  # fmt: skip
    """Inside the WeCom client (the sandbox plays it): WeCom's OAuth, the JS-SDK (wx.agentConfig, then
    shareToExternalMoments), typing a personal touch, publishing: nothing is blocked."""
    settings.WECOM_BASE_URL = wecom_client.base_url
    settings.MOMENTS_PUBLIC_URL = live_server.url
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh wxwork-sandbox-user/lily",
    )  # fmt: skip
    page = context.new_page()
    console = _watch(page)
    page.goto(dispatch.publish_link(lily_task))
    page.wait_for_selector("form[data-wecom=ready]")  # the JS-SDK loaded and the signature was accepted
    page.fill("#id_copy", "店里刚到的玫瑰礼盒")
    assert "玫瑰礼盒" in page.locator("[data-preview-copy]").inner_text()  # preview.js follows the typing
    assert page.locator(".note.footer").evaluate("e => getComputedStyle(e).textAlign") == "center"  # phone.css
    page.click("#publish")
    page.wait_for_selector("[data-state=publish_requested]")
    assert _violations(page, console) == []
    page.click("a[href*='/p/today/']")
    page.wait_for_selector("[data-task], .done")
    page.goto(f"{live_server.url}/go/not-a-code")
    page.wait_for_selector("[data-missing]")
    assert _violations(page, console) == []
    assert _watcher_sees_an_inline_style(page, console)
    context.close()
    lily_task.refresh_from_db()
    assert lily_task.via == PublishTask.Via.JSSDK


@pytest.mark.browser
def test_the_dashboards_logins_lockout_and_admin_run_under_their_policies(page, live_server, lily_task, settings):
    """The dashboards (ECharts draws its SVG and its tooltip from our static files), both login pages,
    the lockout page, and the admin under its own allowances: nothing is blocked."""
    writer = User.objects.get(username="writer")
    writer.set_password(PASSWORD)
    writer.save()
    console = _watch(page)

    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[data-testid=login] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    page.goto(f"{live_server.url}{reverse('dashboards:campaign', args=[lily_task.moment.campaign.public_id])}")
    for name in ("days", "funnel"):  # hovering shows a tooltip (ECharts', drawn in the SVG)
        chart = page.locator(f"[data-chart={name}][data-ready='1'] svg")
        chart.wait_for()
        box = chart.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 40)
        page.wait_for_timeout(300)
    assert _violations(page, console) == []

    page.context.clear_cookies()
    for _ in range(5):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("input[name=username]", "writer")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=locked-out]")
    assert _violations(page, console) == []
    AccessAttempt.objects.all().delete()

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{lily_task.moment.campaign.pk}/change/")
    page.wait_for_selector("input[name=name]")
    page.goto(f"{live_server.url}/admin/campaigns/moment/calendar/")
    assert _violations(page, console) == []

    page.goto(f"{live_server.url}/wecom-sandbox/control/")
    assert _violations(page, console) == []
    page.goto(f"{live_server.url}/dashboard/")
    assert _watcher_sees_an_inline_style(page, console)
