"""The sandbox's control plane answers this machine's scripts and tests only (issue #18): JSON
bodies (a cross-site form or a text/plain fetch cannot make one without CORS, which the sandbox
never grants) and same-origin requests. Its OAuth stand-in sends the member back only to this
app (under MOMENTS_PUBLIC_URL, or the address it was reached at): it is no open redirect."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from wecom.sandbox import models as sm

CONTROL = "/wecom-sandbox/control/"
IN_WECOM = "Mozilla/5.0 (iPhone) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 wxwork-sandbox-user/lily"


def test_it_refuses_a_text_plain_post_with_415_and_changes_nothing(client, sandbox_corp):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        answer = client.post(CONTROL + "reset", data="{}", content_type=content_type)
        assert answer.status_code == 415 and "application/json" in answer.json()["error"]
    assert sm.Member.objects.exists()
    assert (
        client.post(CONTROL + "members/lily/moments", data='{"text": "hi"}', content_type="text/plain").status_code
        == 415
    )
    assert not sm.Moment.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "http://testserver:3000"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
    ],
)
def test_it_refuses_a_cross_origin_request_with_403(client, sandbox_corp, headers):
    answer = client.post(CONTROL + "reset", data="{}", content_type="application/json", **headers)
    assert answer.status_code == 403 and "cross-origin" in answer.json()["error"]
    assert sm.Member.objects.exists()
    assert client.get(CONTROL + "state", **headers).status_code == 403


def test_it_answers_its_own_origin_and_scripts_without_one(client, sandbox_corp):
    same = {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}
    assert client.get(CONTROL + "state", **same).json()["members"] == sm.Member.objects.count() > 0
    posted = client.post(CONTROL + "members/lily/moments", data=json.dumps({"text": "hi"}),
                         content_type="application/json; charset=utf-8", **same)  # fmt: skip
    assert posted.status_code == 200, posted.content
    assert client.post(CONTROL + "reset", data="{}", content_type="application/json").json() == {"reset": True}
    assert client.delete(CONTROL + "faults").json() == {"deleted": 0}  # no body: nothing to read as JSON


def _authorize(browser: Client, redirect_uri: str):
    query = {"appid": "ww-sandbox-corp", "redirect_uri": redirect_uri, "response_type": "code",
             "scope": "snsapi_base", "state": "s1", "agentid": "1000002"}  # fmt: skip
    return browser.get(f"/wecom-sandbox/connect/oauth2/authorize?{urlencode(query)}")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/p/abc/",
        "https://moments.example.com.evil.example/p/abc/",
        "https://moments.example.com@evil.example/p/abc/",
        "http://moments.example.com/p/abc/",  # the scheme differs
        "https://moments.example.com:8443/p/abc/",
        "https://moments.example.com/other/p/abc/",  # outside the public URL's path
        "javascript:alert(1)//moments.example.com/",
    ],
)
def test_the_oauth_page_redirects_only_to_this_app(sandbox_corp, settings, redirect_uri):
    settings.WECOM_CORP_ID = "ww-sandbox-corp"
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com/shop"
    answer = _authorize(Client(HTTP_USER_AGENT=IN_WECOM), redirect_uri)
    assert answer.status_code == 400 and "redirect_uri" in answer.content.decode()
    assert not sm.OAuthCode.objects.exists()


def test_the_oauth_page_redirects_under_the_public_url_or_to_its_own_address(sandbox_corp, settings):
    settings.WECOM_CORP_ID = "ww-sandbox-corp"
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com/shop/"
    browser = Client(HTTP_USER_AGENT=IN_WECOM)
    for redirect_uri in ("https://moments.example.com/shop/p/abc/?x=1", "https://MOMENTS.example.com:443/shop/p/",
                         "http://testserver/p/abc/"):  # fmt: skip
        answer = _authorize(browser, redirect_uri)
        assert answer.status_code == 302 and answer["Location"].startswith(redirect_uri), redirect_uri
