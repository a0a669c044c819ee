"""The promise (issue 17): what was approved is exactly what goes out, to exactly the audience planned.
Each test here failed on the code before its fix; over real HTTP against the WeCom sandbox where WeCom
is involved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
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
    cf.approved_again(scheduled)
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


# --- personal touch under the brand's rules ------------------------------------------------------------------
def _lily_task(scheduled, wecom, *, policy: str, max_chars: int = 140):
    scheduled.variants.update(personal_touch=policy, personal_line_max=max_chars)
    cf.approved_again(scheduled)
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    return PublishTask.objects.select_related("moment__campaign", "variant", "associate", "version").get(
        associate__userid="lily"
    )


def test_it_refuses_a_personal_touch_with_a_forbidden_word_and_an_outside_link(scheduled, wecom, settings,
                                                                                wecom_base_url):  # fmt: skip
    """The issue's own example: accepted on /p/<token>/ and sent to WeCom before."""
    from campaigns.models import ForbiddenWord

    settings.WECOM_BASE_URL = wecom_base_url
    ForbiddenWord.objects.create(word="最低价")
    task = _lily_task(scheduled, wecom, policy="edit")
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.post(_link(task), {"copy": "全网最低价！快来抢 http://evil.example/x"})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-refused="touch"' in html
    assert "最低价" in html and "http://evil.example/x" in html  # said in plain words, naming what to remove
    assert not sm.MomentJob.objects.exists()  # nothing went to WeCom
    task.refresh_from_db()
    assert task.state == PublishTask.State.NOTIFIED and task.posted_text == ""


def test_a_personal_line_goes_before_the_brand_copy_and_is_bounded(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    task = _lily_task(scheduled, wecom, policy="line", max_chars=10)
    with pytest.raises(dispatch.PersonalTouchRefused) as refused:
        dispatch.publish_task_request(task=task, copy="这一行写得太长了超过十个字", client=wecom)
    assert "at most 10" in refused.value.problems[0]
    with pytest.raises(dispatch.PersonalTouchRefused):
        dispatch.publish_task_request(task=task, copy="两行\n文字", client=wecom)
    with pytest.raises(dispatch.PersonalTouchRefused):
        dispatch.publish_task_request(task=task, copy="看 brand-copy.cn/x", client=wecom)
    assert not sm.MomentJob.objects.exists()
    assert dispatch.publish_task_request(task=task, copy="我亲自试过 🌹", client=wecom)
    posted = sm.MomentJob.objects.get().request["text"]["content"]
    assert posted == "我亲自试过 🌹\n玫瑰系列上新，限时九折\n#情人节"
    task.refresh_from_db()
    assert task.posted_text == posted and task.edited_copy == "我亲自试过 🌹"


def test_without_personal_touch_the_brand_copy_goes_out_whatever_is_sent(scheduled, wecom):
    task = _lily_task(scheduled, wecom, policy="none")
    assert dispatch.publish_task_request(task=task, copy="全部换掉", client=wecom)
    assert sm.MomentJob.objects.get().request["text"]["content"] == "玫瑰系列上新，限时九折\n#情人节"


def test_the_brand_copy_may_not_carry_untracked_links_either():
    window = rules.Window(publish_at=None, expires_at=None)
    content = rules.VariantContent(copy="快来 https://elsewhere.example.com/x 看看", department_count=1)
    assert "https://elsewhere.example.com/x" in rules.variant_errors(content, window)["copy"][0]


# --- approved content is a frozen version --------------------------------------------------------------------
def test_what_goes_out_is_the_approved_version_even_if_the_variant_row_changes(scheduled, wecom):
    """Nothing the workflow does should change a scheduled variant; if anything does, it still does not go out."""
    scheduled.variants.update(copy="没人批准过的文案")
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    task = PublishTask.objects.get(associate__userid="lily")
    assert dispatch.publish_task_request(task=task, copy=None, client=wecom)
    assert sm.MomentJob.objects.get().request["text"]["content"] == "玫瑰系列上新，限时九折\n#情人节"


def test_editing_a_library_cta_after_approval_sends_the_moment_back_to_review(db):
    writer = factories.user("writer", role=MARKETING_ADMIN)
    editor = factories.user("editor", role=MARKETING_ADMIN)
    approver = factories.user("checker", role=APPROVER)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(writer))
    offer = cf.discount(moment.expires_at - dt.timedelta(hours=1))
    variant = cf.variant(moment, departments=[store], cta=offer)
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.moment_schedule(moment=moment, by=writer)
    approved = Moment.objects.get(pk=moment.pk)
    variant.refresh_from_db()
    first = variant.approved_version
    assert services.library_impact(offer) == [approved]  # what the editor is told before saving

    offer.label, offer.url = "全场五折", "https://elsewhere.example.com/sale"
    assert services.library_object_save(obj=offer, by=editor) == [approved]
    moment.refresh_from_db()
    variant.refresh_from_db()
    assert moment.state == State.IN_REVIEW
    assert variant.approved_version == first and "限时九折" in first.text  # the approved version is untouched
    with pytest.raises(services.WorkflowError):
        services.moment_schedule(moment=moment, by=writer)
    editor.groups.add(*approver.groups.all())  # even with the approver's role, the editor changed part of it
    with pytest.raises(PermissionDenied, match="another approver"):
        services.moment_decide(moment=moment, by=editor, approve=True)
    services.moment_decide(moment=moment, by=approver, approve=True)
    variant.refresh_from_db()
    assert "全场五折" in variant.approved_version.text and variant.approved_version.number == 2


