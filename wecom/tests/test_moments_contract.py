"""Contract tests for the Customer Moments endpoints (wecom-api.md §1): the real
client against the sandbox over real HTTP. Members publish through the sandbox's
control plane, as a person would in WeCom."""

from __future__ import annotations

import datetime as dt
import io
import time

import httpx
import pytest
from django.utils import timezone
from PIL import Image

from wecom.client import client_from_settings
from wecom.errors import PermanentError, TransientError
from wecom.ratelimit import Unlimited
from wecom.sandbox import models as sm
from wecom.sandbox import publishing


@pytest.fixture
def corp(sandbox_corp):
    return sandbox_corp


@pytest.fixture
def client(wecom_base_url):
    """Without our own limiter (it would pace add_moment_task to one per 6 s): these
    tests are about what WeCom does, including its 45009."""
    wecom = client_from_settings(base_url=wecom_base_url, limiter=Unlimited())
    wecom.forget_token()
    yield wecom
    wecom.close()


@pytest.fixture
def control(live_server):
    def post(path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{live_server.url}/wecom-sandbox/control/{path}", json=body, timeout=10)

    return post


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "pink").save(buffer, format="PNG")
    return buffer.getvalue()


def _image(client) -> dict:
    media_id = client.upload_attachment(filename="rose.png", content=_png(), content_type="image/png")
    return {"msgtype": "image", "image": {"media_id": media_id}}


def _task(client, **body) -> dict:
    """add_moment_task, then its result once done (the sandbox finishes at once in tests)."""
    jobid = client.add_moment_task(**body)
    result = client.get_moment_task_result(jobid)
    assert result["status"] == 3 and result["type"] == "add_moment_task"
    return result["result"]


def _all(pages) -> list:
    return [item for page in pages for item in page]


# --- creating tasks ---------------------------------------------------------------------------
def test_a_task_for_named_senders_reports_the_invalid_ones(client, corp):
    result = _task(
        client,
        text="情人节快乐 #玫瑰系列",
        attachments=[_image(client)],
        visible_range={"sender_list": {"user_list": ["Lily", "nobody"], "department_list": [4, 99]}},
    )
    assert result["errcode"] == 0 and result["moment_id"]
    assert result["invalid_sender_list"] == {"user_list": ["nobody"], "department_list": [99]}
    tasks = _all(client.moment_task_pages(result["moment_id"]))
    assert sorted((t["userid"], t["publish_status"]) for t in tasks) == [("ken", 0), ("lily", 0)]


def test_without_a_visible_range_every_active_member_is_an_executor(client, corp):
    result = _task(client, text="全员发布")
    assert sorted(t["userid"] for t in _all(client.moment_task_pages(result["moment_id"]))) == ["ken", "lily", "mia"]


def test_tags_alone_pick_the_tagged_customers_follow_up_members(client, corp):
    result = _task(client, text="金卡专享", visible_range={"external_contact_list": {"tag_list": ["etGold", "etNope"]}})
    assert result["invalid_external_contact_list"] == {"tag_list": ["etNope"]}
    assert [t["userid"] for t in _all(client.moment_task_pages(result["moment_id"]))] == ["lily"]


def test_the_job_reports_started_then_done(client, corp, settings):
    settings.WECOM_SANDBOX_JOB_SECONDS = 60
    jobid = client.add_moment_task(text="稍后完成")
    pending = client.get_moment_task_result(jobid)
    assert pending["status"] in (1, 2) and pending["result"] is None
    sm.MomentJob.objects.filter(jobid=jobid).update(ready_at=timezone.now())
    done = client.get_moment_task_result(jobid)
    assert done["status"] == 3 and done["result"]["moment_id"]


def test_an_unknown_jobid_is_refused(client, corp):
    with pytest.raises(PermanentError) as caught:
        client.get_moment_task_result("no-such-job")
    assert caught.value.errcode == 40058


