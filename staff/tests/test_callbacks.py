"""WeCom callbacks: signed and encrypted like WeCom does, through the real endpoint,
applied against the sandbox over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from django.conf import settings
from django.utils import timezone

from staff import callbacks, sync
from staff.models import CallbackEvent, Contact, CustomerTag
from wecom.crypto import CallbackCrypto, signature
from wecom.sandbox import models as sm

URL = "/wecom/callback/"


def _crypto(receive_id=None):
    return CallbackCrypto(
        token=settings.WECOM_CALLBACK_TOKEN,
        encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
        receive_id=receive_id or settings.WECOM_CORP_ID,
    )


def _event_xml(change_type: str, *, userid="lily", external_userid="wm9", create_time="1731000000", **extra):
    fields = {"ToUserName": settings.WECOM_CORP_ID, "FromUserName": "sys", "CreateTime": create_time,
              "MsgType": "event", "Event": "change_external_contact", "ChangeType": change_type, "UserID": userid,
              "ExternalUserID": external_userid, **extra}  # fmt: skip
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


def _now() -> str:
    """A signed timestamp inside the freshness window (WECOM_CALLBACK_MAX_AGE_SECONDS)."""
    return str(int(time.time()))


def _post(client, xml: str, *, crypto=None, tamper=None):
    sent = (crypto or _crypto()).encrypt_message(xml, timestamp=_now(), nonce="n0nce")
    params = {key: sent[key] for key in ("msg_signature", "timestamp", "nonce")}
    if tamper:
        tamper(params, sent)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"{URL}?{query}", data=sent["body"], content_type="text/xml")


def test_url_verification_answers_the_plaintext_exactly(client, db):
    echo, now = _crypto().encrypt("5927782489442352469"), _now()
    params = {"msg_signature": signature(settings.WECOM_CALLBACK_TOKEN, now, "n", echo), "timestamp": now,
              "nonce": "n", "echostr": echo}  # fmt: skip
    response = client.get(URL, params)
    assert response.status_code == 200 and response.content == b"5927782489442352469"


def test_url_verification_with_a_bad_signature_is_403(client, db):
    echo = _crypto().encrypt("123")
    response = client.get(URL, {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n", "echostr": echo})
    assert response.status_code == 403


def test_an_event_is_recorded_once_and_applied_after_commit(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        first = _post(client, _event_xml("add_external_contact"))
        replay = _post(client, _event_xml("add_external_contact"))
    assert first.status_code == replay.status_code == 200 and first.content == b""
    event = CallbackEvent.objects.get()
    assert (event.event, event.change_type, event.payload["ExternalUserID"]) == (
        "change_external_contact", "add_external_contact", "wm9"
    )  # fmt: skip
    assert len(scheduled) == 1, "a replay schedules nothing"


@pytest.mark.parametrize(
    "tamper,status",
    [
        (lambda params, sent: params.update(msg_signature="0" * 40), 403),
        (lambda params, sent: sent.update(body=sent["body"].replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[!")), 403),
        (lambda params, sent: params.update(nonce=""), 400),
        (lambda params, sent: sent.update(body="<xml><Encrypt>"), 400),
    ],
    ids=["bad-signature", "tampered-ciphertext", "missing-nonce", "garbage-xml"],
)
def test_bad_callbacks_are_refused_and_change_nothing(client, db, tamper, status):
    assert _post(client, _event_xml("add_external_contact"), tamper=tamper).status_code == status
    assert not CallbackEvent.objects.exists()


def test_bad_base64_is_refused(client, db):
    garbage = "!!not-base64!!"
    now = _now()
    sig = signature(settings.WECOM_CALLBACK_TOKEN, now, "n", garbage)
    body = f"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
    response = client.post(f"{URL}?msg_signature={sig}&timestamp={now}&nonce=n", data=body, content_type="text/xml")
    assert response.status_code == 400 and not CallbackEvent.objects.exists()


def test_another_corps_event_is_refused(client, db):
    response = _post(client, _event_xml("add_external_contact"), crypto=_crypto(receive_id="ww-another-corp"))
    assert response.status_code == 400 and not CallbackEvent.objects.exists()


def test_a_short_aes_key_in_a_request_cannot_crash_it(client, db):
    assert client.post(URL, data=base64.b64encode(b"x").decode(), content_type="text/xml").status_code == 400


# --- applying events against the sandbox --------------------------------------------------
@pytest.fixture
def synced(wecom_client, sandbox_corp):
    sync.directory_sync(client=wecom_client)
    return wecom_client


def _apply(xml: str, wecom_client) -> CallbackEvent:
    """Deliver the event through the endpoint, then run what the task runs."""
    from django.test import Client

    assert _post(Client(), xml).status_code == 200
    event = CallbackEvent.objects.order_by("-pk").first()
    return callbacks.callback_event_apply(event_id=event.pk, client=wecom_client)


def test_an_added_contact_appears_with_its_tags(synced, sandbox_corp):
    customer = sm.Customer.objects.create(external_userid="wm9", name="新客户")
    follow = sm.Follow.objects.create(member=sandbox_corp["lily"], customer=customer, createtime=1_731_000_000,
                                      add_way=1, state="valentine")  # fmt: skip
    sm.FollowTag.objects.create(follow=follow, tag=sm.Tag.objects.get(tag_id="etGold"))
    event = _apply(_event_xml("add_external_contact", external_userid="wm9"), synced)
    assert event.outcome == "contact added" and event.applied_at
    contact = Contact.objects.get(associate__userid="lily", customer__external_userid="wm9")
    assert contact.is_active and contact.state == "valentine" and contact.customer.name == "新客户"
    assert list(contact.tags.values_list("tag_id", flat=True)) == ["etGold"]
    again = callbacks.callback_event_apply(event_id=event.pk, client=synced)
    assert again.outcome == "contact added" and Contact.objects.filter(customer__external_userid="wm9").count() == 1


def test_a_deleted_contact_becomes_inactive_once(synced, sandbox_corp):
    sm.Follow.objects.filter(member=sandbox_corp["lily"], customer__external_userid="wm1").delete()
    event = _apply(_event_xml("del_follow_user", external_userid="wm1"), synced)
    assert event.outcome == "contact removed"
    contact = Contact.objects.get(associate__userid="lily", customer__external_userid="wm1")
    assert not contact.is_active and contact.removed_at is not None
    replayed = _apply(_event_xml("del_follow_user", external_userid="wm1", create_time="1731000009"), synced)
    assert replayed.outcome == "no change"


def test_a_delete_that_arrives_after_a_re_add_keeps_the_contact(synced, sandbox_corp):
    """Events can arrive out of order: WeCom's current state decides."""
    event = _apply(_event_xml("del_external_contact", external_userid="wm0"), synced)
    assert event.outcome in {"contact updated", "no change"}
    assert Contact.objects.get(associate__userid="lily", customer__external_userid="wm0").is_active


