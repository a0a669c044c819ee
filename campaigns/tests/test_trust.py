"""The promise (issue 17): what was approved is exactly what goes out, to exactly the audience planned.
Each test here failed on the code before its fix; over real HTTP against the WeCom sandbox where WeCom
is involved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from campaigns import dispatch, rules, services
from campaigns.models import CallToAction, Moment, PublishTask, State
from campaigns.tests import factories as cf
from campaigns.tests.test_opener import in_wecom_as
from staff.roles import APPROVER, MARKETING_ADMIN
from staff.tests import factories
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm


def _notify_all(wecom):
    for task in PublishTask.objects.all():
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())


def _link(task) -> str:
    return "/p/" + dispatch.publish_link_token(task) + "/"


# --- the notification card -----------------------------------------------------------------------------
def test_it_escapes_the_variant_name_in_the_cards_html_description(scheduled, wecom):
    scheduled.variants.update(name='<div class="highlight">紧急</div><br>')
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    description = sm.Message.objects.get(userid="lily").content["textcard"]["description"]
    assert "<div" not in description and "<br>" not in description
    assert "&lt;div class=&quot;highlight&quot;&gt;紧急&lt;/div&gt;&lt;br&gt;" in description


# --- the tier-exclusive call to action ----------------------------------------------------------------------
@pytest.fixture
def gold_offer(db):
    gold = factories.tag("金卡")
    offer = CallToAction.objects.create(kind=CallToAction.Kind.TIER_OFFER, label="金卡专享 8 折", tier=gold)
    return gold, offer


def test_it_refuses_a_tier_offer_on_an_everyone_variant(gold_offer):
    gold, offer = gold_offer
    window = rules.Window(publish_at=None, expires_at=None)
    everyone = rules.VariantContent(copy="上新", department_count=1, cta=offer, audience_all=True)
    assert "金卡" in rules.variant_errors(everyone, window)["cta"][0]
    silver = factories.tag("银卡")
    both = rules.VariantContent(copy="上新", department_count=1, cta=offer, audience_all=False, audience_tag_count=2,
                                audience_tag_pks=(gold.pk, silver.pk))  # fmt: skip
    assert "cta" in rules.variant_errors(both, window)  # silver customers would see gold's offer
    exact = rules.VariantContent(copy="上新", department_count=1, cta=offer, audience_all=False, audience_tag_count=1,
                                 audience_tag_pks=(gold.pk,))  # fmt: skip
    assert rules.variant_errors(exact, window) == {}


def test_it_refuses_to_submit_a_moment_whose_everyone_variant_carries_a_tier_offer(gold_offer):
    _gold, offer = gold_offer
    writer = factories.user("writer", role=MARKETING_ADMIN)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(writer))
    cf.variant(moment, departments=[store], cta=offer)
    with pytest.raises(ValidationError) as refused:
        services.moment_submit(moment=moment, by=writer)
    assert "exclusive to the tier" in str(refused.value)


def test_the_api_path_refuses_a_tier_offer_on_an_everyone_variant(gold_offer):
    _gold, offer = gold_offer
    writer = factories.user("writer", role=MARKETING_ADMIN)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(writer))
    values = {"name": "全部", "tone": "warm", "copy": "上新", "audience_all": True, "cta": str(offer.public_id),
              "target_departments": [store.wecom_id]}  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.variant_save(moment=moment, by=writer, values=values)
    assert "cta" in refused.value.message_dict


# --- a tagged variant inside the WeCom client ---------------------------------------------------------------
@pytest.fixture
def tagged(team, db):
    """A moment due now whose only variant is for gold customers."""
    store, _people = team
    gold = factories.tag("金卡")
    group, _created = sm.TagGroup.objects.get_or_create(group_id="g-tier", defaults={"name": "Tier"})
    sm.Tag.objects.get_or_create(tag_id=gold.tag_id, defaults={"name": "金卡", "group": group})
    writer = factories.user("writer", role=MARKETING_ADMIN)
    approver = factories.user("checker", role=APPROVER)
    campaign = cf.campaign(writer, days_ahead=0, length=2)
    now = timezone.now()
    moment = Moment.objects.create(campaign=campaign, title="金卡专享", publish_at=now + dt.timedelta(minutes=5),
                                   expires_at=now + dt.timedelta(hours=12))  # fmt: skip
    cf.variant(moment, departments=[store], tags=[gold], name="金卡会员")
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    Moment.objects.filter(pk=moment.pk).update(publish_at=now - dt.timedelta(seconds=1))
    return gold


def test_inside_the_client_a_tagged_variant_is_published_as_a_task_with_its_tags(tagged, wecom, settings,
                                                                                 wecom_base_url):  # fmt: skip
    settings.WECOM_BASE_URL = wecom_base_url
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    task = PublishTask.objects.get(associate__userid="lily")
    lily = in_wecom_as("lily")
    page = lily.get(_link(task), follow=True)
    html = page.content.decode()
    assert page.status_code == 200
    assert "wecom-agent-config" not in html  # no JS-SDK: shareToExternalMoments has no visible range
    assert 'data-audience="tagged"' in html
    refused = lily.post(_link(task) + "share")
    assert refused.status_code == 409 and refused.json() == {"error": "tagged"}
    task.refresh_from_db()
    assert task.state == PublishTask.State.OPENED  # the refused share claimed nothing
    lily.post(_link(task), {})
    job = sm.MomentJob.objects.get()
    assert job.request["visible_range"]["external_contact_list"] == {"tag_list": [tagged.tag_id]}
    assert job.request["visible_range"]["sender_list"] == {"user_list": ["lily"]}


def test_an_untagged_variant_still_offers_the_js_sdk_inside_the_client(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    task = PublishTask.objects.get(associate__userid="lily")
    html = in_wecom_as("lily").get(_link(task), follow=True).content.decode()
    assert "wecom-agent-config" in html and 'data-audience="tagged"' not in html


def test_outside_the_client_the_page_is_unchanged_for_a_tagged_variant(tagged, wecom):
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    task = PublishTask.objects.get(associate__userid="lily")
    assert Client(HTTP_ACCEPT_LANGUAGE="en").get(_link(task)).status_code == 200
    assert State(Moment.objects.get().state) == State.DISPATCHING