def test_a_moment_going_out_keeps_its_approved_version_when_the_library_changes(scheduled, wecom):
    from campaigns.models import Hashtag

    dispatch.dispatch_due(enqueue=False)  # dispatching: its versions are going out
    tag = Hashtag.objects.get(text="情人节")
    tag.text = "改名"
    services.library_object_save(obj=tag, by=None)
    _notify_all(wecom)
    task = PublishTask.objects.get(associate__userid="lily")
    dispatch.publish_task_request(task=task, copy=None, client=wecom)
    assert sm.MomentJob.objects.get().request["text"]["content"].endswith("#情人节")


def test_a_scheduled_moment_cannot_lose_a_variant(scheduled):
    writer = factories.user("someone", role=MARKETING_ADMIN)
    with pytest.raises(services.WorkflowError):
        services.variant_delete(variant=scheduled.variants.get(), by=writer)
    assert scheduled.variants.count() == 1


def test_deleting_a_variant_of_an_approved_moment_withdraws_the_approval(db):
    writer = factories.user("writer", role=MARKETING_ADMIN)
    approver = factories.user("checker", role=APPROVER)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(writer))
    cf.variant(moment, departments=[store], name="A")
    second = cf.variant(moment, departments=[store], name="B")
    services.moment_submit(moment=moment, by=writer)
    services.moment_decide(moment=moment, by=approver, approve=True)
    services.variant_delete(variant=second, by=writer)
    moment.refresh_from_db()
    assert moment.state == State.DRAFT


def test_the_admin_offers_no_delete_for_a_scheduled_moments_variant(scheduled, client, marketing_admin):
    from django.urls import reverse

    client.force_login(marketing_admin)
    variant = scheduled.variants.get()
    response = client.post(reverse("admin:campaigns_variant_delete", args=[variant.pk]), {"post": "yes"})
    assert response.status_code == 403 and scheduled.variants.count() == 1


def test_four_eyes_a_re_save_by_another_writer_does_not_let_the_author_approve(db):
    """The author wrote the copy; a second writer re-saved it unchanged and submitted: before, only the owner,
    the last editor and the submitter were excluded, so the author (with the approver role) could approve."""
    owner = factories.user("owner", role=MARKETING_ADMIN)
    author = factories.user("author", role=APPROVER)
    author.groups.add(*factories.user("w2", role=MARKETING_ADMIN).groups.all())
    resaver = factories.user("resaver", role=MARKETING_ADMIN)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(owner))
    values = {"name": "全部", "tone": "warm", "copy": "作者写的文案", "target_departments": [store.wecom_id]}
    variant = services.variant_save(moment=moment, by=author, values=values)
    services.variant_save(moment=moment, by=resaver, variant=variant, values=values)  # unchanged
    services.moment_submit(moment=moment, by=resaver)
    with pytest.raises(PermissionDenied):
        services.moment_decide(moment=moment, by=author, approve=True)
    approval = services.moment_decide(moment=moment, by=factories.user("checker", role=APPROVER), approve=True)
    assert list(approval.versions.values_list("variant_id", flat=True)) == [variant.pk]


def test_the_moment_page_says_which_version_is_approved_and_shows_the_approver_the_difference(
    client, marketing_admin, approver
):
    from django.urls import reverse

    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(marketing_admin))
    variant = cf.variant(moment, departments=[store], name="全部客户")
    services.moment_submit(moment=moment, by=marketing_admin)
    services.moment_decide(moment=moment, by=approver, approve=True)
    variant.copy = "第二版文案"
    variant.save(update_fields=["copy"])
    services.moment_edited(moment=moment, by=marketing_admin)
    services.moment_submit(moment=moment, by=marketing_admin)
    client.force_login(approver)
    html = client.get(reverse("admin:campaigns_moment_change", args=[moment.pk])).content.decode()
    assert "version 1 approved by" in html and "version 2 awaits review" in html
    assert "-玫瑰系列上新，限时九折" in html and "+第二版文案" in html


