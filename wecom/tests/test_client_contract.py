"""Contract tests: the real client against the sandbox, over real HTTP.

Each test states what WeCom does (wecom-api.md) and checks that the client and
the sandbox agree on it: paths, fields, pagination to the last page, errcodes.
"""

from __future__ import annotations

import datetime as dt
import io

import httpx
import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from wecom.client import WeComClient, client_from_settings
from wecom.errors import PermanentError, TransientError
from wecom.sandbox import models as sm
from wecom.sandbox.models import (
    AccessToken,
    Customer,
    Fault,
    Follow,
    Message,
)


@pytest.fixture
def base_url(wecom_base_url):
    return wecom_base_url


@pytest.fixture
def client(wecom_client):
    return wecom_client


@pytest.fixture
def corp(sandbox_corp):
    return sandbox_corp


def raw_post(base_url, client, path, body: bytes | str):
    token = client.access_token()
    return httpx.post(f"{base_url}{path}", params={"access_token": token}, content=body, timeout=5).json()


# --- token --------------------------------------------------------------------------------
def test_the_token_is_fetched_once_and_cached(client, corp):
    client.department_list()
    client.department_list()
    assert AccessToken.objects.count() == 1


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(client, corp):
    client.department_list()
    AccessToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert len(client.department_list()) == 4
    assert AccessToken.objects.count() == 2


def test_a_wrong_secret_is_a_permanent_error(base_url, corp):
    wrong = client_from_settings(base_url=base_url, secret="not-the-secret", agent_id=999)
    with pytest.raises(PermanentError) as caught:
        wrong.department_list()
    assert caught.value.errcode == 40001


def test_a_call_without_a_token_gets_41001(base_url, corp):
    answer = httpx.get(f"{base_url}department/list", timeout=5).json()
    assert answer["errcode"] == 41001
    assert "more info at https://open.work.weixin.qq.com/devtool/query?e=41001" in answer["errmsg"]


# --- directory ------------------------------------------------------------------------------
def test_department_list_returns_the_tree_or_a_subtree(client, corp):
    everything = client.department_list()
    assert {d["id"]: d["parentid"] for d in everything} == {1: 0, 2: 1, 3: 2, 4: 1}
    assert set(everything[0]) >= {"id", "name", "name_en", "parentid", "order"}
    assert {d["id"] for d in client.department_list(2)} == {2, 3}


def test_user_list_fetches_children_on_request(client, corp):
    assert {u["userid"] for u in client.user_list(2)} == set()
    members = {u["userid"]: u for u in client.user_list(1, fetch_child=True)}
    assert set(members) == {"lily", "ken", "mia", "gone"}
    assert members["lily"]["department"] == [3] and members["lily"]["main_department"] == 3
    assert members["gone"]["status"] == 5


def test_user_list_id_pages_to_the_last_page(client, corp):
    pages = list(client.user_list_id_pages(limit=1))
    assert len(pages) == 4
    assert [row["userid"] for page in pages for row in page] == ["lily", "ken", "mia", "gone"]


def test_follow_users_and_a_members_customers(client, corp):
    assert client.follow_user_list() == ["lily", "ken", "mia"]
    assert client.external_contact_list("lily") == ["wm0", "wm1", "wm2"]
    with pytest.raises(PermanentError) as none:
        client.external_contact_list("mia")
    assert none.value.errcode == 84061
    with pytest.raises(PermanentError) as unknown:
        client.external_contact_list("nobody")
    assert unknown.value.errcode == 40003


def test_external_contact_lists_every_follow_up_member_with_tags(client, corp):
    detail = client.external_contact("wm0")
    assert detail["external_contact"]["name"] == "客户0"
    follow = {f["userid"]: f for f in detail["follow_user"]}
    assert set(follow) == {"lily", "ken"}
    assert follow["lily"]["tags"] == [{"group_name": "会员等级", "tag_name": "金卡", "type": 1, "tag_id": "etGold"}]
    assert follow["lily"]["state"] == "store-3" and follow["ken"]["createtime"] == 1_700_000_200
    with pytest.raises(PermanentError) as caught:
        client.external_contact("wm-nobody")
    assert caught.value.errcode == 40096


