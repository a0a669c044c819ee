"""Contract tests for ``add_contact_way`` and ``send_welcome_msg`` (docs/wecom-contact-way.md):
the real client against the sandbox over real HTTP. Customers scan a contact way through the
sandbox's control plane, as a person would with the WeCom app."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from wecom.client import client_from_settings
from wecom.errors import PermanentError
from wecom.ratelimit import Unlimited
from wecom.sandbox import contact_ways
from wecom.sandbox import models as sm


@pytest.fixture
def client(wecom_base_url):
    wecom = client_from_settings(base_url=wecom_base_url, limiter=Unlimited())
    wecom.forget_token()
    yield wecom
    wecom.close()


@pytest.fixture
def corp(sandbox_corp):
    return sandbox_corp


@pytest.fixture
def control(live_server):
    base = f"{live_server.url}/wecom-sandbox/control/"

    class Control:
        def post(self, path: str, body: dict) -> httpx.Response:
            return httpx.post(base + path, json=body, timeout=10)

        def get(self, path: str) -> httpx.Response:
            return httpx.get(base + path, timeout=10)

        def scan(self, config_id: str, external_userid: str, **extra) -> httpx.Response:
            return self.post(f"contact_ways/{config_id}/scan", {"external_userid": external_userid, **extra})

    return Control()


def _raw(wecom_base_url, client, path: str, **kwargs) -> dict:
    """A request the client would never make, straight over HTTP."""
    params = {"access_token": client.access_token()}
    return httpx.post(f"{wecom_base_url}{path}", params=params, timeout=10, **kwargs).json()


# --- add_contact_way ----------------------------------------------------------------------------
def test_a_single_members_qr_code_has_a_config_id_and_a_drawn_image(client, corp):
    answer = client.add_contact_way(type=1, scene=2, user=["Lily"], state="m" + "0" * 29, remark="情人节" * 10)
    assert len(answer["config_id"]) == 32 and answer["qr_code"].startswith("http")
    way = sm.ContactWay.objects.get(config_id=answer["config_id"])
    assert (way.type, way.scene, way.user, way.state, way.skip_verify) == (1, 2, ["lily"], "m" + "0" * 29, True)
    image = httpx.get(answer["qr_code"], timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_mini_program_button_has_no_qr_code(client, corp):
    answer = client.add_contact_way(type=1, scene=1, style=3, user=["lily"], state="button")
    assert answer["qr_code"] == "" and sm.ContactWay.objects.get().style == 3


def test_a_multi_member_way_may_name_departments(client, corp):
    answer = client.add_contact_way(type=2, scene=2, user=["ken"], party=[2], state="stores")
    way = sm.ContactWay.objects.get(config_id=answer["config_id"])
    assert (way.user, way.party) == (["ken"], [2])


def _not_activated():
    sm.Member.objects.create(userid="newbie", name="New", department=[3], status=sm.Member.Status.NOT_ACTIVATED)


def _crowd():
    sm.Member.objects.bulk_create([sm.Member(userid=f"crowd{i}", name=f"C{i}", department=[4]) for i in range(100)])


@pytest.mark.parametrize(
    "body,errcode,setup",
    [
        ({"type": 1, "scene": 2, "user": ["lily"], "state": "m" * 31}, 40058, None),
        ({"type": 1, "scene": 2, "user": ["lily"], "remark": "备" * 31}, 40058, None),
        ({"type": 1, "scene": 2, "user": ["lily", "ken"]}, 40058, None),
        ({"type": 1, "scene": 2}, 40058, None),
        ({"type": 2, "scene": 2}, 40058, None),
        ({"type": 3, "scene": 2, "user": ["lily"]}, 41039, None),
        ({"type": 1, "scene": 3, "user": ["lily"]}, 41040, None),
        ({"type": 1, "scene": 1, "style": 4, "user": ["lily"]}, 41042, None),
        ({"type": 2, "scene": 1, "style": 3, "user": ["lily"]}, 41042, None),
        ({"type": 1, "scene": 2, "user": ["nobody"]}, 40003, None),
        ({"type": 1, "scene": 2, "user": ["gone"]}, 40003, None),
        ({"type": 1, "scene": 2, "user": ["newbie"]}, 41054, _not_activated),
        ({"type": 2, "scene": 2, "party": [99]}, 40066, None),
        ({"type": 2, "scene": 2, "party": [4]}, 41041, _crowd),
        ({"type": 2, "scene": 2, "user": ["lily"], "is_temp": True}, 40058, None),
        ({"type": 1, "scene": 2, "user": ["lily"], "is_temp": True, "expires_in": 15 * 86400}, 40058, None),
    ],
    ids=["state-31-chars", "remark-31-chars", "single-with-two-users", "single-without-user", "multi-empty",
         "type-3", "scene-3", "style-4", "multi-style-3", "unknown-user", "member-who-left", "not-activated",
         "unknown-department", "101-members", "temp-multi", "temp-15-days"],
)  # fmt: skip
def test_each_documented_limit_gets_its_errcode(client, corp, body, errcode, setup):
    if setup:
        setup()
    with pytest.raises(PermanentError) as caught:
        client.add_contact_way(**body)
    assert caught.value.errcode == errcode
    assert not sm.ContactWay.objects.exists()


def test_the_enterprises_api_contact_ways_run_out(client, corp, monkeypatch):
    monkeypatch.setattr(contact_ways, "CONTACT_WAYS_MAX", 1)  # the live server runs in this process
    client.add_contact_way(user=["lily"], state="first")
    with pytest.raises(PermanentError) as caught:
        client.add_contact_way(user=["ken"], state="second")
    assert caught.value.errcode == 41045 and sm.ContactWay.objects.count() == 1


@pytest.mark.parametrize(
    "request_kwargs,errcode",
    [
        ({"content": b"{not json"}, 40058),
        ({"json": {"type": 1, "scene": 2, "user": ["lily"], "channel": "x"}}, 40058),
        ({"json": {"type": "1", "scene": 2, "user": ["lily"]}}, 40058),
        ({"json": {"type": 1, "scene": 2, "user": "lily"}}, 40058),
        ({"json": {"type": 1, "scene": 2, "user": ["lily"], "skip_verify": 1}}, 40058),
        ({"json": {"scene": 2, "user": ["lily"]}}, 41037),
        ({"json": {"type": 1, "user": ["lily"]}}, 41038),
        ({"json": ["type", 1]}, 40058),
    ],
    ids=["not-json", "unknown-field", "type-as-string", "user-as-string", "skip-verify-as-int", "no-type", "no-scene",
         "array-body"],
)  # fmt: skip
def test_malformed_bodies_are_refused(wecom_base_url, client, corp, request_kwargs, errcode):
    answer = _raw(wecom_base_url, client, "externalcontact/add_contact_way", **request_kwargs)
    assert answer["errcode"] == errcode and "more info at" in answer["errmsg"]
    assert not sm.ContactWay.objects.exists()


def test_get_is_not_post(wecom_base_url, client, corp):
    answer = httpx.get(f"{wecom_base_url}externalcontact/add_contact_way",
                       params={"access_token": client.access_token()}, timeout=10).json()  # fmt: skip
    assert answer["errcode"] == 40058


# --- a customer scans ----------------------------------------------------------------------------
def test_a_scan_adds_the_member_with_the_ways_state_and_pushes_the_event(client, corp, control):
    way = client.add_contact_way(user=["lily"], state="m-valentine")
    answer = control.scan(way["config_id"], "wmNEW", name="新客户")
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is True and answer.json()["state"] == "m-valentine"
    follow = sm.Follow.objects.get(customer__external_userid="wmNEW")
    assert (follow.member.userid, follow.state, follow.add_way) == ("lily", "m-valentine", 1)
    delivery = sm.CallbackDelivery.objects.get()
    assert delivery.change_type == "add_external_contact"
    assert "<State><![CDATA[m-valentine]]></State>" in delivery.payload
    assert f"<WelcomeCode><![CDATA[{answer.json()['welcome_code']}]]></WelcomeCode>" in delivery.payload
    # The app learns the channel through the API as well (wecom-api.md §4: follow_user.state).
    detail = client.external_contact("wmNEW")
    assert [(f["userid"], f["state"], f["add_way"]) for f in detail["follow_user"]] == [("lily", "m-valentine", 1)]
    # Scanning again as the same customer adds nothing and pushes nothing.
    again = control.scan(way["config_id"], "wmNEW").json()
    assert again["created"] is False and again["welcome_code"] == ""
    assert sm.CallbackDelivery.objects.count() == 1
    assert sm.ContactWay.objects.get().adds == 1


def test_a_multi_member_way_adds_the_member_the_customer_picked(client, corp, control):
    way = client.add_contact_way(type=2, user=["ken"], party=[3], state="stores")
    assert control.scan(way["config_id"], "wmA", userid="lily").json()["userid"] == "lily"
    assert control.scan(way["config_id"], "wmB").json()["userid"] == "ken"
    outsider = control.scan(way["config_id"], "wmC", userid="gone")
    assert outsider.status_code == 400 and "not a member" in outsider.json()["error"]


def test_a_temporary_ways_code_works_once(client, corp, control):
    way = client.add_contact_way(user=["lily"], is_temp=True, expires_in=3600, state="temp")
    assert control.scan(way["config_id"], "wmA").status_code == 200
    second = control.scan(way["config_id"], "wmB")
    assert second.status_code == 409 and not sm.Follow.objects.filter(customer__external_userid="wmB").exists()


def test_scanning_an_unknown_way_is_404(control, corp):
    assert control.scan("nope", "wmA").status_code == 404
    assert control.post("contact_ways/nope/scan", {}).status_code in (400, 404)


# --- send_welcome_msg -----------------------------------------------------------------------------
@pytest.fixture
def welcome_code(client, corp, control):
    way = client.add_contact_way(user=["lily"], state="m-welcome")
    return control.scan(way["config_id"], "wmNEW", name="新客户").json()["welcome_code"]


def test_a_welcome_is_received_once_and_a_second_send_is_41051(client, control, welcome_code):
    link = {"msgtype": "link", "link": {"title": "情人节礼盒", "url": "https://brand.example.com/gift"}}
    client.send_welcome_msg(welcome_code=welcome_code, text="欢迎来到玫瑰之约", attachments=[link])
    with pytest.raises(PermanentError) as caught:
        client.send_welcome_msg(welcome_code=welcome_code, text="再次欢迎")
    assert caught.value.errcode == 41051
    received = control.get("customers/wmNEW/welcome").json()["welcome_messages"]
    assert [(m["userid"], m["text"], m["attachments"]) for m in received] == [("lily", "欢迎来到玫瑰之约", [link])]


def test_a_code_older_than_20_seconds_is_41050(client, control, welcome_code):
    # The sandbox has no clock to move: age the code where it keeps the issue time.
    sm.WelcomeCode.objects.filter(code=welcome_code).update(issued_at=timezone.now() - dt.timedelta(seconds=21))
    with pytest.raises(PermanentError) as caught:
        client.send_welcome_msg(welcome_code=welcome_code, text="欢迎")
    assert caught.value.errcode == 41050
    assert control.get("customers/wmNEW/welcome").json()["welcome_messages"] == []


def test_a_code_19_seconds_old_still_works(client, control, welcome_code):
    sm.WelcomeCode.objects.filter(code=welcome_code).update(issued_at=timezone.now() - dt.timedelta(seconds=19))
    client.send_welcome_msg(welcome_code=welcome_code, text="欢迎")
    assert len(control.get("customers/wmNEW/welcome").json()["welcome_messages"]) == 1


def test_an_unknown_or_missing_code_is_refused(client, corp):
    with pytest.raises(PermanentError) as unknown:
        client.send_welcome_msg(welcome_code="never-issued", text="欢迎")
    with pytest.raises(PermanentError) as missing:
        client.send_welcome_msg(welcome_code="", text="欢迎")
    assert (unknown.value.errcode, missing.value.errcode) == (41050, 41049)


def _welcome_body(kind: str) -> dict:
    image = {"msgtype": "image", "image": {"pic_url": "https://brand.example.com/rose.png"}}
    return {
        "text 4001 bytes": {"text": "a" * 4001},
        "ten attachments": {"attachments": [image] * 10},
        "voice attachment": {"attachments": [{"msgtype": "voice", "voice": {"media_id": "x"}}]},
        "unknown media_id": {"attachments": [{"msgtype": "image", "image": {"media_id": "3-not-uploaded"}}]},
        "video without media": {"attachments": [{"msgtype": "video", "video": {}}]},
        "link without url": {"attachments": [{"msgtype": "link", "link": {"title": "礼盒"}}]},
        "link title 129 bytes": {"attachments": [{"msgtype": "link", "link": {"title": "a" * 129,
                                                                               "url": "https://x.example"}}]},
        "msgtype mismatch": {"attachments": [{"msgtype": "image", "link": {"title": "t", "url": "https://x.example"}}]},
        "nothing": {},
    }[kind]  # fmt: skip


@pytest.mark.parametrize(
    "kind,errcode",
    [
        ("text 4001 bytes", 40058),
        ("ten attachments", 41064),
        ("voice attachment", 41065),
        ("unknown media_id", 40007),
        ("video without media", 40007),
        ("link without url", 40058),
        ("link title 129 bytes", 40058),
        ("msgtype mismatch", 40058),
        ("nothing", 40058),
    ],
)
def test_bad_welcome_content_is_refused_and_leaves_the_code_usable(client, control, welcome_code, kind, errcode):
    with pytest.raises(PermanentError) as caught:
        client.send_welcome_msg(welcome_code=welcome_code, **_welcome_body(kind))
    assert caught.value.errcode == errcode
    client.send_welcome_msg(welcome_code=welcome_code, text="a" * 4000)  # 4000 bytes is the limit, inclusive
    assert len(control.get("customers/wmNEW/welcome").json()["welcome_messages"]) == 1


@pytest.mark.parametrize(
    "request_kwargs,errcode",
    [
        ({"content": b"]["}, 40058),
        ({"json": {"welcome_code": "x", "text": {"content": "hi"}, "extra": 1}}, 40058),
        ({"json": {"welcome_code": "x", "text": "hi"}}, 40058),
        ({"json": {"welcome_code": "x", "text": {"content": 5}}}, 40058),
        ({"json": {"text": {"content": "hi"}}}, 41049),
    ],
    ids=["not-json", "unknown-field", "text-as-string", "content-as-number", "no-code"],
)
def test_malformed_welcome_bodies_are_refused(wecom_base_url, client, corp, request_kwargs, errcode):
    answer = _raw(wecom_base_url, client, "externalcontact/send_welcome_msg", **request_kwargs)
    assert answer["errcode"] == errcode