def _attachments(client, kind: str) -> dict:
    image = _image(client)
    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://brand.example.com/new",
                                         "media_id": image["image"]["media_id"]}}  # fmt: skip
    return {
        "ten images": {"attachments": [image] * 10},
        "image and link": {"attachments": [image, link]},
        "two links": {"attachments": [link, link]},
        "miniprogram": {"attachments": [{"msgtype": "miniprogram", "miniprogram": {}}]},
        "unknown media": {"attachments": [{"msgtype": "image", "image": {"media_id": "3-not-uploaded"}}]},
        "image as video": {"attachments": [{"msgtype": "video", "video": image["image"]}]},
        "nothing": {},
        "long text": {"text": "爱" * 2001},
        "long link title": {"attachments": [{**link, "link": {**link["link"], "title": "玫" * 22}}]},
    }[kind]


@pytest.mark.parametrize(
    "kind,errcode",
    [
        ("ten images", 41064),
        ("image and link", 41065),
        ("two links", 41064),
        ("miniprogram", 41065),
        ("unknown media", 40007),
        ("image as video", 40007),
        ("nothing", 41089),
        ("long text", 40058),
        ("long link title", 40058),
    ],
)
def test_bad_content_gets_the_documented_errcode(client, corp, kind, errcode):
    with pytest.raises(PermanentError) as caught:
        client.add_moment_task(**_attachments(client, kind))
    assert caught.value.errcode == errcode
    assert not sm.MomentJob.objects.exists()


def test_an_empty_attachment_list_without_text_gets_41088(wecom_base_url, client, corp):
    answer = httpx.post(
        f"{wecom_base_url}externalcontact/add_moment_task", params={"access_token": client.access_token()},
        json={"text": {"content": " "}, "attachments": []}, timeout=5,
    ).json()  # fmt: skip
    assert answer["errcode"] == 41088


def test_nine_images_are_accepted(client, corp):
    assert _task(client, attachments=[_image(client)] * 9)["errcode"] == 0


def test_media_older_than_three_days_is_refused(client, corp):
    image = _image(client)
    sm.Media.objects.update(created_at=timezone.now() - dt.timedelta(days=3, minutes=1))
    with pytest.raises(PermanentError) as caught:
        client.add_moment_task(attachments=[image])
    assert caught.value.errcode == 40007


def test_more_than_ten_tasks_a_minute_get_45009(client, corp):
    if int(time.time()) % 60 > 50:
        time.sleep(61 - int(time.time()) % 60)  # keep the eleven calls inside one minute window
    for i in range(10):
        client.add_moment_task(text=f"第 {i} 条")
    with pytest.raises(TransientError) as caught:
        client.add_moment_task(text="第 11 条")
    assert caught.value.errcode == 45009
    assert sm.MomentJob.objects.count() == 10


def test_an_unknown_field_in_visible_range_is_refused(client, corp):
    with pytest.raises(PermanentError) as caught:
        client.add_moment_task(text="x", visible_range={"sender_list": {"users": ["lily"]}})
    assert caught.value.errcode == 40058


# --- publishing and the read APIs -------------------------------------------------------------
def test_after_publishing_the_task_list_customer_list_and_send_result_agree(client, corp, control):
    moment_id = _task(client, text="新品到店", visible_range={"sender_list": {"user_list": ["lily", "ken"]}})[
        "moment_id"
    ]
    with pytest.raises(PermanentError) as caught:
        _all(client.moment_send_result_pages(moment_id, "lily"))
    assert caught.value.errcode == 41062  # not published yet

    published = control("members/lily/publish", {"moment_id": moment_id})
    assert published.status_code == 200 and published.json()["delivered"] == 3
    tasks = {t["userid"]: t["publish_status"] for t in _all(client.moment_task_pages(moment_id))}
    assert tasks == {"lily": 1, "ken": 0}
    visible = _all(client.moment_customer_pages(moment_id, "lily"))
    assert sorted(c["external_userid"] for c in visible) == ["wm0", "wm1", "wm2"]
    assert {c["userid"] for c in visible} == {"lily"}
    sent = _all(client.moment_send_result_pages(moment_id, "lily", limit=2))
    assert sorted(c["external_userid"] for c in sent) == ["wm0", "wm1", "wm2"]

    with pytest.raises(PermanentError) as caught:
        _all(client.moment_send_result_pages(moment_id, "mia"))
    assert caught.value.errcode == 41061  # not an executor