# --- one notification per associate per moment --------------------------------------------------------------
@pytest.fixture
def two_variants(scheduled):
    """The scheduled moment with a second variant for the same store: each associate has two tasks."""
    store = scheduled.variants.get().target_departments.get()
    cf.variant(scheduled, departments=[store], name="金卡会员", copy="金卡专享")
    cf.approved_again(scheduled)
    return scheduled


@pytest.mark.parametrize("lead_first", [True, False])
def test_each_associate_gets_one_card_for_a_moments_variants(two_variants, wecom, lead_first):
    dispatch.dispatch_due(enqueue=False)
    lily = list(PublishTask.objects.filter(associate__userid="lily").order_by("pk"))
    assert len(lily) == 2
    order = lily if lead_first else lily[::-1]
    for task in order:
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    for task in order:  # the follower that waited is taken again (the reconciler re-queues pending tasks)
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    (message,) = sm.Message.objects.filter(userid="lily")
    description = message.content["textcard"]["description"]
    assert "全部客户" in description and "金卡会员" in description
    states = set(PublishTask.objects.filter(associate__userid="lily").values_list("state", "msgid"))
    assert states == {(PublishTask.State.NOTIFIED, message.msgid)}


def test_the_leads_page_links_the_moments_other_variants(two_variants, wecom):
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)
    lead, other = PublishTask.objects.filter(associate__userid="lily").order_by("pk")
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get(_link(lead)).content.decode()
    assert "data-siblings" in html and _link(other) in html and "金卡会员" in html


def test_a_failed_lead_fails_its_group_with_the_same_reason(two_variants, wecom):
    dispatch.dispatch_due(enqueue=False)
    _notify_all(wecom)  # Mia has no WeCom license in the sandbox corp
    assert set(PublishTask.objects.filter(associate__userid="mia").values_list("state", flat=True)) == {
        PublishTask.State.FAILED
    }
    assert not sm.Message.objects.filter(userid="mia", outcome="delivered").exists()


def test_the_forecast_panel_counts_overlapping_variants(client, marketing_admin):
    from django.urls import reverse

    store = factories.department("上海店")
    lily = factories.associate("lily", departments=[store])
    gold = factories.tag("金卡")
    factories.contact(lily, factories.customer("anna"), tags=[gold])
    factories.contact(lily, factories.customer("bo"))
    moment = cf.moment(cf.campaign(marketing_admin))
    cf.variant(moment, departments=[store], name="全部客户")
    cf.variant(moment, departments=[store], tags=[gold], name="金卡会员")
    from analytics import snapshots

    snapshots.recompute(moment.campaign_id)  # the worker's run (the page never forecasts)
    client.force_login(marketing_admin)
    html = client.get(reverse("admin:campaigns_moment_change", args=[moment.pk])).content.decode()
    assert 'data-forecast="variant-overlap">1<' in html  # anna is in both: two slots


# --- found by review ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["访问evil.com领券", "evil.com看看", "evil。com", "看 a.hk/x", "1.2.3.4:80/x"])
def test_links_written_next_to_chinese_are_found(text):
    assert rules.links_found(text)


@pytest.mark.parametrize("text", ["玫瑰系列上新，限时九折", "No.1 的选择", "3.5折起"])
def test_ordinary_copy_has_no_link(text):
    assert rules.links_found(text) == []


@pytest.mark.parametrize("char", ["\u2060", "\u00ad", "\ufeff", "\u2028", "\u0085", "\U000e0041"])
def test_invisible_characters_are_refused_and_do_not_hide_a_forbidden_word(char):
    touch = rules.PersonalTouch(policy="edit")
    assert rules.personal_touch_errors(f"最{char}低价", touch, forbidden=["最低价"])
    assert rules.forbidden_found([f"最{char}低价"], ["最低价"]) or char in ("\u2028", "\u0085")
    assert rules.personal_touch_errors("我亲自试过 👨\u200d👩\u200d👧", touch) == []  # the emoji joiner is fine


