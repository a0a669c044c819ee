"""Channel QR codes and the welcome journey (campaigns.channels, docs/wecom-contact-way.md):
codes made over real HTTP in the sandbox, a customer scanning one there, the callback pushed
to our endpoint signed and encrypted, the welcome message the customer receives, and the
new contacts per campaign and channel."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import channels
from campaigns.models import Campaign, ChannelCode, WelcomeSent
from campaigns.tests import factories as cf
from staff import callbacks
from staff.models import CallbackEvent, Contact
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories
from wecom.errors import TransientError
from wecom.sandbox import events
from wecom.sandbox import models as sm

WELCOME = "欢迎来到玫瑰之约！回复 1 领取情人节礼盒。"


@pytest.fixture
def writer(db):
    return factories.user("writer", role=MARKETING_ADMIN)


@pytest.fixture
def valentine(writer):
    campaign = cf.campaign(writer, name="情人节 2027 · 玫瑰之约 · 全国门店会员招募活动")
    Campaign.objects.filter(pk=campaign.pk).update(welcome_text=WELCOME)
    campaign.refresh_from_db()
    return campaign


def _scan(live_server, config_id: str, external_userid: str, **extra) -> httpx.Response:
    """A customer scans the QR code, in the sandbox (its control plane, over HTTP)."""
    url = f"{live_server.url}/wecom-sandbox/control/contact_ways/{config_id}/scan"
    return httpx.post(url, json={"external_userid": external_userid, "name": "新客户", **extra}, timeout=10)


def _welcomes(live_server, external_userid: str) -> list[dict]:
    url = f"{live_server.url}/wecom-sandbox/control/customers/{external_userid}/welcome"
    return httpx.get(url, timeout=10).json()["welcome_messages"]


def _deliver_and_apply(live_server, wecom) -> CallbackEvent:
    """WeCom pushes the latest event to our endpoint (signed, encrypted); then what the task runs."""
    delivery = sm.CallbackDelivery.objects.order_by("-pk").first()
    assert events.callback_push(delivery, url=f"{live_server.url}/wecom/callback/")
    event = CallbackEvent.objects.order_by("-pk").first()
    return callbacks.callback_event_apply(event_id=event.pk, client=wecom)


# --- creating the codes ---------------------------------------------------------------------------
def test_it_creates_one_code_per_associate_over_http_and_keeps_them(wecom, team, valentine):
    _, people = team
    result = channels.channel_codes_create(campaign=valentine, associates=[people["lily"], people["ken"]],
                                           client=wecom)  # fmt: skip
    assert (result.created, result.existing, result.failed) == (2, 0, [])
    codes = {c.associate.userid: c for c in ChannelCode.objects.select_related("associate")}
    assert set(codes) == {"lily", "ken"}
    for userid, code in codes.items():
        assert code.state.startswith("m") and len(code.state) <= 30 and code.qr_code.startswith("http")
        way = sm.ContactWay.objects.get(config_id=code.config_id)
        assert (way.type, way.scene, way.user, way.state) == (1, 2, [userid], code.state)
        assert way.remark == valentine.name[:30]
    again = channels.channel_codes_create(campaign=valentine, associates=[people["lily"], people["ken"]],
                                          client=wecom)  # fmt: skip
    assert (again.created, again.existing) == (0, 2)
    assert sm.ContactWay.objects.count() == 2 and ChannelCode.objects.count() == 2


def test_a_refusal_is_recorded_and_a_later_run_completes_it(wecom, team, valentine):
    store, people = team
    sm.Member.objects.create(userid="newbie", name="New", department=[3], status=sm.Member.Status.NOT_ACTIVATED)
    newbie = factories.associate("newbie", departments=[store])
    newbie.userid = "newbie"
    newbie.save(update_fields=["userid"])
    result = channels.channel_codes_create(campaign=valentine, associates=[people["lily"], newbie], client=wecom)
    assert result.created == 1 and [c.associate_id for c in result.failed] == [newbie.pk]
    refused = ChannelCode.objects.get(associate=newbie)
    assert (refused.config_id, refused.errcode) == ("", 41054) and "activated" in refused.error
    sm.Member.objects.filter(userid="newbie").update(status=sm.Member.Status.ACTIVE)
    later = channels.channel_codes_create(campaign=valentine, associates=[people["lily"], newbie], client=wecom)
    assert (later.created, later.existing) == (1, 1)
    refused.refresh_from_db()
    assert refused.config_id and refused.errcode is None and refused.error == ""
    assert sm.ContactWay.objects.get(config_id=refused.config_id).state == refused.state  # the state was kept


def test_a_transient_error_stops_the_run_and_nothing_is_lost(wecom, team, valentine):
    _, people = team
    sm.Fault.objects.create(endpoint="externalcontact/add_contact_way", errcode=-1, remaining=1)
    with pytest.raises(TransientError):
        channels.channel_codes_create(campaign=valentine, associates=people.values(), client=wecom)
    states = dict(ChannelCode.objects.values_list("associate_id", "state"))
    assert len(states) == 3 and not ChannelCode.objects.exclude(config_id="").exists()
    result = channels.channel_codes_create(campaign=valentine, associates=people.values(), client=wecom)
    assert result.created == 3 and dict(ChannelCode.objects.values_list("associate_id", "state")) == states


def test_a_limit_leaves_the_rest_for_the_next_run(wecom, team, valentine):
    _, people = team
    first = channels.channel_codes_create(campaign=valentine, associates=people.values(), client=wecom, limit=1)
    assert (first.created, first.pending) == (1, 2)
    rest = channels.channel_codes_create(campaign=valentine, associates=people.values(), client=wecom, limit=5)
    assert (rest.created, rest.existing, rest.pending) == (2, 1, 0)


# --- the welcome journey ----------------------------------------------------------------------------
@pytest.fixture
def lily_code(wecom, team, valentine):
    _, people = team
    channels.channel_codes_create(campaign=valentine, associates=[people["lily"]], client=wecom)
    return ChannelCode.objects.get()


def test_a_customer_who_scans_is_attributed_and_welcomed_once(live_server, wecom, team, valentine, lily_code):
    _, people = team
    assert _scan(live_server, lily_code.config_id, "wmROSE").status_code == 200

    event = _deliver_and_apply(live_server, wecom)

    assert "contact added" in event.outcome and "welcome sent" in event.outcome
    contact = Contact.objects.get(customer__external_userid="wmROSE")
    assert (contact.associate, contact.state, contact.add_way) == (people["lily"], lily_code.state, 1)
    received = _welcomes(live_server, "wmROSE")
    assert [(m["userid"], m["text"]) for m in received] == [("lily", WELCOME)]
    sent = WelcomeSent.objects.get()
    assert (sent.state, sent.channel_code, sent.external_userid, sent.event) == ("sent", lily_code, "wmROSE", event)
    stats = channels.new_contacts_by_campaign([valentine.pk])[valentine.pk]
    assert (stats.total, stats.active, stats.by_associate) == (1, 1, {people["lily"].pk: 1})

    # WeCom retries the same push: stored once, nothing more happens.
    delivery = sm.CallbackDelivery.objects.get()
    assert events.callback_push(delivery, url=f"{live_server.url}/wecom/callback/")
    assert CallbackEvent.objects.count() == 1
    # The task runs again before it could mark the event applied (a crash, acks_late): no second send.
    CallbackEvent.objects.filter(pk=event.pk).update(applied_at=None)
    callbacks.callback_event_apply(event_id=event.pk, client=wecom)
    assert len(_welcomes(live_server, "wmROSE")) == 1
    assert WelcomeSent.objects.get().state == "sent"  # a second call would have got 41051


def test_a_code_older_than_20_seconds_is_refused_recorded_and_not_retried(live_server, wecom, team, lily_code):
    code = _scan(live_server, lily_code.config_id, "wmLATE").json()["welcome_code"]
    # The worker picked the event up late: age the code where the sandbox keeps its issue time.
    sm.WelcomeCode.objects.filter(code=code).update(issued_at=timezone.now() - dt.timedelta(seconds=21))

    event = _deliver_and_apply(live_server, wecom)

    sent = WelcomeSent.objects.get()
    assert (sent.state, sent.errcode, sent.sent_at) == ("failed", 41050, None) and "20 seconds" in sent.error
    assert "welcome failed (41050)" in event.outcome and "contact added" in event.outcome
    assert _welcomes(live_server, "wmLATE") == []
    # Applying again never calls WeCom: a fault waiting for the next call stays unused.
    fault = sm.Fault.objects.create(endpoint="externalcontact/send_welcome_msg", errcode=-1, remaining=1)
    CallbackEvent.objects.filter(pk=event.pk).update(applied_at=None)
    callbacks.callback_event_apply(event_id=event.pk, client=wecom)
    fault.refresh_from_db()
    assert fault.remaining == 1 and WelcomeSent.objects.get().state == "failed"


def test_another_channel_or_no_welcome_text_sends_nothing(live_server, wecom, team, valentine, lily_code):
    store_way = wecom.add_contact_way(user=["ken"], state="store-qr")
    _scan(live_server, store_way["config_id"], "wmSTORE")
    outsider = _deliver_and_apply(live_server, wecom)
    assert outsider.outcome == "contact added"
    Campaign.objects.filter(pk=valentine.pk).update(welcome_text="")
    _scan(live_server, lily_code.config_id, "wmQUIET")
    quiet = _deliver_and_apply(live_server, wecom)
    assert quiet.outcome == "contact added"
    assert not WelcomeSent.objects.exists() and _welcomes(live_server, "wmSTORE") == _welcomes(live_server, "wmQUIET")
    assert Contact.objects.get(customer__external_userid="wmQUIET").state == lily_code.state  # still attributed


def test_the_welcome_goes_before_the_reconcile(live_server, wecom, team, lily_code):
    """The contact reconcile fails (WeCom busy): the welcome was already sent, the event is left
    for the task's retry, and the retry does not send it again."""
    _scan(live_server, lily_code.config_id, "wmBUSY")
    sm.Fault.objects.create(endpoint="externalcontact/get", errcode=-1, remaining=1)
    delivery = sm.CallbackDelivery.objects.get()
    assert events.callback_push(delivery, url=f"{live_server.url}/wecom/callback/")
    event = CallbackEvent.objects.get()
    with pytest.raises(TransientError):
        callbacks.callback_event_apply(event_id=event.pk, client=wecom)
    assert len(_welcomes(live_server, "wmBUSY")) == 1
    applied = callbacks.callback_event_apply(event_id=event.pk, client=wecom)
    assert applied.applied_at and "contact added" in applied.outcome
    assert len(_welcomes(live_server, "wmBUSY")) == 1 and WelcomeSent.objects.get().state == "sent"