def test_publishing_twice_changes_nothing(client, corp, control):
    moment_id = _task(client, text="一次就好")["moment_id"]
    assert control("members/lily/publish", {"moment_id": moment_id}).json()["delivered"] == 3
    assert control("members/lily/publish", {"moment_id": moment_id}).json()["delivered"] == 0
    assert sm.MomentDelivery.objects.count() == 3


def test_a_tagged_moment_reaches_only_tagged_customers(client, corp, control):
    moment_id = _task(
        client, text="金卡专享", visible_range={"sender_list": {"user_list": ["lily"]},
                                                "external_contact_list": {"tag_list": ["etGold"]}},
    )["moment_id"]  # fmt: skip
    control("members/lily/publish", {"moment_id": moment_id})
    assert [c["external_userid"] for c in _all(client.moment_send_result_pages(moment_id, "lily"))] == ["wm0"]
    listed = _all(client.moment_list_pages(start_time=int(time.time()) - 60, end_time=int(time.time()) + 60))
    assert [m["visible_type"] for m in listed] == [0]  # partially visible


def test_cancelling_stops_unpublished_copies_but_keeps_published_ones(client, corp, control):
    moment_id = _task(client, text="限时活动", visible_range={"sender_list": {"user_list": ["lily", "ken"]}})[
        "moment_id"
    ]
    control("members/lily/publish", {"moment_id": moment_id})
    client.cancel_moment_task(moment_id)
    refused = control("members/ken/publish", {"moment_id": moment_id})
    assert refused.status_code == 409 and refused.json()["errcode"] == 41060
    assert len(_all(client.moment_send_result_pages(moment_id, "lily"))) == 3


def test_moment_ids_are_checked(client, corp, control):
    with pytest.raises(PermanentError) as caught:
        client.cancel_moment_task("mom-unknown")
    assert caught.value.errcode == 41060
    personal = control("members/lily/moments", {"text": "周末愉快"}).json()["moment_id"]
    for call in (lambda: client.cancel_moment_task(personal), lambda: _all(client.moment_task_pages(personal))):
        with pytest.raises(PermanentError) as caught:
            call()
        assert caught.value.errcode == 41067


# --- get_moment_list ------------------------------------------------------------------------
def test_the_moment_list_pages_by_20_and_filters(client, corp):
    lily = corp["lily"]
    for i in range(23):
        publishing.publish_personal(lily, text=f"日常 {i}")
    enterprise = _task(client, text="品牌发布")["moment_id"]
    now = int(time.time())
    pages = list(client.moment_list_pages(start_time=now - 3600, end_time=now + 60))
    assert [len(page) for page in pages] == [20, 4]
    everything = [m for page in pages for m in page]
    by_id = {m["moment_id"]: m for m in everything}
    assert "creator" not in by_id[enterprise]  # not returned for API-created moments
    assert by_id[enterprise]["create_type"] == 0 and by_id[enterprise]["visible_type"] == 1
    personal = [m for m in everything if m["create_type"] == 1]
    assert len(personal) == 23 and {m["creator"] for m in personal} == {"lily"}
    assert personal[0]["text"] == {"content": "日常 0"}
    only_enterprise = _all(client.moment_list_pages(start_time=now - 3600, end_time=now + 60, filter_type=0))
    assert [m["moment_id"] for m in only_enterprise] == [enterprise]
    by_ken = _all(client.moment_list_pages(start_time=now - 3600, end_time=now + 60, creator="ken"))
    assert by_ken == []


