"""CTA tracking: short links per (moment, associate) that count customers' clicks and
redirect, their group QR codes, and the call to action posted as a line of the text —
over real HTTP against the WeCom sandbox where the text goes to WeCom."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import segno
from django.db import IntegrityError, models, transaction
from django.test import Client
from PIL import Image

from campaigns import dispatch, enterprise, links, selectors
from campaigns.models import CallToAction, LinkClick, Moment, PublishTask, TrackedLink
from campaigns.tests import factories as cf
from wecom.ratelimit import LocalTokenBucket
from wecom.sandbox import models as sm
from wecom.sandbox import publishing

TARGET = "https://brand.example.com/valentine?from=moments"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")  # fmt: skip


@pytest.fixture
def moment(marketing_admin):
    return cf.moment(cf.campaign(marketing_admin))


@pytest.fixture
def lily_link(moment, directory):
    return links.tracked_link_for(moment=moment, associate=directory.east_associate, url=TARGET,
                                  purpose=TrackedLink.Purpose.CTA)  # fmt: skip


# --- codes and links ------------------------------------------------------------------------------------
def test_codes_are_ten_random_letters_and_digits():
    codes = {links.code_new() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(links.CODE_PATTERN.fullmatch(code) for code in codes)
    assert not links.code_is_wellformed("abc") and not links.code_is_wellformed("abcde-ghij")


def test_each_associate_has_their_own_code_and_keeps_it(moment, directory, lily_link):
    again = links.tracked_link_for(moment=moment, associate=directory.east_associate, url=TARGET,
                                   purpose=TrackedLink.Purpose.CTA)  # fmt: skip
    ken = links.tracked_link_for(moment=moment, associate=directory.south_associate, url=TARGET,
                                 purpose=TrackedLink.Purpose.CTA)  # fmt: skip
    assert again.pk == lily_link.pk and again.code == lily_link.code
    assert ken.code != lily_link.code
    other = links.tracked_link_for(moment=moment, associate=directory.east_associate, url=TARGET + "&b=1",
                                   purpose=TrackedLink.Purpose.CTA)  # fmt: skip
    assert other.code not in {lily_link.code, ken.code}
    assert TrackedLink.objects.count() == 3


def test_links_for_many_associates_take_a_few_queries(moment, directory, django_assert_max_num_queries):
    ids = [directory.east_associate.pk, directory.south_associate.pk, None]
    with django_assert_max_num_queries(3):  # select, insert, select
        made = links.tracked_links_for(moment=moment, associate_ids=ids, url=TARGET, purpose=TrackedLink.Purpose.CTA)
    assert set(made) == set(ids) and len({link.code for link in made.values()}) == 3
    with django_assert_max_num_queries(1):
        again = links.tracked_links_for(moment=moment, associate_ids=ids, url=TARGET, purpose=TrackedLink.Purpose.CTA)
    assert {k: v.code for k, v in again.items()} == {k: v.code for k, v in made.items()}


def test_an_enterprise_moment_has_one_link_without_associate(moment):
    first = links.tracked_link_for(moment=moment, associate=None, url=TARGET, purpose=TrackedLink.Purpose.CTA)
    second = links.tracked_link_for(moment=moment, associate=None, url=TARGET, purpose=TrackedLink.Purpose.CTA)
    assert first.pk == second.pk and first.associate_id is None
    # The database says so too: NULLs are distinct in a unique index, the partial constraint is not.
    with pytest.raises(IntegrityError), transaction.atomic():
        TrackedLink.objects.create(code="Zz9Zz9Zz9Z", moment=moment, associate=None, target_url=TARGET,
                                   purpose=TrackedLink.Purpose.CTA)  # fmt: skip


def test_a_code_already_taken_is_drawn_again(moment, directory, lily_link, monkeypatch):
    drawn = iter([lily_link.code, "Zz9Zz9Zz9Z"])
    monkeypatch.setattr(links, "code_new", lambda: next(drawn))
    ken = links.tracked_link_for(moment=moment, associate=directory.south_associate, url=TARGET,
                                 purpose=TrackedLink.Purpose.CTA)  # fmt: skip
    assert ken.code == "Zz9Zz9Zz9Z"


@pytest.mark.parametrize("url", ["ftp://brand.example.com/x", "javascript:alert(1)", "/relative", "https://"])
def test_only_http_and_https_urls_are_tracked(moment, url):
    with pytest.raises(ValueError):
        links.tracked_link_for(moment=moment, associate=None, url=url, purpose=TrackedLink.Purpose.CTA)


# --- clicks -------------------------------------------------------------------------------------------------
def test_a_click_is_counted_once_per_request_and_redirected(client, lily_link, directory,
                                                            django_assert_max_num_queries):  # fmt: skip
    url = f"/go/{lily_link.code}"
    with django_assert_max_num_queries(2):  # the link, the click's INSERT
        response = client.get(url, HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 302 and response["Location"] == TARGET
    assert "no-store" in response["Cache-Control"]  # every tap must reach us
    client.get(url, HTTP_USER_AGENT=IPHONE)
    clicks = list(LinkClick.objects.all())
    assert len(clicks) == 2
    click = clicks[0]
    assert (click.link_id, click.moment_id, click.campaign_id) == (lily_link.pk, lily_link.moment_id,
                                                                  lily_link.moment.campaign_id)  # fmt: skip
    assert click.associate_id == directory.east_associate.pk and click.device == LinkClick.Device.PHONE


def test_a_head_request_redirects_without_counting(client, lily_link):
    response = client.head(f"/go/{lily_link.code}", HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 302 and response["Location"] == TARGET
    assert client.post(f"/go/{lily_link.code}").status_code == 405
    assert not LinkClick.objects.exists()


@pytest.mark.parametrize("agent", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3", "python-httpx/0.28.1",
    "SomeChatApp LinkPreview/3.1", "AcmeCrawler/1.0", "",
])  # fmt: skip
def test_link_previewers_are_redirected_but_not_counted(client, lily_link, agent):
    response = client.get(f"/go/{lily_link.code}", HTTP_USER_AGENT=agent)
    assert response.status_code == 302 and response["Location"] == TARGET
    assert not LinkClick.objects.exists()


WECOM = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")  # fmt: skip
WECHAT = ("Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230202 "
          "MicroMessenger/8.0.33.2320(0x28002151) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN")  # fmt: skip
DEVICES = [
    (WECOM, "wecom"),
    (WECHAT, "wechat"),
    (IPHONE, "phone"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
     "Safari/537.36", "phone"),
    ("Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.11.0.302) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.0.300 Mobile Safari/537.36", "phone"),
    ("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
     "Safari/537.36", "phone"),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
     "Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     "tablet"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
     "Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (Linux; U; Android 10; zh-cn; V1938T Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Version/4.0 Chrome/86.0.4240.198 Mobile Safari/537.36 SogouMSE,SogouMobileBrowser/5.38.9", "phone"),
    ("Mozilla/5.0 (compatible; Sogou web spider/4.0; +http://www.sogou.com/docs/help/webmasters.htm#07)", None),
    ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; "
     "Bytespider; spider-feedback@bytedance.com)", None),
    ("SmartTV-Browser/2.0", "other"),
]  # fmt: skip


@pytest.mark.parametrize("agent,device", DEVICES)
def test_the_device_class_is_coarse_and_people_are_not_previewers(agent, device):
    if device is None:  # a crawler that looks like a phone
        assert links.is_link_previewer(agent)
        return
    assert links.device_class(agent) == device
    assert not links.is_link_previewer(agent)


def test_the_click_is_recorded_with_its_class(client, lily_link):
    client.get(f"/go/{lily_link.code}", HTTP_USER_AGENT=WECHAT)
    assert LinkClick.objects.get().device == "wechat"


def test_no_ip_address_nor_user_agent_is_kept(client, lily_link):
    fields = {field.name for field in LinkClick._meta.get_fields()}
    assert fields == {"id", "link", "campaign", "moment", "associate", "clicked_at", "day", "device"}
    assert not any(isinstance(field, models.GenericIPAddressField) for field in LinkClick._meta.get_fields())
    client.get(f"/go/{lily_link.code}", HTTP_USER_AGENT=WECHAT, REMOTE_ADDR="203.0.113.7",
               HTTP_X_FORWARDED_FOR="198.51.100.9")  # fmt: skip
    stored = " ".join(str(value) for value in LinkClick.objects.values().get().values())
    assert "203.0.113" not in stored and "198.51.100" not in stored
    assert "Android" not in stored and "MicroMessenger" not in stored and "wechat" in stored


def test_the_day_is_the_local_date(lily_link):
    link = links.tracked_link_get(lily_link.code)
    late = dt.datetime(2027, 2, 13, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 14th in Shanghai
    assert links.link_click_record(link=link, user_agent=IPHONE, now=late)
    assert LinkClick.objects.get().day == dt.date(2027, 2, 14)
    assert not links.link_click_record(link=link, user_agent="Twitterbot/1.0", now=late)


@pytest.mark.parametrize("path", [
    "/go/short", "/go/AAAAAAAAAA", "/go/abcdefghij/", "/go/", "/go/a/b/c", "/go/%E4%BD%A0%E5%A5%BD",
    "/go/" + "A" * 500, "/go/AAAAAAAAAA/qr.png", "/go/AAAAAAAAAA/qr.svg", "/go/abc/qr.png",
])  # fmt: skip
def test_unknown_or_malformed_codes_get_a_friendly_404(client, lily_link, path):
    response = client.get(path, HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 404
    assert "This link does not exist" in response.content.decode()
    assert not LinkClick.objects.exists()


def test_a_malformed_code_costs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/go/not-a-code", HTTP_USER_AGENT=IPHONE).status_code == 404


# --- group QR codes --------------------------------------------------------------------------------------------
def _modules(png: bytes) -> list[list[int]]:
    """The modules of a QR code PNG (dark = 1), read at the centre of each module."""
    image = Image.open(io.BytesIO(png)).convert("L")
    scale, border = links.QR_SCALE, links.QR_BORDER
    size = image.width // scale - 2 * border
    return [[int(image.getpixel(((c + border) * scale + scale // 2, (r + border) * scale + scale // 2)) < 128)
             for c in range(size)] for r in range(size)]  # fmt: skip


def test_the_qr_code_encodes_the_absolute_short_url(client, lily_link, settings):
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"
    short = f"https://moments.example.com/go/{lily_link.code}"
    png = client.get(f"/go/{lily_link.code}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and "max-age=86400" in png["Cache-Control"]
    expected = segno.make(short, error=links.QR_ERROR, micro=False)
    assert _modules(png.content) == [list(row) for row in expected.matrix]  # segno's own encoding of the URL
    svg = client.get(f"/go/{lily_link.code}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    mine = io.BytesIO()
    expected.save(mine, kind="svg", scale=links.QR_SCALE, border=links.QR_BORDER, xmldecl=False)
    assert svg.content == mine.getvalue() == links.group_qr_svg(link=lily_link)
    download = client.get(f"/go/{lily_link.code}/qr.svg", {"download": "1"})
    assert download["Content-Disposition"] == f'attachment; filename="group-qr-{lily_link.code}.svg"'
    assert not LinkClick.objects.exists()  # drawing the code is not a click; scanning it is


# --- the posted text --------------------------------------------------------------------------------------------
def test_the_call_to_action_line_of_each_kind():
    def cta(**values):
        return CallToAction(label="立即查看", **values)

    url = "https://m.example.com/go/Ab3dE6gH9k"
    assert links.cta_line(None) == ""
    assert links.cta_line(cta(kind="link", url=TARGET), url) == f"👉 立即查看 {url}"
    assert links.cta_line(cta(kind="discount", url=TARGET), url) == f"👉 立即查看 {url}"
    assert links.cta_line(cta(kind="tier_offer", url=TARGET), url) == f"👉 立即查看 {url}"
    assert links.cta_line(cta(kind="tier_offer")) == "立即查看"
    assert links.cta_line(cta(kind="voucher", code="LOVE520")) == "立即查看: LOVE520"
    assert links.cta_line(cta(kind="group_qr", url=TARGET), url) == f"👉 立即查看 {url}"


def test_the_admins_preview_shows_the_line_with_a_sample_short_url(moment, settings):
    settings.MOMENTS_PUBLIC_URL = "https://moments.example.com"
    offer = CallToAction.objects.create(kind=CallToAction.Kind.LINK, label="立即查看", url=TARGET)
    variant = cf.variant(moment, cta=offer)
    preview = selectors.variant_preview(variant)
    assert preview.cta_line == "👉 立即查看 https://moments.example.com/go/··········"
    assert len(preview.cta_line) == len("👉 立即查看 " + links.short_url("Ab3dE6gH9k"))
    assert not TrackedLink.objects.exists()  # a preview creates no link


# --- over real HTTP, as the associate publishes ----------------------------------------------------------------
@pytest.fixture
def with_cta(scheduled):
    """The scheduled moment's variant with a tracked-link call to action."""
    offer = CallToAction.objects.create(kind=CallToAction.Kind.LINK, label="立即查看", url=TARGET)
    scheduled.variants.update(cta=offer)
    cf.approved_again(scheduled)
    return scheduled


