"""Drafting-time warnings (campaigns.planning): a moment nobody can publish in time (quiet hours
against its expiry), WeCom's 10 tasks a minute against its associates, and overlapping variants
with the complementary tags that would make an all-contacts variant exclusive. Warnings, never
refusals; shown on the moment and campaign pages in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import snapshots
from campaigns import planning, services
from campaigns.dispatch import variant_associate_ids
from campaigns.models import Moment, State
from campaigns.tests import factories as cf
from staff.models import Associate, Contact
from staff.roles import MARKETING_ADMIN
from staff.tests import factories


@pytest.fixture
def quiet_nights(settings):
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = 22, 8


@pytest.fixture
def shop(db):
    store = factories.department("上海店")
    owner = factories.user("planner", role=MARKETING_ADMIN)
    campaign = cf.campaign(owner)
    return {"store": store, "owner": owner, "campaign": campaign, "day": campaign.starts_on,
            "lily": factories.associate("Lily", departments=[store])}  # fmt: skip


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def _moment(shop, at: dt.datetime, *, hours: float = 6, mode=Moment.Mode.ASSOCIATE, title="情人节") -> Moment:
    return Moment.objects.create(campaign=shop["campaign"], title=title, publish_at=at,
                                 expires_at=at + dt.timedelta(hours=hours), mode=mode)  # fmt: skip


# --- quiet hours against the expiry ------------------------------------------------------------------
def test_it_warns_that_nobody_can_publish_a_2350_moment_that_expires_before_the_morning(shop, quiet_nights):
    moment = _moment(shop, _at(shop["day"], 23, 50), hours=6)
    cf.variant(moment, departments=[shop["store"]])
    assert not planning.moment_can_be_published(moment)
    window = planning.publish_window(moment)
    assert timezone.localtime(window.opens).time() == dt.time(8) and window.minutes == 0
    (warning,) = planning.moment_warnings(moment)
    assert warning.startswith("Nobody can publish this moment: it is planned at")
    assert "quiet hours (22:00–08:00)" in warning and "before the first notification at" in warning
    assert f"{shop['day'] + dt.timedelta(days=1):%Y-%m-%d} 08:00" in warning


def test_it_says_how_much_publishable_time_the_quiet_hours_leave(shop, quiet_nights):
    moment = _moment(shop, _at(shop["day"], 23), hours=11)  # until 10:00; notified at 08:00
    cf.variant(moment, departments=[shop["store"]])
    assert planning.moment_can_be_published(moment)
    assert planning.moment_warnings(moment) == [
        "This moment is planned in the quiet hours (22:00–08:00): its notifications wait until "
        f"{shop['day'] + dt.timedelta(days=1):%Y-%m-%d} 08:00, which leaves the associates only 2 hours of its "
        "11 hours to publish."
    ]
    early = _moment(shop, _at(shop["day"], 7, 30), hours=2.5)
    assert "only 2 hours of its 2 hours 30 minutes" in planning.moment_warnings(early)[0]


def test_a_moment_outside_the_quiet_hours_or_in_enterprise_mode_has_no_timing_warning(shop, quiet_nights):
    daytime = _moment(shop, _at(shop["day"], 21), hours=1)  # ends at 22:00, as the night starts
    assert planning.moment_can_be_published(daytime) and planning.moment_warnings(daytime) == []
    enterprise = _moment(shop, _at(shop["day"], 23, 50), mode=Moment.Mode.ENTERPRISE)  # WeCom pushes it itself
    assert planning.moment_can_be_published(enterprise) and planning.moment_warnings(enterprise) == []


def test_the_quiet_hours_are_dispatchs_setting(shop, settings):
    settings.MOMENTS_QUIET_START = settings.MOMENTS_QUIET_END = 0  # no quiet hours
    assert planning.moment_can_be_published(_moment(shop, _at(shop["day"], 23, 50)))
    settings.MOMENTS_QUIET_START, settings.MOMENTS_QUIET_END = 1, 5  # a window not across midnight
    assert not planning.moment_can_be_published(_moment(shop, _at(shop["day"], 1, 30), hours=2))
    assert planning.moment_can_be_published(_moment(shop, _at(shop["day"], 1, 30), hours=4))


# --- WeCom's 10 tasks a minute -------------------------------------------------------------------
def _associates(shop, count: int) -> list[Associate]:
    return [factories.associate(f"A{i}", departments=[shop["store"]]) for i in range(count)]


def test_it_warns_when_wecom_cannot_create_every_associates_task_inside_the_window(shop):
    _associates(shop, 24)  # 25 with Lily: 3 minutes at 10 a minute
    moment = _moment(shop, _at(shop["day"], 10), hours=2 / 60)
    cf.variant(moment, departments=[shop["store"]])
    (warning,) = planning.moment_warnings(moment)
    assert warning == (
        "WeCom creates at most 10 moment tasks a minute per enterprise, and each of the 25 associates' posts "
        "published outside the WeCom client creates one: that takes at least 3 minutes, but the moment is open "
        "for only 2 minutes. Some associates would not manage to publish in time."
    )
    Moment.objects.filter(pk=moment.pk).update(expires_at=moment.publish_at + dt.timedelta(minutes=3))
    moment.refresh_from_db()
    assert planning.moment_warnings(moment) == []  # it fits


def test_in_enterprise_mode_each_variant_is_one_task(shop):
    _associates(shop, 24)
    moment = _moment(shop, _at(shop["day"], 10), hours=2 / 60, mode=Moment.Mode.ENTERPRISE)
    cf.variant(moment, departments=[shop["store"]])
    assert planning.moment_warnings(moment) == []
    assert planning.wecom_tasks_needed(moment, [25, 0, 100_001]) == 3
    assert planning.wecom_tasks_needed(_moment(shop, _at(shop["day"], 11)), [25, 0, 100_001]) == 100_026


def test_the_targeted_associates_are_dispatchs(shop):
    """The set-based targets equal dispatch.variant_associate_ids: named associates, departments'
    subtrees, active associates only, each once."""
    region = factories.department("华东", kind="region")
    store = factories.department("南京店", parent=region)
    ken = factories.associate("Ken", departments=[store, shop["store"]])
    gone = factories.associate("Gone", departments=[store])
    Associate.objects.filter(pk=gone.pk).update(is_active=False)
    moment = _moment(shop, _at(shop["day"], 10))
    variants = [
        cf.variant(moment, departments=[region], name="region"),
        cf.variant(moment, departments=[region, shop["store"]], associates=[ken, shop["lily"]], name="both"),
        cf.variant(moment, associates=[gone], name="gone"),
        cf.variant(moment, name="nobody"),
    ]
    check = planning.moments_check([moment])[moment.pk]
    assert check.associates == {v.pk: len(variant_associate_ids(v)) for v in variants} == {
        variants[0].pk: 1, variants[1].pk: 2, variants[2].pk: 0, variants[3].pk: 0}  # fmt: skip


# --- overlapping variants ----------------------------------------------------------------------------
@pytest.fixture
def tiers(shop):
    """A tier group of three (gold, silver, regular) and an interest tag; Lily's customers: three
    gold, one silver, one regular, one with no tier, one gold who removed her (inactive)."""
    tags = {name: factories.tag(name, group_name="会员等级") for name in ("金卡会员", "银卡会员", "普通会员")}
    tags["护肤"] = factories.tag("护肤", group_name="兴趣偏好")
    lily = shop["lily"]
    for name, tier in [("g1", "金卡会员"), ("g2", "金卡会员"), ("g3", "金卡会员"), ("s1", "银卡会员"),
                       ("r1", "普通会员"), ("n1", None)]:  # fmt: skip
        factories.contact(lily, factories.customer(name), tags=[tags[tier]] if tier else [])
    gone = factories.contact(lily, factories.customer("gone"), tags=[tags["金卡会员"]])
    Contact.objects.filter(pk=gone.pk).update(is_active=False)
    return tags


def test_it_counts_the_customers_in_two_variants_and_proposes_the_complementary_tags(shop, tiers):
    moment = _moment(shop, _at(shop["day"], 10))
    gold = cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    others = cf.variant(moment, departments=[shop["store"]], name="其他客户")  # all contacts: the gold ones too
    overlaps = planning.moment_overlaps(moment)
    assert overlaps.customers == 3
    assert [(p.first, p.second, p.customers) for p in overlaps.pairs] == [(gold, others, 3)]
    (proposal,) = overlaps.proposals
    assert proposal.variant == others
    assert [t.name for t in proposal.tags] == ["普通会员", "银卡会员"]  # not the interest group's tag
    assert (proposal.falls_out, proposal.still_overlap) == (1, 0)  # n1 has no tier
    assert planning.moment_warnings(moment) == [
        "3 customers are in two variants of this moment: WeCom's visible range can only include tags, so they get "
        "each variant, and each takes a slot in their feed.",
        "To make “其他客户” exclusive, target the tags “普通会员”, “银卡会员” instead of all contacts. 1 customer "
        "carries none of these tags nor the other variants' and would then get no variant.",
    ]
    assert [t.name for t in planning.complementary_tags([tiers["金卡会员"]])] == ["普通会员", "银卡会员"]


def test_made_exclusive_the_variants_no_longer_overlap(shop, tiers):
    moment = _moment(shop, _at(shop["day"], 10))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], tags=planning.complementary_tags([tiers["金卡会员"]]),
               name="其他客户")  # fmt: skip
    assert planning.moment_overlaps(moment).customers == 0 and planning.moment_warnings(moment) == []


def test_a_customer_with_several_tags_would_still_be_in_two_variants(shop, tiers):
    Contact.objects.get(customer__name="g1").tags.add(tiers["银卡会员"])  # tags are not exclusive in WeCom
    moment = _moment(shop, _at(shop["day"], 10))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], name="其他客户")
    (proposal,) = planning.moment_overlaps(moment).proposals
    assert proposal.still_overlap == 1
    assert "1 customer would still be in two variants (they carry several of the tags)." in (
        planning.moment_warnings(moment)[1])  # fmt: skip


def test_three_variants_name_each_overlapping_pair(shop, tiers):
    moment = _moment(shop, _at(shop["day"], 10))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"], tiers["银卡会员"]], name="金银")
    cf.variant(moment, associates=[shop["lily"]], name="其他客户")
    overlaps = planning.moment_overlaps(moment)
    assert overlaps.customers == 4  # the three gold ones (in all three) and s1 (in two); r1 is in one
    assert sorted(p.customers for p in overlaps.pairs) == [3, 3, 4]
    warnings = planning.moment_warnings(moment)
    assert warnings[0].startswith("4 customers are in two or more variants of this moment")
    assert "4 customers are in both “金银” and “其他客户”." in warnings


def test_an_everyone_variant_whose_tag_group_has_no_other_tag_is_said_so(shop):
    only = factories.tag("VIP", group_name="VIP")
    factories.contact(shop["lily"], factories.customer("v1"), tags=[only])
    moment = _moment(shop, _at(shop["day"], 10))
    cf.variant(moment, departments=[shop["store"]], tags=[only], name="VIP")
    cf.variant(moment, departments=[shop["store"]], name="全部客户")
    warnings = planning.moment_warnings(moment)
    assert warnings[0].startswith("1 customer is in two variants of this moment")
    assert warnings[1].startswith(
        "“全部客户” cannot be made exclusive: the other variants' tag groups have no other tag."
    )


def test_variants_for_different_associates_do_not_overlap(shop, tiers):
    ken = factories.associate("Ken", departments=[factories.department("南京店")])
    moment = _moment(shop, _at(shop["day"], 10))
    cf.variant(moment, associates=[shop["lily"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, associates=[ken], name="其他客户")
    assert planning.moment_overlaps(moment).customers == 0


# --- warnings, not refusals; on the pages ----------------------------------------------------------
def test_warnings_do_not_stop_a_moment_from_being_submitted(shop, tiers, quiet_nights):
    moment = _moment(shop, _at(shop["day"], 23, 50))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], name="其他客户")
    assert len(planning.moment_warnings(moment)) == 3
    services.moment_submit(moment=moment, by=shop["owner"])
    moment.refresh_from_db()
    assert moment.state == State.IN_REVIEW
    assert len(planning.moment_warnings(moment)) == 3  # still planned: still warned


def test_the_moment_page_shows_its_warnings(client, shop, tiers, quiet_nights):
    moment = _moment(shop, _at(shop["day"], 23, 50))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], name="其他客户")
    client.force_login(shop["owner"])
    url = reverse("admin:campaigns_moment_change", args=[moment.pk])
    assert "Not checked yet" in client.get(url).content.decode()  # checked with the forecast, in the background
    snapshots.recompute(shop["campaign"].pk)  # what the worker does after the plan changed
    html = client.get(url).content.decode()
    assert 'data-testid="drafting-warnings"' in html and "Checked at " in html
    assert "Nobody can publish this moment" in html and "3 customers are in two variants of this moment" in html
    assert "Warnings do not stop the moment from being submitted" in html
    calm = _moment(shop, _at(shop["day"], 10), title="白天")
    cf.variant(calm, departments=[shop["store"]])
    snapshots.recompute(shop["campaign"].pk)
    html = client.get(reverse("admin:campaigns_moment_change", args=[calm.pk])).content.decode()
    assert 'data-testid="drafting-warnings-none"' in html


def test_the_campaign_page_shows_each_moments_warnings(client, shop, tiers, quiet_nights):
    late = _moment(shop, _at(shop["day"], 23, 50), title="深夜")
    cf.variant(late, departments=[shop["store"]])
    calm = _moment(shop, _at(shop["day"], 10), title="白天")
    cf.variant(calm, departments=[shop["store"]])
    cancelled = _moment(shop, _at(shop["day"], 23, 55), title="取消了")
    Moment.objects.filter(pk=cancelled.pk).update(state=State.CANCELLED)
    snapshots.recompute(shop["campaign"].pk)  # the checks run with the forecast, in the background
    client.force_login(shop["owner"])
    html = client.get(reverse("admin:campaigns_campaign_change", args=[shop["campaign"].pk])).content.decode()
    assert html.count("data-warning-moment") == 1  # the calm and the cancelled ones have nothing to say
    assert reverse("admin:campaigns_moment_change", args=[late.pk]) in html and "Nobody can publish" in html


def test_the_campaign_warnings_take_a_fixed_number_of_queries(shop, tiers, quiet_nights):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            planning.campaign_warnings(shop["campaign"])
        return len(captured.captured_queries)

    moment = _moment(shop, _at(shop["day"], 23, 50))
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], name="其他客户")
    few = queries()
    for hour in (9, 12, 23):
        more = _moment(shop, _at(shop["day"] + dt.timedelta(days=1), hour))
        cf.variant(more, departments=[shop["store"]], tags=[tiers["银卡会员"]], name="银卡会员")
        cf.variant(more, associates=_associates(shop, 3), name="其他客户")
        cf.variant(more, departments=[shop["store"]], name="全部")
    assert queries() == few


def test_the_warnings_speak_chinese(shop, tiers, quiet_nights):
    from django.utils import translation

    moment = _moment(shop, _at(shop["day"], 23), hours=11.5)
    cf.variant(moment, departments=[shop["store"]], tags=[tiers["金卡会员"]], name="金卡会员")
    cf.variant(moment, departments=[shop["store"]], name="其他客户")
    with translation.override("zh-hans"):
        quiet, overlap, proposal = planning.moment_warnings(moment)
    assert quiet.endswith("导购在它的 11 小时 30 分钟 中只剩 2 小时 30 分钟 可以发布。")
    assert overlap.startswith("3 位客户同时在这条朋友圈的两个版本中")
    assert proposal.startswith("要让“其他客户”与其他版本互斥，请改为圈选标签 “普通会员”, “银卡会员”")