def test_the_moment_list_window_is_at_most_30_days(wecom_base_url, client, corp):
    now = int(time.time())
    token = client.access_token()
    answer = httpx.post(
        f"{wecom_base_url}externalcontact/get_moment_list", params={"access_token": token},
        json={"start_time": now - 31 * 86400, "end_time": now}, timeout=5,
    ).json()  # fmt: skip
    assert answer["errcode"] == 40058
    with pytest.raises(ValueError, match="30 days"):
        next(client.moment_list_pages(start_time=now - 31 * 86400, end_time=now))


def test_an_oversize_limit_falls_back_to_the_default(wecom_base_url, client, corp):
    lily = corp["lily"]
    for i in range(22):
        publishing.publish_personal(lily, text=f"日常 {i}")
    now = int(time.time())
    answer = httpx.post(
        f"{wecom_base_url}externalcontact/get_moment_list", params={"access_token": client.access_token()},
        json={"start_time": now - 60, "end_time": now + 60, "limit": 500}, timeout=5,
    ).json()  # fmt: skip
    assert len(answer["moment_list"]) == 20 and answer["next_cursor"]


# --- comments and likes -----------------------------------------------------------------------
def test_likes_and_comments_come_back_per_member(client, corp, control):
    moment_id = _task(client, text="来点赞")["moment_id"]
    control("members/lily/publish", {"moment_id": moment_id})
    assert control("customers/wm1/likes", {"moment_id": moment_id, "userid": "lily"}).status_code == 200
    assert control("customers/wm1/likes", {"moment_id": moment_id, "userid": "lily"}).status_code == 200
    control("customers/wm2/comments", {"moment_id": moment_id, "userid": "lily", "content": "好看！"})
    not_in_feed = control("customers/wm3/likes", {"moment_id": moment_id, "userid": "lily"})
    assert not_in_feed.status_code == 409
    found = client.moment_comments(moment_id, "lily")
    assert [like["external_userid"] for like in found["like_list"]] == ["wm1"]  # one like, however often
    assert [comment["external_userid"] for comment in found["comment_list"]] == ["wm2"]
    assert all(isinstance(item["create_time"], int) for item in found["like_list"] + found["comment_list"])


# --- bad input never makes a 500 ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "add_moment_task",
        "cancel_moment_task",
        "get_moment_list",
        "get_moment_task",
        "get_moment_customer_list",
        "get_moment_send_result",
        "get_moment_comments",
    ],
)
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1]", b'{"moment_id": 7, "userid": ["lily"], "start_time": "yesterday", "text": "x"}',
     b'{"surprise": true}', "\xff\xfe".encode("latin-1")],
    ids=["broken", "array", "wrong-types", "unknown-field", "not-utf8"],
)  # fmt: skip
def test_malformed_moment_requests_get_40058(wecom_base_url, client, corp, path, body):
    answer = httpx.post(
        f"{wecom_base_url}externalcontact/{path}", params={"access_token": client.access_token()},
        content=body, timeout=5,
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["errcode"] == 40058


def test_a_malformed_attachment_or_visible_range_gets_an_errcode(wecom_base_url, client, corp):
    bodies = [
        {"attachments": ["image"]},
        {"attachments": [{"msgtype": "image", "image": "media"}]},
        {"text": {"content": "x"}, "visible_range": {"sender_list": {"user_list": "lily"}}},
        {"text": {"content": "x"}, "visible_range": {"sender_list": {"department_list": ["2"]}}},
        {"text": {"content": 5}},
    ]
    for body in bodies:
        answer = httpx.post(
            f"{wecom_base_url}externalcontact/add_moment_task", params={"access_token": client.access_token()},
            json=body, timeout=5,
        ).json()  # fmt: skip
        assert answer["errcode"] in (40058, 41065), (body, answer)
    assert not sm.MomentJob.objects.exists()
