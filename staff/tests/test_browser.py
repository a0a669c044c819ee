"""The admin in a real browser (headless Chromium)."""

import pytest

from staff.roles import MARKETING_ADMIN
from staff.tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US", "viewport": {"width": 1280, "height": 900}}


def test_a_marketing_admin_logs_in_and_opens_the_associate_list(page, live_server, directory):
    user = factories.user("lin", role=MARKETING_ADMIN)
    user.set_password("a-long-test-password")
    user.save()

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "lin")
    page.fill("input[name=password]", "a-long-test-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/staff/associate/")
    body = page.locator("#result_list")
    assert body.get_by_text(directory.east_associate.userid).is_visible()
    assert body.get_by_text(directory.south_associate.userid).is_visible()
    page.screenshot(path="test-results/admin-associates.png", full_page=True)


def test_a_wrong_password_is_refused_with_a_message(page, live_server, db):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "/admin/login/" in page.url
    assert page.locator(".errornote, [class*=error]").first.is_visible()