# --- new contacts per campaign and channel -----------------------------------------------------------
def _came_through(code: ChannelCode, name: str, *, active: bool = True) -> Contact:
    contact = factories.contact(code.associate, factories.customer(name))
    Contact.objects.filter(pk=contact.pk).update(state=code.state, add_way=Contact.AddWay.QR_CODE, is_active=active)
    return contact


def test_new_contacts_are_counted_per_campaign_and_associate_within_the_scope(directory, writer):
    spring, summer, empty = (cf.campaign(writer, name=n) for n in ("Spring", "Summer", "Empty"))
    east, south = directory.east_associate, directory.south_associate
    spring_east = ChannelCode.objects.create(campaign=spring, associate=east, state="mSPRINGEAST")
    spring_south = ChannelCode.objects.create(campaign=spring, associate=south, state="mSPRINGSOUTH")
    summer_east = ChannelCode.objects.create(campaign=summer, associate=east, state="mSUMMEREAST")
    for i in range(3):
        _came_through(spring_east, f"se{i}")
    _came_through(spring_east, "gone", active=False)
    _came_through(spring_south, "ss")
    _came_through(summer_east, "me")
    # The same state with another associate is not this code's contact.
    stray = factories.contact(south, factories.customer("stray"))
    Contact.objects.filter(pk=stray.pk).update(state=summer_east.state)

    everyone = channels.new_contacts_by_campaign([spring.pk, summer.pk, empty.pk])
    assert (everyone[spring.pk].total, everyone[spring.pk].active) == (5, 4)
    assert everyone[spring.pk].by_associate == {east.pk: 4, south.pk: 1}
    assert everyone[summer.pk].by_associate == {east.pk: 1}
    assert everyone[empty.pk].total == 0 and everyone[empty.pk].by_associate == {}

    from staff.models import Associate

    east_only = channels.new_contacts_by_campaign([spring.pk], Associate.objects.filter(pk=east.pk))
    assert east_only[spring.pk].by_associate == {east.pk: 4} and east_only[spring.pk].total == 4


