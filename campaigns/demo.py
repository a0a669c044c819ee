"""The demo campaign of ``make run``: a Valentine's series, Feb 10–14, one
moment a day with a gold-tier variant and one for the other customers, photos in
the media library, branded hashtags, calls to action and a forbidden-words list.
Days 1–2 approved, day 3 in review, days 4–5 drafts — so every state shows.

The audiences are honest: WeCom's visible range can only include tags, so "other
customers" targets the other tiers (``planning.complementary_tags``) and no gold
customer gets both variants. Without tiers to complement it, the one variant is for
everyone and is named so.

With an approver, a **rehearsal** of day 1 runs today: a copy in its own campaign,
in enterprise mode, scheduled two minutes after seeding. Beat dispatches it, the
worker notifies every associate and creates the WeCom task in the sandbox, and
the sandbox's behaviour model publishes it for most associates (``make run``)."""

from __future__ import annotations

import datetime as dt
import io
import math
import uuid

from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from campaigns import planning, services
from campaigns.models import CallToAction, Campaign, ForbiddenWord, Hashtag, Moment, State, Tone
from staff.models import CustomerTag, CustomerTagGroup, Department, User

CAMPAIGN_NAME = "情人节 · 玫瑰之约"
REHEARSAL_NAME = "情人节 · 门店彩排"
REHEARSAL_AFTER = dt.timedelta(minutes=2)
HASHTAGS = [("玫瑰之约", Hashtag.Kind.BRAND), ("玫瑰系列", Hashtag.Kind.COLLECTION), ("情人节", Hashtag.Kind.CAMPAIGN)]
FORBIDDEN = [("最低价", "广告法：绝对化用语"), ("第一品牌", "广告法：绝对化用语"), ("国家级", "广告法：绝对化用语"),
             ("顶级", "广告法：绝对化用语"), ("万能", "夸大功效")]  # fmt: skip
DAYS = [
    ("预热：玫瑰系列上新", "warm", "玫瑰系列新品到店啦，{tier}情人节前先来试香 🌹"),
    ("礼盒开售", "festive", "情人节礼盒今天开售，{tier}专享刻字服务，送给最重要的 TA 💝"),
    ("门店体验日", "playful", "今天店里有玫瑰花艺体验，带上 TA 一起来玩～{tier}预约可享双人茶歇"),
    ("最后两天", "warm", "礼盒库存不多了，{tier}需要的话告诉我帮你预留 🎁"),
    ("情人节快乐", "festive", "情人节快乐！愿每一份心意都被看见。{tier}今天到店还有小惊喜 ❤️"),
]
COLOURS = [(232, 76, 109), (244, 143, 177), (200, 40, 70), (255, 183, 197), (176, 30, 60), (250, 215, 220)]