def test_a_saved_variant_cannot_be_moved_to_another_moment(client, marketing_admin):
    from django.urls import reverse

    store = factories.department("上海店")
    campaign = cf.campaign(marketing_admin)
    first, second = cf.moment(campaign), cf.moment(campaign, day=1)
    variant = cf.variant(first, departments=[store])
    client.force_login(marketing_admin)
    html = client.get(reverse("admin:campaigns_variant_change", args=[variant.pk])).content.decode()
    assert 'name="moment"' not in html  # read-only once saved
    client.post(reverse("admin:campaigns_variant_change", args=[variant.pk]), {"moment": second.pk})
    variant.refresh_from_db()
    assert variant.moment_id == first.pk


def test_a_clones_author_cannot_approve_it_nor_does_it_carry_an_approval(db):
    writer = factories.user("writer", role=MARKETING_ADMIN)
    writer.groups.add(*factories.user("a", role=APPROVER).groups.all())
    other = factories.user("other", role=MARKETING_ADMIN)
    approver = factories.user("checker", role=APPROVER)
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(other))
    services.variant_save(moment=moment, by=writer, values={"name": "全部", "tone": "warm", "copy": "作者的文案",
                                                            "target_departments": [store.wecom_id]})  # fmt: skip
    services.moment_submit(moment=moment, by=other)
    services.moment_decide(moment=moment, by=approver, approve=True)
    copy = services.moment_clone(moment=moment, by=other)
    assert copy.variants.get().approved_version is None
    services.moment_submit(moment=copy, by=other)
    with pytest.raises(PermissionDenied):
        services.moment_decide(moment=copy, by=writer, approve=True)


def test_a_library_editor_cannot_approve_a_draft_that_uses_their_change(db):
    writer = factories.user("writer", role=MARKETING_ADMIN)
    editor = factories.user("editor", role=MARKETING_ADMIN)
    editor.groups.add(*factories.user("a", role=APPROVER).groups.all())
    store = factories.department("上海店")
    moment = cf.moment(cf.campaign(writer))
    offer = cf.discount(moment.expires_at - dt.timedelta(hours=1))
    cf.variant(moment, departments=[store], cta=offer)
    offer.label = "编辑改过的优惠"
    assert services.library_object_save(obj=offer, by=editor) == []  # a draft: nothing goes back
    services.moment_submit(moment=moment, by=writer)
    with pytest.raises(PermissionDenied):
        services.moment_decide(moment=moment, by=editor, approve=True)


def test_a_library_save_that_changes_nothing_posted_keeps_the_approval(scheduled):
    from campaigns.models import Tone

    tone = Tone.objects.get(code="warm")
    tone.order = 99  # the vocabulary's order: nothing a customer sees
    assert services.library_object_save(obj=tone, by=None) == []
    scheduled.refresh_from_db()
    assert scheduled.state == State.SCHEDULED
    tone.name = "温柔"  # part of the version: reviewed again
    assert services.library_object_save(obj=tone, by=None) == [scheduled]


def test_a_task_published_before_any_card_does_not_swallow_the_others_card(two_variants, wecom):
    dispatch.dispatch_due(enqueue=False)
    lead, other = PublishTask.objects.filter(associate__userid="lily").order_by("pk")
    PublishTask.objects.filter(pk=lead.pk).update(state=PublishTask.State.PUBLISHED)  # WeCom's own push, say
    for task in (lead, other):
        dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    (message,) = sm.Message.objects.filter(userid="lily")
    other.refresh_from_db()
    assert other.state == PublishTask.State.NOTIFIED and other.msgid == message.msgid and other.notified_at


def test_a_variant_refused_by_wecom_does_not_fail_the_associates_other_variant(two_variants, wecom):
    dispatch.dispatch_due(enqueue=False)
    lead, other = PublishTask.objects.filter(associate__userid="lily").order_by("pk")
    PublishTask.objects.filter(pk=lead.pk).update(state=PublishTask.State.FAILED, error="WeCom refused the task")
    dispatch.publish_task_notify(task_id=other.pk, client=wecom, limiter=LocalTokenBucket())
    other.refresh_from_db()
    assert other.state == PublishTask.State.NOTIFIED and sm.Message.objects.filter(userid="lily").count() == 1


def test_a_video_variant_is_never_shared_through_the_js_sdk(scheduled, wecom):
    from campaigns.models import MediaAsset

    video = MediaAsset.objects.create(kind="video", width=1280, height=720, size=10, seconds=5, sha256="v" * 64,
                                      file="assets/v.mp4", thumbnail="assets/thumbs/v.jpg")  # fmt: skip
    scheduled.variants.update(video=video)
    cf.approved_again(scheduled)
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    with pytest.raises(dispatch.PublishRefused, match="video"):
        dispatch.publish_task_share(task=task, copy=None, public_url="https://moments.example.com/")