def test_counting_new_contacts_is_one_query(directory, writer, django_assert_num_queries):
    campaigns = [cf.campaign(writer, name=f"c{i}") for i in range(5)]
    for i, campaign in enumerate(campaigns):
        for associate in (directory.east_associate, directory.south_associate):
            code = ChannelCode.objects.create(campaign=campaign, associate=associate, state=f"m{i}{associate.pk}")
            for j in range(4):
                _came_through(code, f"c{i}-{associate.pk}-{j}")
    from staff.models import Associate

    with django_assert_num_queries(1):
        result = channels.new_contacts_by_campaign([c.pk for c in campaigns], Associate.objects.all())
    assert all(stats.total == 8 for stats in result.values())


# --- the campaign admin -------------------------------------------------------------------------------
@pytest.fixture
def targeted(valentine, team):
    store, _ = team
    cf.variant(cf.moment(valentine), departments=[store])
    return valentine


def test_the_admin_creates_the_codes_shows_them_and_downloads_them(client, settings, wecom_base_url, targeted, writer):
    settings.WECOM_BASE_URL = wecom_base_url
    client.force_login(writer)
    url = reverse("admin:campaigns_campaign_create_channel_codes", args=[targeted.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert "3 QR codes created, 0 already there." in response.content.decode()
    assert sm.ContactWay.objects.count() == 3
    page = client.get(reverse("admin:campaigns_campaign_change", args=[targeted.pk])).content.decode()
    for code in ChannelCode.objects.all():
        assert code.state in page
    download = client.get(reverse("admin:campaigns_campaign_download_channel_codes", args=[targeted.pk]))
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert download["Content-Type"].startswith("text/csv") and len(rows) == 4
    assert sorted(row[1] for row in rows[1:]) == ["ken", "lily", "mia"]
    assert {row[2] for row in rows[1:]} == set(ChannelCode.objects.values_list("state", flat=True))
    client.post(url)  # again: nothing new
    assert sm.ContactWay.objects.count() == 3


def test_the_admin_says_when_no_associate_is_targeted(client, valentine, writer):
    client.force_login(writer)
    response = client.post(reverse("admin:campaigns_campaign_create_channel_codes", args=[valentine.pk]), follow=True)
    assert "No associate is targeted yet" in response.content.decode() and not ChannelCode.objects.exists()


def test_an_approver_may_download_but_not_create(client, targeted):
    approver = factories.user("checker", role=APPROVER)
    client.force_login(approver)
    assert client.post(reverse("admin:campaigns_campaign_create_channel_codes", args=[targeted.pk])).status_code == 403
    download = client.get(reverse("admin:campaigns_campaign_download_channel_codes", args=[targeted.pk]))
    assert download.status_code == 200 and not ChannelCode.objects.exists()


def _change(campaign: Campaign, **values) -> dict:
    return {"name": campaign.name, "goal": campaign.goal, "starts_on": campaign.starts_on, "ends_on": campaign.ends_on,
            "moments-TOTAL_FORMS": "0", "moments-INITIAL_FORMS": "0", **values}  # fmt: skip


def test_the_welcome_text_is_edited_in_the_campaign_form(client, valentine, writer):
    client.force_login(writer)
    url = reverse("admin:campaigns_campaign_change", args=[valentine.pk])
    assert 'name="welcome_text"' in client.get(url).content.decode()
    assert client.post(url, _change(valentine, welcome_text="你好，欢迎！")).status_code == 302
    valentine.refresh_from_db()
    assert valentine.welcome_text == "你好，欢迎！"
    too_long = client.post(url, _change(valentine, welcome_text="玫" * 1334))  # 4002 bytes
    assert too_long.status_code == 200 and "4002 bytes" in too_long.content.decode()
    valentine.refresh_from_db()
    assert valentine.welcome_text == "你好，欢迎！"