def test_a_customer_gone_from_wecom_is_removed(synced, sandbox_corp):
    sm.Customer.objects.filter(external_userid="wm2").delete()
    event = _apply(_event_xml("del_external_contact", external_userid="wm2"), synced)
    assert event.outcome == "contact removed"


def test_a_tag_change_resyncs_the_tag_library(synced, sandbox_corp):
    sm.Tag.objects.filter(tag_id="etGold").update(name="金卡 VIP")
    xml = _event_xml("update", userid="", external_userid="").replace("change_external_contact", "change_external_tag")
    event = _apply(xml.replace("</xml>", "<Id><![CDATA[etGold]]></Id><TagType><![CDATA[tag]]></TagType></xml>"),
                   synced)  # fmt: skip
    assert event.outcome.startswith("tags synced: tags_updated 1")
    assert CustomerTag.objects.get(tag_id="etGold").name == "金卡 VIP"


def test_an_event_for_an_unknown_associate_waits_for_the_sync(synced):
    event = _apply(_event_xml("add_external_contact", userid="newcomer"), synced)
    assert event.outcome.startswith("skipped: unknown associate")


def test_callbacks_answer_503_until_a_key_is_configured(client, db, settings):
    settings.WECOM_ENCODING_AES_KEY = ""
    response = client.get(URL, {"msg_signature": "x", "timestamp": "1", "nonce": "n", "echostr": "e"})
    assert response.status_code == 503


# --- lost jobs and refusals -----------------------------------------------------------------------
def _recorded(received_ago: dt.timedelta, **fields) -> CallbackEvent:
    key = f"test-{CallbackEvent.objects.count()}"
    event = CallbackEvent.objects.create(event="change_external_contact", change_type="add_external_contact", key=key,
                                         payload={"UserID": "lily", "ExternalUserID": "wm0", **fields})  # fmt: skip
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - received_ago)
    return event


def test_only_events_left_unapplied_past_the_delay_are_queued_again(db, settings):
    settings.MOMENTS_CALLBACK_STALE_SECONDS = 300
    lost = _recorded(dt.timedelta(minutes=10))
    older = _recorded(dt.timedelta(hours=30))
    _recorded(dt.timedelta(minutes=1))  # its job may still be on its way
    _recorded(dt.timedelta(days=3))  # the nightly sync has repaired it since
    applied = _recorded(dt.timedelta(hours=1))
    CallbackEvent.objects.filter(pk=applied.pk).update(applied_at=timezone.now(), outcome="contact updated")
    assert callbacks.callback_events_stale() == [older.pk, lost.pk]


def test_a_refusal_from_wecom_closes_the_event_with_its_reason(synced, sandbox_corp, settings, wecom_base_url):
    from staff.tasks import callback_event_apply_task

    settings.WECOM_BASE_URL = wecom_base_url
    sm.Fault.objects.create(endpoint="externalcontact/get", errcode=48002)
    event = _recorded(dt.timedelta(minutes=10))
    outcome = callback_event_apply_task.apply(args=[event.pk]).get()
    event.refresh_from_db()
    assert event.applied_at and event.outcome == outcome and outcome.startswith("failed (48002)")
    assert callbacks.callback_events_stale() == []  # not tried again