def test_external_contact_follows_the_cursor_beyond_500_members(client, corp):
    members = sm.Member.objects.bulk_create([sm.Member(userid=f"m{i}", name=f"M{i}") for i in range(520)])
    customer = sm.Customer.objects.get(external_userid="wm3")
    sm.Follow.objects.bulk_create([sm.Follow(member=m, customer=customer, createtime=1) for m in members])
    assert len(client.external_contact("wm3")["follow_user"]) == 521  # ken + 520


def test_batch_get_by_user_pages_to_the_last_page(client, corp):
    pages = list(client.batch_get_by_user_pages(["lily", "ken"], limit=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    pairs = [(i["follow_info"]["userid"], i["external_contact"]["external_userid"]) for i in items]
    assert sorted(pairs) == sorted([("lily", "wm0"), ("lily", "wm1"), ("lily", "wm2"), ("ken", "wm3"), ("ken", "wm0")])
    first = next(i for i in items if i["external_contact"]["external_userid"] == "wm0" and
                 i["follow_info"]["userid"] == "lily")  # fmt: skip
    assert first["follow_info"]["tag_id"] == ["etGold"]
    assert first["follow_info"]["createtime"] == 1_700_000_000
    assert first["follow_info"]["add_way"] == 1 and first["follow_info"]["state"] == "store-3"
    assert first["external_contact"]["name"] == "客户0" and first["external_contact"]["type"] == 1


def test_batch_get_by_user_clamps_the_limit_to_100(client, corp):
    member = corp["lily"]
    extra = [Customer(external_userid=f"wmx{i}", name=f"x{i}") for i in range(150)]
    Customer.objects.bulk_create(extra)
    Follow.objects.bulk_create(
        [
            Follow(member=member, customer=c, createtime=1)
            for c in Customer.objects.filter(external_userid__startswith="wmx")
        ]
    )
    first_page = next(iter(client.batch_get_by_user_pages(["lily"], limit=1000)))
    assert len(first_page) == 100


def test_batch_get_by_user_refuses_more_than_100_userids(base_url, client, corp):
    with pytest.raises(ValueError):
        client.batch_get_by_user_pages([f"u{i}" for i in range(101)])
    body = {"userid_list": [f"u{i}" for i in range(101)]}
    import json

    assert raw_post(base_url, client, "externalcontact/batch/get_by_user", json.dumps(body))["errcode"] == 40058


def test_corp_tags_with_group_filter(client, corp):
    groups = client.corp_tag_list()
    assert [g["group_id"] for g in groups] == ["etG1", "etG2"]
    assert [t["id"] for t in groups[0]["tag"]] == ["etSilver", "etGold"]
    assert [g["group_id"] for g in client.corp_tag_list(group_ids=["etG2"])] == ["etG2"]
    only_gold = client.corp_tag_list(tag_ids=["etGold"])
    assert [[t["id"] for t in g["tag"]] for g in only_gold] == [["etGold"]]


# --- media ----------------------------------------------------------------------------------
def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "pink").save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_attachment_returns_a_media_id(client, corp):
    media_id = client.upload_attachment(filename="rose.png", content=_png(), content_type="image/png")
    assert media_id


@pytest.mark.parametrize(
    "media_type,content,errcode",
    [
        ("image", b"plain text pretending", 40005),
        ("image", b"tiny", 40006),
        ("file", b"%PDF-1.4 a document", 41072),
        ("sticker", b"whatever content", 40004),
    ],
)
def test_upload_attachment_refuses_bad_media(client, corp, media_type, content, errcode):
    with pytest.raises(PermanentError) as caught:
        client.upload_attachment(filename="x", content=content, content_type="application/octet-stream",
                                 media_type=media_type)  # fmt: skip
    assert caught.value.errcode == errcode


# --- app messages -----------------------------------------------------------------------------
def _card(client, users, title="情人节快乐", **options):
    return client.send_textcard(touser=users, title=title, description="点击预览并一键发布",
                                url="https://moments.example.com/p/abc", **options)  # fmt: skip


def test_send_textcard_reports_invalid_and_unlicensed_users_as_data(client, corp):
    result = _card(client, ["Lily", "nobody", "mia", "gone"])
    assert result.msgid
    assert sorted(result.invalid_users) == ["gone", "nobody"]
    assert result.unlicensed_users == ["mia"]
    delivered = Message.objects.get(userid="lily")
    assert delivered.outcome == "delivered" and delivered.content["textcard"]["btntxt"] == "详情"


def test_send_textcard_to_nobody_valid_is_81013(client, corp):
    with pytest.raises(PermanentError) as caught:
        _card(client, ["nobody"])
    assert caught.value.errcode == 81013


def test_the_duplicate_check_suppresses_the_same_card_within_the_interval(client, corp):
    _card(client, ["lily"])
    _card(client, ["lily"])
    _card(client, ["lily"], duplicate_check_interval=None)  # check off: sent again
    assert list(Message.objects.filter(userid="lily").order_by("id").values_list("outcome", flat=True)) == [
        "delivered",
        "duplicate",
        "delivered",
    ]


def test_messages_beyond_30_a_minute_to_one_member_are_dropped_silently(client, corp):
    results = [_card(client, ["lily"], title=f"提醒 {i}") for i in range(33)]
    assert all(result.msgid for result in results)  # the API says ok every time
    outcomes = list(Message.objects.filter(userid="lily").order_by("id").values_list("outcome", flat=True))
    assert outcomes.count("delivered") == 30 and outcomes[-3:] == ["dropped"] * 3


def test_a_wrong_agentid_is_refused(base_url, corp):
    other_app = client_from_settings(base_url=base_url, agent_id=settings.WECOM_AGENT_ID + 1)
    other_app.forget_token()
    with pytest.raises(PermanentError) as caught:
        _card(other_app, ["lily"])
    assert caught.value.errcode == 40056


def test_tickets_for_the_js_sdk(client, corp):
    assert client.jsapi_ticket()["ticket"]
    assert client.agent_jsapi_ticket()["expires_in"] == 7200


# --- bad input never makes a 500 -----------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        '{"touser": "lily", "msgtype": "textcard", "agentid": "1000002"}',
        '{"touser": "lily", "msgtype": "textcard", "agentid": 1000002, "surprise": 1}',
        '{"touser": "lily", "msgtype": "textcard", "agentid": 1000002, "textcard": {"title": ""}}',
        '{"touser": "lily", "msgtype": "textcard", "agentid": 1000002, "textcard": "nope"}',
        "\xff\xfe garbage".encode("latin-1"),
    ],
)
def test_malformed_bodies_get_40058(base_url, client, corp, body):
    answer = raw_post(base_url, client, "message/send", body)
    assert answer["errcode"] == 40058