def _photo(index: int) -> bytes:
    """A simple, deterministic 'rose' picture: petals of circles on a soft background."""
    image = Image.new("RGB", (1440, 1080), COLOURS[(index + 3) % len(COLOURS)])
    draw = ImageDraw.Draw(image)
    cx, cy = 720, 540
    for ring, radius in enumerate((300, 220, 150, 90)):
        colour = COLOURS[(index + ring) % len(COLOURS)]
        for petal in range(7):
            angle = petal / 7 * 2 * math.pi + ring
            x, y = cx + math.cos(angle) * radius * 0.5, cy + math.sin(angle) * radius * 0.5
            draw.ellipse((x - radius * 0.6, y - radius * 0.6, x + radius * 0.6, y + radius * 0.6), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _valentines_year(today: dt.date) -> int:
    return today.year if today < dt.date(today.year, 2, 10) else today.year + 1


def demo_campaign_flush() -> None:
    """Remove every campaign and the libraries' demo rows (before the directory goes)."""
    Campaign.objects.all().delete()
    CallToAction.objects.all().delete()


@transaction.atomic
def demo_campaign_create(*, writer: User, approver: User | None = None) -> Campaign:
    year = _valentines_year(timezone.localdate())
    zone = timezone.get_current_timezone()
    for word, note in FORBIDDEN:
        ForbiddenWord.objects.get_or_create(word=word, defaults={"note": note})
    hashtags = [services.hashtag_create(text=text, kind=kind) for text, kind in HASHTAGS]
    photos = [services.media_asset_create(data=_photo(i), original_name=f"rose-{i + 1}.jpg", title=f"玫瑰 {i + 1}",
                                          by=writer) for i in range(6)]  # fmt: skip
    tiers = CustomerTagGroup.objects.filter(is_tier=True).first()
    gold = CustomerTag.objects.filter(group=tiers, name__contains="金卡").first() if tiers else None
    other_tiers = planning.complementary_tags([gold]) if gold else []  # exclusive of the gold variant
    root = Department.objects.filter(parent__isnull=True).order_by("pk").first()
    last = dt.datetime.combine(dt.date(year, 2, 14), dt.time(22), tzinfo=zone)
    gold_offer = (CallToAction.objects.create(kind=CallToAction.Kind.TIER_OFFER, label="金卡专享 8 折", tier=gold,
                                              url="https://brand.example.com/valentine/gold")
                  if gold else None)  # fmt: skip
    discount = CallToAction.objects.create(kind=CallToAction.Kind.DISCOUNT, label="情人节限时 9 折",
                                           url="https://brand.example.com/valentine", expires_at=last)  # fmt: skip

    campaign = Campaign.objects.create(
        name=CAMPAIGN_NAME, goal="情人节系列触达 85% 已添加的会员，礼盒销售 2,000 份。",
        starts_on=dt.date(year, 2, 10), ends_on=dt.date(year, 2, 14), owner=writer,
    )  # fmt: skip
    for day, (title, tone, copy) in enumerate(DAYS):
        publish = dt.datetime.combine(dt.date(year, 2, 10 + day), dt.time(10), tzinfo=zone)
        moment = Moment.objects.create(campaign=campaign, title=f"第 {day + 1} 天 · {title}", publish_at=publish,
                                       expires_at=last, mode=Moment.Mode.ASSOCIATE, edited_by=writer)  # fmt: skip
        everyone = ("其他客户", other_tiers) if other_tiers else ("全部客户", [])
        variants = [(*everyone, copy.format(tier=""), discount, photos[day % 6 : day % 6 + 3])]
        if gold is not None:
            variants.insert(
                0, ("金卡会员", [gold], copy.format(tier="金卡会员"), gold_offer, photos[(day + 3) % 6 :][:4])
            )
        for name, tags, text, cta, images in variants:
            services.variant_save(moment=moment, by=writer, values={
                "name": name, "tone": Tone.objects.get_or_create(code=tone, defaults={"name": tone})[0].code,
                "audience_all": not tags,
                "audience_tags": [t.tag_id for t in tags], "target_departments": [root.wecom_id] if root else [],
                "copy": text, "allow_personal_touch": True, "hashtags": [h.text for h in hashtags],
                "images": [p.public_id for p in images], "cta": cta.public_id if cta else None,
            })  # fmt: skip
    moments = list(campaign.moments.order_by("publish_at"))
    if approver is not None and moments[0].publish_at > timezone.now():
        for moment in moments[:3]:
            services.moment_submit(moment=moment, by=writer, note="请审核")
        for moment in moments[:2]:
            services.moment_decide(moment=moment, by=approver, approve=True, note="文案与图片已确认")
    campaign.refresh_from_db()
    assert campaign.moments.filter(state=State.DRAFT).exists()
    if approver is not None:
        demo_rehearsal_create(moments[0], writer=writer, approver=approver)
    return campaign


def demo_rehearsal_create(moment: Moment, *, writer: User, approver: User) -> Moment:
    """Day 1 again, today, in enterprise mode: approved and scheduled to go out shortly."""
    now = timezone.now()
    today = timezone.localdate()
    rehearsal = Campaign.objects.create(
        name=REHEARSAL_NAME, goal="演练：在情人节前走一遍通知、发表与确认。", starts_on=today,
        ends_on=today + dt.timedelta(days=1), owner=writer,
    )  # fmt: skip
    shift = (now + REHEARSAL_AFTER).replace(second=0, microsecond=0) + dt.timedelta(minutes=1) - moment.publish_at
    copy = services._moment_copy(moment, rehearsal, shift, writer)
    expires = copy.publish_at + dt.timedelta(hours=12)
    Moment.objects.filter(pk=copy.pk).update(mode=Moment.Mode.ENTERPRISE, title=f"彩排 · {moment.title}",
                                             expires_at=expires)  # fmt: skip
    for variant in copy.variants.filter(cta__expires_at__gt=expires).select_related("cta"):
        offer = variant.cta  # the rehearsal's own offer, ending with it
        offer.pk = offer.id = None
        offer.public_id, offer.expires_at, offer._state.adding = uuid.uuid4(), expires, True
        offer.save()
        variant.cta = offer
        variant.save(update_fields=["cta"])
    services.moment_submit(moment=copy, by=writer, note="彩排")
    services.moment_decide(moment=copy, by=approver, approve=True, note="彩排通过")
    services.moment_schedule(moment=copy, by=writer)
    return copy
