"""The input guard (common.input_guard, issue #18): a NUL byte or another control character in a
path, a query parameter, a form field or a JSON string under /api/ is a 400 with a message,
before any view (and so before the database: PostgreSQL refuses NUL in text, a 500 before)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from common.input_guard import has_control_character
from staff.roles import MARKETING_ADMIN
from staff.tests import factories

FINDINGS = [
    "/dashboard/customers/?q=a%00b",
    "/dashboard/associates/a%00b/",
    "/dashboard/customers/a%00b/",
    "/api/v1/moments/?state=a%00b",
    "/api/v1/analytics/associates/a%00b/reach/",
]


@pytest.fixture
def admin_browser(db):
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(factories.user("marketing", role=MARKETING_ADMIN))
    return browser


@pytest.mark.parametrize("url", FINDINGS)
def test_it_answers_400_to_a_nul_byte_in_a_path_or_a_query(admin_browser, url):
    answer = admin_browser.get(url)
    assert answer.status_code == 400
    if url.startswith("/api/"):
        assert "control character" in answer.json()["detail"]
    else:
        assert answer["Content-Type"].startswith("text/plain") and b"control character" in answer.content


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
def test_it_refuses_every_c0_control_character_and_del(admin_browser, character):
    assert admin_browser.get("/dashboard/customers/", {"q": f"a{character}b"}).status_code == 400
    assert admin_browser.get("/dashboard/customers/", {f"a{character}": "b"}).status_code == 400  # a key too


def test_it_lets_tabs_new_lines_and_any_other_text_through(admin_browser):
    for text in ("a\tb", "line\r\nnext", "情人节 🌹", "a\u00a0b"):
        assert admin_browser.get("/dashboard/customers/", {"q": text}).status_code == 200
        assert not has_control_character(text)


def test_it_refuses_a_form_field_before_the_view_and_says_it_in_chinese(db):
    browser = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    answer = browser.post("/dashboard/login/", {"username": "a\x00b", "password": "x"})
    assert answer.status_code == 400 and "控制字符" in answer.content.decode()


def test_it_refuses_a_nul_in_a_json_string_under_the_api(admin_browser):
    for body in ({"name": "a\x00b"}, {"a\x00": "b"}, {"tags": [{"name": ["x", "a\x00b"]}]}):
        answer = admin_browser.post("/api/v1/campaigns/", json.dumps(body), content_type="application/json")
        assert answer.status_code == 400, body
        assert "control character" in answer.json()["detail"]
    # Escaped, a backslash and "u0000" are ordinary text: the view decides.
    answer = admin_browser.post(
        "/api/v1/campaigns/", json.dumps({"name": "a\\u0000b"}), content_type="application/json"
    )
    assert answer.status_code != 400 or "control character" not in answer.content.decode()


def test_it_drops_a_cookie_with_a_nul_byte_instead_of_failing(db):
    """A NUL in the session cookie (quoted, ``"…\\000…"``) was a 500 on PostgreSQL on every page."""
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.cookies["sessionid"] = "abcdefgh\x00ijkl"
    browser.cookies["csrftoken"] = "a\x01b"
    assert browser.get("/dashboard/login/").status_code == 200


def test_it_answers_json_to_a_client_that_asks_for_json_or_a_pages_script(db):
    for headers in ({"HTTP_ACCEPT": "application/json"}, {"HTTP_SEC_FETCH_MODE": "cors"}):
        answer = Client().post("/p/a%00b/share", **headers)
        assert answer.status_code == 400 and answer.json()["detail"]
    navigated = Client().get("/p/a%00b/", HTTP_SEC_FETCH_MODE="navigate")
    assert navigated.status_code == 400 and navigated["Content-Type"].startswith("text/plain")


def test_it_leaves_uploaded_file_contents_alone(admin_browser):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", content_type="image/png")
    answer = admin_browser.post("/api/v1/media/", {"file": upload})
    assert "control character" not in answer.content.decode()


def test_the_wecom_callback_and_the_sandbox_are_not_refused(db, client):
    # An encrypted XML body is not a form: the guard does not read it (the view answers as before).
    callback = client.post("/wecom/callback/?msg_signature=x&timestamp=1&nonce=n", b"<xml>\x00</xml>",
                           content_type="text/xml")  # fmt: skip
    assert "control character" not in callback.content.decode()
    state = client.get("/wecom-sandbox/control/state")
    assert state.status_code == 200


def test_it_answers_400_over_real_http(live_server):
    """Through a real server's WSGI decoding (%00 in the path, the query and a form body)."""
    import httpx

    for url in ("/dashboard/customers/a%00b/", "/api/v1/moments/?state=a%00b", "/go/a%7Fb"):
        assert httpx.get(live_server.url + url, timeout=10).status_code == 400, url
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}
    posted = httpx.post(live_server.url + "/p/token/", content=b"copy=hi%00there", headers=form, timeout=10)
    assert posted.status_code == 400 and "control character" in posted.text
