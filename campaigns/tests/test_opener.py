"""The link and the person who opened it: inside the WeCom client, WeCom's web OAuth
(played by the sandbox, over real HTTP) names the opener, and a link sent to another
associate is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from campaigns import dispatch
from campaigns.models import PublishTask
from campaigns.opener import OPENER_COOKIE
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1"


def in_wecom_as(userid: str) -> Client:
    """A browser playing the WeCom client, signed in as ``userid``."""
    return Client(HTTP_USER_AGENT=f"{PHONE} wxwork-sandbox-user/{userid}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def links(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    dispatch.dispatch_due(enqueue=False)
    for task in PublishTask.objects.all():
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    return {task.associate.userid: (task, "/p/" + dispatch.publish_link_token(task) + "/")
            for task in PublishTask.objects.select_related("associate")}  # fmt: skip


def _open(browser: Client, url: str):
    """GET, following the OAuth round trip the way the WeCom client would."""
    return browser.get(url, follow=True)


def test_inside_wecom_the_page_asks_wecom_who_opened_it_once(links, settings):
    task, url = links["lily"]
    lily = in_wecom_as("lily")
    first = lily.get(url)
    assert first.status_code == 302
    asked = urlsplit(first["Location"])
    query = parse_qs(asked.query)
    assert asked.path == settings.WECOM_OAUTH_AUTHORIZE_URL and first["Location"].endswith("#wechat_redirect")
    assert query["appid"] == [settings.WECOM_CORP_ID] and query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == ["http://testserver" + url] and query["agentid"] == [str(settings.WECOM_AGENT_ID)]

    page = _open(lily, url)
    assert page.status_code == 200 and "moment-preview" in page.content.decode()
    assert [hop for hop, _ in page.redirect_chain][-1] == url  # back on the clean URL, without the code
    assert sm.OAuthCode.objects.get().used_at is not None
    task.refresh_from_db()
    assert task.state == PublishTask.State.OPENED
    assert lily.get(url).status_code == 200  # known now: no second round trip
    assert sm.OAuthCode.objects.count() == 1


def test_a_link_for_another_associate_is_refused(links):
    ken_task, ken_url = links["ken"]
    lily = in_wecom_as("lily")
    _open(lily, links["lily"][1])
    page = _open(lily, ken_url)  # Ken's link, forwarded to Lily
    assert page.status_code == 403 and "for another associate" in page.content.decode()
    assert ken_task.associate.name in page.content.decode()
    ken_task.refresh_from_db()
    assert ken_task.state != PublishTask.State.OPENED  # Ken's funnel did not move
    assert lily.post(ken_url).status_code == 403  # (this client does not check CSRF)
    share = lily.post(ken_url + "share")
    assert share.status_code == 403 and share.json() == {"error": "other_associate"}
    assert not sm.MomentJob.objects.exists()  # nothing was created for Ken


def test_a_code_that_was_not_asked_for_here_is_refused(links, settings):
    """A code planted in someone's link (state missing or not ours) is not taken."""
    _, url = links["lily"]
    lily = in_wecom_as("lily")
    page = lily.get(url + "?code=planted&state=abc")
    assert page.status_code == 403 and "could not confirm who you are" in page.content.decode()
    asked = lily.get(url)  # the state cookie is set now, but the code is not WeCom's
    state = parse_qs(urlsplit(asked["Location"]).query)["state"][0]
    page = lily.get(f"{url}?code=made-up&state={state}")
    assert page.status_code == 403 and OPENER_COOKIE not in page.cookies


def test_a_post_before_wecom_said_who_is_refused(links):
    _, url = links["lily"]
    lily = in_wecom_as("lily")
    share = lily.post(url + "share")
    assert share.status_code == 403 and share.json() == {"error": "unidentified"}
    assert lily.post(url).status_code == 403


def test_not_right_asks_wecom_again(links):
    """A phone handed over to a colleague: ``?who=again`` forgets the opener and asks WeCom."""
    _, ken_url = links["ken"]
    browser = in_wecom_as("lily")
    _open(browser, ken_url)
    browser.defaults["HTTP_USER_AGENT"] = f"{PHONE} wxwork-sandbox-user/ken"
    assert _open(browser, ken_url).status_code == 403  # still known as Lily
    page = _open(browser, ken_url + "?who=again")
    assert page.status_code == 200 and "moment-preview" in page.content.decode()


def test_my_tasks_today_is_bound_the_same_way(links):
    ken_task, _ = links["ken"]
    url = "/p/today/" + dispatch.my_tasks_token(ken_task.associate) + "/"
    assert _open(in_wecom_as("ken"), url).status_code == 200
    assert _open(in_wecom_as("lily"), url).status_code == 403


def test_outside_wecom_the_link_acts_for_its_associate_unless_wecom_only(links, settings):
    _, url = links["lily"]
    assert Client().get(url).status_code == 200  # no one to ask outside the client
    settings.MOMENTS_LINKS_WECOM_ONLY = True
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(url)
    assert page.status_code == 403 and "Open this link in WeCom" in page.content.decode()
    assert _open(in_wecom_as("lily"), url).status_code == 200
