"""WeCom's web OAuth: the authorize page (played by the sandbox for a browser that plays
the WeCom client) and ``auth/getuserinfo`` through the real client over real HTTP."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone

from wecom import oauth
from wecom.errors import PermanentError
from wecom.sandbox import models as sm

IN_WECOM = "Mozilla/5.0 (iPhone) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 wxwork-sandbox-user/"


@pytest.fixture
def wecom(wecom_client):
    return wecom_client


@pytest.fixture
def authorize(live_server, settings):
    """Open the authorize page as ``userid``'s WeCom client; the redirect it answers."""
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"  # the page sends members back only there

    def open_as(userid: str | None, *, redirect_uri="https://moments.example.com/p/abc/?x=1", state="s1",
                appid=None, user_agent=None) -> httpx.Response:  # fmt: skip
        url = oauth.authorize_url(authorize_endpoint=live_server.url + "/wecom-sandbox/connect/oauth2/authorize",
                                  corp_id=appid or settings.WECOM_CORP_ID, agent_id=settings.WECOM_AGENT_ID,
                                  redirect_uri=redirect_uri, state=state)  # fmt: skip
        agent = user_agent if user_agent is not None else IN_WECOM + (userid or "")
        return httpx.get(url, headers={"User-Agent": agent}, follow_redirects=False)

    return open_as


def _code(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def test_the_member_comes_back_with_a_code_that_names_them_once(sandbox_corp, authorize, wecom):
    answer = authorize("lily")
    back = urlsplit(answer.headers["location"])
    assert (back.netloc, back.path) == ("moments.example.com", "/p/abc/")
    assert parse_qs(back.query)["x"] == ["1"] and parse_qs(back.query)["state"] == ["s1"]  # its own query kept
    code = _code(answer)
    assert wecom.user_from_code(code) == {"userid": "lily", "openid": "", "external_userid": ""}
    with pytest.raises(PermanentError) as used:
        wecom.user_from_code(code)  # a code is good once
    assert used.value.errcode == 40029 and "once" in used.value.reason


def test_an_old_or_unknown_code_is_40029(sandbox_corp, authorize, wecom):
    code = _code(authorize("ken"))
    sm.OAuthCode.objects.filter(code=code).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for stale in (code, "never-issued"):
        with pytest.raises(PermanentError) as refused:
            wecom.user_from_code(stale)
        assert refused.value.errcode == 40029


@pytest.mark.parametrize("case,status,words", [
    ("outside the client", 403, "open this link in the WeCom client"),
    ("not a member", 403, "not an active member"),
    ("a member who left", 403, "not an active member"),
    ("another corp", 400, "appid"),
    ("a relative redirect", 400, "redirect_uri"),
])  # fmt: skip
def test_the_authorize_page_says_what_is_wrong(sandbox_corp, authorize, case, status, words):
    if case == "a member who left":
        sm.Member.objects.filter(userid="ken").update(status=sm.Member.Status.LEFT)
    answer = {
        "outside the client": lambda: authorize("lily", user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
        "not a member": lambda: authorize("stranger"),
        "a member who left": lambda: authorize("ken"),
        "another corp": lambda: authorize("lily", appid="ww-another-corp"),
        "a relative redirect": lambda: authorize("lily", redirect_uri="/p/abc/"),
    }[case]()
    assert answer.status_code == status and words in answer.text
    assert not sm.OAuthCode.objects.exists()


def test_the_state_is_letters_and_digits():
    with pytest.raises(ValueError):
        oauth.authorize_url(authorize_endpoint="https://open.weixin.qq.com/connect/oauth2/authorize",
                            corp_id="ww1", agent_id=1, redirect_uri="https://x.example/", state="a&b")  # fmt: skip
    url = oauth.authorize_url(
        authorize_endpoint="https://open.weixin.qq.com/connect/oauth2/authorize",
        corp_id="ww1",
        agent_id=1000002,
        redirect_uri="https://x.example/p/1/",
        state="s",
    )
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1&redirect_uri=https%3A%2F%2F"
        "x.example%2Fp%2F1%2F&response_type=code&scope=snsapi_base&state=s&agentid=1000002#wechat_redirect"
    )