def _lily(wecom):
    dispatch.dispatch_due(enqueue=False)
    task = PublishTask.objects.get(associate__userid="lily")
    dispatch.publish_task_notify(task_id=task.pk, client=wecom, limiter=LocalTokenBucket())
    return task, "/p/" + dispatch.publish_link_token(task) + "/"


def test_the_posted_text_carries_the_associates_short_link(with_cta, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    task, url = _lily(wecom)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(url).content.decode()
    link = TrackedLink.objects.get(associate__userid="lily")
    short = f"https://moments.example.com/go/{link.code}"
    assert f"👉 立即查看 {short}" in page  # the preview shows the line as it will be posted
    assert f'href="{short}"' not in page  # and does not link it: the associate's taps are not clicks
    browser.post(url, {})
    job = sm.MomentJob.objects.get()
    assert job.request["text"]["content"] == f"玫瑰系列上新，限时九折\n👉 立即查看 {short}\n#情人节"
    assert (link.moment_id, link.target_url, link.purpose) == (task.moment_id, TARGET, TrackedLink.Purpose.CTA)
    # Ken's post carries his own code.
    ken = PublishTask.objects.get(associate__userid="ken")
    dispatch.publish_task_request(task=ken, copy=None, client=wecom)
    ken_link = TrackedLink.objects.get(associate__userid="ken")
    assert ken_link.code != link.code
    assert ken_link.code in sm.MomentJob.objects.latest("id").request["text"]["content"]
    # A customer taps Lily's link: counted for Lily and the moment.
    Client().get(f"/go/{link.code}", HTTP_USER_AGENT=WECHAT)
    click = LinkClick.objects.get()
    assert click.associate.userid == "lily" and click.moment_id == task.moment_id


def test_the_link_attachment_goes_out_as_the_associates_short_link(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    scheduled.variants.update(link_url="https://brand.example.com/lookbook", link_title="情人节礼盒",
                              link_cover=cf.photo_asset())  # fmt: skip
    cf.approved_again(scheduled)
    task, _url = _lily(wecom)
    assert dispatch.publish_task_request(task=task, copy=None, client=wecom)
    link = TrackedLink.objects.get(associate__userid="lily")
    assert link.purpose == TrackedLink.Purpose.ATTACHMENT and link.target_url == "https://brand.example.com/lookbook"
    (attachment,) = sm.MomentJob.objects.get().request["attachments"]
    assert attachment["link"]["url"] == f"https://moments.example.com/go/{link.code}"


def test_a_post_shared_from_the_client_is_confirmed_with_its_cta_line(with_cta, wecom):
    """The JS-SDK path: WeCom's composer posts the text this returns; confirmation finds the
    post by the same text, short link included."""
    task, _url = _lily(wecom)
    payload = dispatch.publish_task_share(task=task, copy=None, public_url="https://moments.example.com/")
    link = TrackedLink.objects.get(associate__userid="lily")
    assert f"https://moments.example.com/go/{link.code}" in payload["text"]["content"]
    publishing.publish_personal(sm.Member.objects.get(userid="lily"), text=payload["text"]["content"])
    assert dispatch.publish_confirm(client=wecom)["published"] == 1


def test_a_group_qr_code_is_the_associates_own(scheduled, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    group = CallToAction.objects.create(kind=CallToAction.Kind.GROUP_QR, label="扫码进玫瑰会员群",
                                        group_name="玫瑰会员群", url="https://work.weixin.qq.com/gm/rose")  # fmt: skip
    scheduled.variants.update(cta=group)
    cf.approved_again(scheduled)
    task, url = _lily(wecom)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(url).content.decode()
    link = TrackedLink.objects.get(associate__userid="lily")
    assert link.purpose == TrackedLink.Purpose.GROUP_QR
    assert f'data-group-qr="{link.code}"' in page and f'src="/go/{link.code}/qr.png"' in page
    assert f'href="/go/{link.code}/qr.png?download=1"' in page and f'href="/go/{link.code}/qr.svg?download=1"' in page
    assert browser.get(f"/go/{link.code}/qr.png").content.startswith(b"\x89PNG")
    browser.post(url, {})
    text = sm.MomentJob.objects.get().request["text"]["content"]
    assert f"👉 扫码进玫瑰会员群 https://moments.example.com/go/{link.code}" in text
    Client().get(f"/go/{link.code}", HTTP_USER_AGENT=IPHONE)  # a scan opens the same short link
    response = Client().get(f"/go/{link.code}", HTTP_USER_AGENT=IPHONE)
    assert response["Location"] == "https://work.weixin.qq.com/gm/rose" and LinkClick.objects.count() == 2


def test_an_enterprise_moment_posts_one_link_for_everyone(with_cta, wecom, settings, wecom_base_url):
    settings.WECOM_BASE_URL = wecom_base_url
    Moment.objects.filter(pk=with_cta.pk).update(mode=Moment.Mode.ENTERPRISE)
    dispatch.dispatch_due(enqueue=False)
    assert enterprise.enterprise_tasks_create(moment_id=with_cta.pk, client=wecom) == 1
    link = TrackedLink.objects.get()
    assert link.associate_id is None and link.moment_id == with_cta.pk
    text = sm.MomentJob.objects.get().request["text"]["content"]
    assert f"👉 立即查看 https://moments.example.com/go/{link.code}" in text
    # Lily's page shows the same line: WeCom posts one content for all its senders.
    task = PublishTask.objects.get(associate__userid="lily")
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/p/" + dispatch.publish_link_token(task) + "/").content.decode()
    assert f"/go/{link.code}" in page and TrackedLink.objects.count() == 1
    Client().get(f"/go/{link.code}", HTTP_USER_AGENT=IPHONE)
    click = LinkClick.objects.get()
    assert click.associate_id is None and click.moment_id == with_cta.pk  # attributed to the moment only
