"""The content rules a variant must meet before it can be submitted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import rules
from campaigns.models import CallToAction

NOW = dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC)
WINDOW = rules.Window(
    publish_at=dt.datetime(2027, 2, 10, 2, tzinfo=dt.UTC), expires_at=dt.datetime(2027, 2, 10, 14, tzinfo=dt.UTC),
    starts_on=dt.date(2027, 2, 10), ends_on=dt.date(2027, 2, 14),
)  # fmt: skip


def content(**values) -> rules.VariantContent:
    return rules.VariantContent(**{"copy": "玫瑰上新", "department_count": 1, **values})


def errors(**values) -> dict:
    return rules.variant_errors(content(**values), WINDOW, forbidden=["最低价", "国家级"])


def test_a_good_variant_has_no_problem():
    assert errors() == {}
    assert errors(copy="", image_count=9) == {}
    assert errors(copy="", link_url="https://b.example.com", link_title="新品", has_link_cover=True) == {}


@pytest.mark.parametrize(
    "values,field,words",
    [
        ({"copy": "爱" * 2001}, "copy", "2001 characters"),
        ({"copy": "爱" * 1990, "hashtags": ["情人节", "玫瑰系列"]}, "copy", "characters"),  # the hashtags count too
        ({"copy": ""}, "copy", "cannot be empty"),
        ({"copy": "   "}, "copy", "cannot be empty"),
        ({"image_count": 10}, "images", "At most 9"),
        ({"image_count": 1, "link_url": "https://b.example.com", "has_link_cover": True}, "link_url", "not both"),
        (
            {"link_url": "https://b.example.com", "link_title": "玫" * 22, "has_link_cover": True},
            "link_title",
            "66 bytes",
        ),
        ({"link_title": "新品"}, "link_url", "needs its URL"),
        ({"link_url": "https://b.example.com"}, "link_cover", "cover image"),
        ({"hashtags": [f"t{i}" for i in range(11)]}, "hashtags", "At most 10"),
        ({"audience_all": False}, "audience_tags", "customer tags"),
        ({"department_count": 0}, "target_departments", "departments or associates"),
        ({"copy": "全网最低价！"}, "copy", "最低价"),
        ({"copy": "ok", "hashtags": ["国家级"]}, "copy", "国家级"),
    ],
)
def test_each_rule_is_a_message_on_its_field(values, field, words):
    found = errors(**values)
    assert field in found, found
    assert any(words in message for message in found[field]), found[field]


def test_a_link_title_of_exactly_64_bytes_is_fine():
    assert errors(copy="", link_url="https://b.example.com", link_title="玫" * 21 + "a", has_link_cover=True) == {}


def test_the_cta_must_expire_inside_the_moments_window():
    def cta(at):
        return CallToAction(kind="discount", label="限时九折", url="https://b.example.com", expires_at=at)

    assert errors(cta=cta(WINDOW.expires_at)) == {}
    after = errors(cta=cta(WINDOW.expires_at + dt.timedelta(minutes=1)))
    assert "after the moment's window ends" in after["cta"][0]
    before = errors(cta=cta(WINDOW.publish_at))
    assert "before the moment is published" in before["cta"][0]


def test_moment_times_past_outside_the_campaign_or_backwards():
    assert rules.moment_window_errors(WINDOW, now=NOW) == {}
    late = rules.Window(WINDOW.publish_at + dt.timedelta(days=5), WINDOW.expires_at + dt.timedelta(days=5),
                        WINDOW.starts_on, WINDOW.ends_on)  # fmt: skip
    assert "outside the campaign" in rules.moment_window_errors(late, now=NOW)["publish_at"][0]
    past = rules.moment_window_errors(WINDOW, now=WINDOW.publish_at + dt.timedelta(seconds=1))
    assert "in the past" in past["publish_at"][0]
    backwards = rules.Window(WINDOW.publish_at, WINDOW.publish_at, WINDOW.starts_on, WINDOW.ends_on)
    assert "after its publish time" in rules.moment_window_errors(backwards, now=NOW)["expires_at"][0]


def test_the_campaign_day_is_the_local_day():
    # 2027-02-09 17:00 UTC is 2027-02-10 01:00 in Shanghai: inside a campaign starting on the 10th.
    early = rules.Window(dt.datetime(2027, 2, 9, 17, tzinfo=dt.UTC), dt.datetime(2027, 2, 10, 2, tzinfo=dt.UTC),
                         WINDOW.starts_on, WINDOW.ends_on)  # fmt: skip
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"
    assert rules.moment_window_errors(early, now=NOW) == {}


@pytest.mark.parametrize(
    "raw,expected",
    [("#情人节", "情人节"), ("＃玫瑰系列 ", "玫瑰系列"), ("  #Valentine2027", "Valentine2027"), ("ＬＯＶＥ", "LOVE")],
)
def test_hashtags_are_normalised(raw, expected):
    assert rules.hashtag_normalise(raw) == expected


@pytest.mark.parametrize("raw", ["#", "   ", "two words", "#" + "a" * 33, "tag!"])
def test_bad_hashtags_are_refused(raw):
    with pytest.raises(ValidationError):
        rules.hashtag_normalise(raw)


def test_the_posted_text_puts_hashtags_on_their_own_line():
    assert rules.posted_text("玫瑰上新 ", ["情人节", "玫瑰"]) == "玫瑰上新\n#情人节 #玫瑰"
    assert rules.posted_text("", ["情人节"]) == "#情人节"
    assert rules.posted_text("玫瑰上新", []) == "玫瑰上新"


def test_the_call_to_action_is_a_line_between_the_copy_and_the_hashtags():
    line = "👉 立即查看 https://m.example.com/go/Ab3dE6gH9k"
    assert rules.posted_text("玫瑰上新", ["情人节"], line) == f"玫瑰上新\n{line}\n#情人节"
    assert rules.posted_text("", [], line) == line


def test_the_call_to_action_line_counts_toward_the_length_with_a_real_short_url(settings):
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"
    cta = CallToAction(kind="link", label="立即查看", url="https://brand.example.com/a-very-long-landing-page")
    line = "👉 立即查看 https://moments.example.com/go/" + "·" * 10  # as long as the short URL it will post
    room = 2000 - len("\n" + line + "\n#情人节")
    assert errors(copy="爱" * room, hashtags=["情人节"], cta=cta) == {}
    found = errors(copy="爱" * (room + 1), hashtags=["情人节"], cta=cta)
    assert "2001 characters" in found["copy"][0] and "call to action" in found["copy"][0]


def test_a_voucher_posts_its_code_and_counts_it():
    voucher = CallToAction(kind="voucher", label="领券", code="LOVE520")
    assert errors(copy="爱" * (2000 - len("\n领券: LOVE520")), cta=voucher) == {}
    assert "copy" in errors(copy="爱" * (2001 - len("\n领券: LOVE520")), cta=voucher)


def test_tracked_urls_are_http_or_https_and_a_group_qr_code_needs_one():
    assert "http://" in errors(cta=CallToAction(kind="link", label="看看", url="ftp://b.example.com/x"))["cta"][0]
    bad_link = errors(copy="", link_url="ftp://b.example.com", has_link_cover=True)
    assert "https://" in bad_link["link_url"][0]
    no_url = CallToAction(kind="group_qr", label="进群", group_name="玫瑰会员群")
    assert "joins the group" in errors(cta=no_url)["cta"][0]
    assert errors(cta=CallToAction(kind="group_qr", label="进群", url="https://work.weixin.qq.com/gm/abc")) == {}


def test_forbidden_words_match_whatever_the_width_or_case():
    assert rules.forbidden_found(["ＢＥＳＴ price", "ok"], ["best", "国家级", ""]) == ["best"]


def test_the_messages_speak_chinese_in_a_chinese_ui():
    from django.utils import translation

    with translation.override("zh-hans"):
        found = errors(copy="", link_title="新品")
    assert "朋友圈不能为空" not in found.get("copy", [""])[0]  # a link title counts as content
    assert found["link_url"] == ["链接需要填写地址。"]
