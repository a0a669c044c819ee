"""The sandbox's control plane (/wecom-sandbox/control/) and the events it pushes
to the app's callback endpoint, signed and encrypted like WeCom's."""

from __future__ import annotations

import json

import pytest

from staff.models import CallbackEvent
from wecom.sandbox import events
from wecom.sandbox import models as sm
from wecom.sandbox.tasks import callback_push_task

CONTROL = "/wecom-sandbox/control/"


def post(client, path, body=None, **extra):
    return client.post(CONTROL + path, data=json.dumps(body or {}), content_type="application/json", **extra)


def test_the_index_page_shows_counts_and_actions(client, sandbox_corp):
    page = client.get(CONTROL)
    assert page.status_code == 200
    assert b"Not part of WeCom" in page.content and b"control/faults" in page.content


def test_seed_then_state_then_reset(client, db):
    seeded = post(client, "seed", {"members": 5, "follows_per_member": 20, "unverified_share": 0.2, "seed": 7})
    assert seeded.status_code == 200, seeded.content
    assert seeded.json()["members"] == 5
    again = post(client, "seed", {"members": 5, "follows_per_member": 20})
    assert again.status_code == 409 and "--flush" in again.json()["error"]
    state = client.get(CONTROL + "state").json()
    assert state["members"] == 5 and state["follows"] == sm.Follow.objects.count() > 0
    assert post(client, "reset").json() == {"reset": True}
    assert not sm.Member.objects.exists() and not sm.Follow.objects.exists()


@pytest.mark.parametrize(
    "body,message",
    [
        ({"members": 0}, "'members' must be between"),
        ({"members": "ten"}, "'members' must be a number"),
        ({"unverified_share": 2}, "'unverified_share' must be between"),
    ],
)
def test_seed_refuses_bad_sizes_with_a_message(client, db, body, message):
    answer = post(client, "seed", body)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert not sm.Member.objects.exists()