def test_get_where_post_is_needed_gets_40058(base_url, client, corp):
    answer = httpx.get(f"{base_url}message/send", params={"access_token": client.access_token()}, timeout=5).json()
    assert answer["errcode"] == 40058


# --- faults become transient errors -----------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        {"errcode": 45009},
        {"errcode": -1},
        {"errcode": 45033},
        {"http_status": 502},
        {"drop_connection": True},
    ],
    ids=["45009", "busy", "45033", "http-502", "dropped-connection"],
)
def test_injected_faults_are_transient_errors(base_url, corp, fault):
    # A short read timeout: a dropped connection can look like a stalled one.
    client = client_from_settings(base_url=base_url, timeout=httpx.Timeout(connect=1.0, read=1.0, write=1.0, pool=1.0))
    client.forget_token()
    client.access_token()
    Fault.objects.create(endpoint="department/list", **fault)
    with pytest.raises(TransientError):
        client.department_list()


def test_a_slow_answer_is_a_timeout(base_url, corp):
    slow = client_from_settings(base_url=base_url, timeout=httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0))
    slow.forget_token()
    slow.access_token()
    Fault.objects.create(endpoint="department/list", latency_ms=800)
    with pytest.raises(TransientError, match="timeout"):
        slow.department_list()


def test_a_fault_with_a_budget_stops_after_it(client, corp):
    client.access_token()
    Fault.objects.create(endpoint="department/list", errcode=45009, remaining=1)
    with pytest.raises(TransientError):
        client.department_list()
    assert len(client.department_list()) == 4


def test_the_client_needs_no_django_app(base_url, corp):
    """Constructed by hand, with any cache: the production wiring differs only in base_url."""
    from django.core.cache.backends.locmem import LocMemCache

    plain = WeComClient(
        base_url=base_url, corp_id=settings.WECOM_CORP_ID, secret=settings.WECOM_SECRET,
        agent_id=settings.WECOM_AGENT_ID, cache=LocMemCache("plain", {}),
    )  # fmt: skip
    assert len(plain.department_list()) == 4