def test_a_seed_too_big_for_a_request_is_queued_for_the_worker(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        answer = post(client, "seed", {"members": 10_000, "follows_per_member": 500, "flush": True})
    assert answer.status_code == 202 and answer.json()["queued"] is True
    assert len(scheduled) == 1 and not sm.Member.objects.exists()


def test_the_seed_task_builds_the_brand(db):
    from wecom.sandbox.tasks import sandbox_seed_task

    summary = sandbox_seed_task.run(3, 10, 0.0, 1, True)
    assert summary["members"] == 3 == sm.Member.objects.count()


def test_bad_requests_get_clear_errors(client, sandbox_corp):
    broken = client.post(CONTROL + "seed", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json() == {"error": "the body is not valid JSON"}
    listed = client.post(CONTROL + "seed", data="[1]", content_type="application/json")
    assert listed.status_code == 400 and "JSON object" in listed.json()["error"]
    assert client.get(CONTROL + "seed").status_code == 405
    assert post(client, "members/nobody/moments", {"text": "hi"}).status_code == 404
    assert post(client, "members/lily/moments", {"text": ""}).status_code == 400


def test_member_facts_can_be_changed(client, sandbox_corp):
    answer = post(client, "members/Lily", {"is_verified": False, "status": 5})
    assert answer.status_code == 200
    lily = sm.Member.objects.get(userid="lily")
    assert not lily.is_verified and lily.status == 5
    assert post(client, "members/lily", {"is_verified": "no"}).status_code == 400
    assert post(client, "members/lily", {}).status_code == 400


def test_personal_moment_then_likes_and_messages(client, sandbox_corp):
    posted = post(client, "members/lily/moments", {"text": "周末愉快"}).json()
    assert posted["delivered"] == 3
    liked = post(client, "customers/wm0/likes", {"moment_id": posted["moment_id"], "userid": "lily"})
    assert liked.status_code == 200
    assert (
        post(client, "customers/nobody/likes", {"moment_id": posted["moment_id"], "userid": "lily"}).status_code == 404
    )
    sm.Message.objects.create(msgid="m1", userid="lily", msgtype="text", content={"text": {"content": "hi"}},
                              content_hash="x", outcome="dropped", received_at="2026-02-14T09:00:00+08:00")  # fmt: skip
    messages = client.get(CONTROL + "members/lily/messages").json()["messages"]
    assert [(m["msgid"], m["outcome"]) for m in messages] == [("m1", "dropped")]


def test_publish_by_jobid_finishes_the_job(client, sandbox_corp, settings):
    settings.WECOM_SANDBOX_JOB_SECONDS = 3600
    from django.utils import timezone

    now = timezone.now()
    sm.MomentJob.objects.create(
        jobid="job-1", request={"text": {"content": "hi"}, "visible_range": {"sender_list": {"user_list": ["lily"]}}},
        created_at=now, ready_at=now + timezone.timedelta(hours=1),
    )  # fmt: skip
    answer = post(client, "members/lily/publish", {"jobid": "job-1"})
    assert answer.status_code == 200 and answer.json()["delivered"] == 3
    assert post(client, "members/lily/publish", {"jobid": "nope"}).status_code == 404


def test_faults_are_added_listed_and_removed(client, sandbox_corp):
    added = post(client, "faults", {"endpoint": "message/send", "rate": 0.5, "errcode": -1, "remaining": 3})
    assert added.status_code == 200 and added.json()["remaining"] == 3
    assert post(client, "faults", {"endpoint": "message/send"}).status_code == 400  # a fault that does nothing
    assert post(client, "faults", {"rate": 3, "errcode": -1}).status_code == 400
    assert [f["endpoint"] for f in client.get(CONTROL + "faults").json()["faults"]] == ["message/send"]
    assert client.delete(CONTROL + "faults", data="{}", content_type="application/json").json() == {"deleted": 1}


def test_tick_runs_the_behaviour_model(client, sandbox_corp):
    answer = post(client, "tick", {"personal": False})
    assert answer.status_code == 200 and set(answer.json()) == {"jobs", "published", "personal"}


# --- events pushed to the app ------------------------------------------------------------------
def test_a_new_follow_records_an_event_and_pushes_it_after_commit(
    client, db, settings, django_capture_on_commit_callbacks
):
    settings.WECOM_SANDBOX_CALLBACK_URL = "http://127.0.0.1:9/wecom/callback/"
    sm.Member.objects.create(userid="lily", name="Lily", department=[1])
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        answer = post(
            client, "follows", {"userid": "lily", "external_userid": "wmNEW", "name": "新客", "state": "qr-3"}
        )
    assert answer.json()["created"] is True
    assert len(scheduled) == 1
    delivery = sm.CallbackDelivery.objects.get()
    assert delivery.change_type == "add_external_contact"
    assert "<ExternalUserID><![CDATA[wmNEW]]></ExternalUserID>" in delivery.payload
    assert "<State><![CDATA[qr-3]]></State>" in delivery.payload
    # The same follow again is no event.
    assert post(client, "follows", {"userid": "lily", "external_userid": "wmNEW"}).json()["created"] is False
    assert sm.CallbackDelivery.objects.count() == 1


def test_a_push_reaches_the_apps_callback_endpoint_signed_and_encrypted(live_server, sandbox_corp, settings):
    delivery = events.contact_removed(userid="lily", external_userid="wm1", by_customer=True)
    assert events.callback_push(delivery, url=f"{live_server.url}/wecom/callback/")
    delivery.refresh_from_db()
    assert delivery.status_code == 200 and delivery.delivered_at and delivery.attempts == 1
    event = CallbackEvent.objects.get()
    assert event.change_type == "del_follow_user"
    assert (event.payload["ExternalUserID"], event.payload["UserID"]) == ("wm1", "lily")


def test_a_push_the_app_refuses_is_recorded_and_retried(live_server, sandbox_corp, settings):
    from celery.exceptions import Retry

    delivery = events.contact_added(userid="lily", external_userid="wm1")
    # A URL that answers 405 to a POST stands for an app that refuses the event.
    settings.WECOM_SANDBOX_CALLBACK_URL = f"{live_server.url}/wecom-sandbox/control/state"
    with pytest.raises(Retry):
        callback_push_task.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status_code == 405 and delivery.delivered_at is None and delivery.attempts == 1
    settings.WECOM_SANDBOX_CALLBACK_URL = f"{live_server.url}/wecom/callback/"
    callback_push_task.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.delivered_at and delivery.attempts == 2
    callback_push_task.run(delivery.pk)  # delivered: nothing more to do
    assert sm.CallbackDelivery.objects.get().attempts == 2 and CallbackEvent.objects.count() == 1


def test_a_push_to_an_unreachable_app_records_the_error(sandbox_corp):
    delivery = events.contact_added(userid="lily", external_userid="wm1")
    assert not events.callback_push(delivery, url="http://127.0.0.1:9/wecom/callback/")
    delivery.refresh_from_db()
    assert delivery.error.startswith("ConnectError") and delivery.attempts == 1


def test_the_js_sdk_agent_config_is_checked_against_issued_tickets(client, wecom_client, sandbox_corp):
    """The app's ticket is fetched once and shared; a signature from it passes, any other fails."""
    from wecom.jssdk import agent_config

    url = "https://moments.example.com/p/abc/"
    config = agent_config(client=wecom_client, url=url + "#top")  # the fragment is not signed
    assert agent_config(client=wecom_client, url=url)["signature"] != config["signature"]  # a fresh nonce
    assert sm.JsapiTicket.objects.filter(kind="agent_config").count() == 1
    assert post(client, "jssdk/agent-config", {**config, "url": url}).json() == {"errMsg": "agentConfig:ok"}
    assert (
        post(client, "jssdk/agent-config", {**config, "url": url + "other"})
        .json()["errMsg"]
        .endswith("invalid signature")
    )
    assert "mismatch" in post(client, "jssdk/agent-config", {**config, "corpid": "ww-other"}).json()["errMsg"]
    shared = post(client, "jssdk/share", {"userid": "lily", "text": "今日推荐"}).json()
    assert shared["errMsg"] == "shareToExternalMoments:ok"
    assert sm.Moment.objects.get(moment_id=shared["moment_id"]).creator.userid == "lily"
    assert b"shareToExternalMoments" in client.get("/wecom-sandbox/jssdk.js").content
