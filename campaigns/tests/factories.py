"""Small, explicit campaign builders for tests."""

from __future__ import annotations

import datetime as dt
import itertools
import struct

from django.utils import timezone

from campaigns.models import CallToAction, Campaign, Hashtag, Moment, Tone, Variant, VariantHashtag, VariantImage

_numbers = itertools.count(1)


def ensure_tones() -> None:
    """The tone vocabulary comes from a data migration; a transactional test's flush removes it."""
    import importlib

    if not Tone.objects.exists():
        for order, (code, name, guidance) in enumerate(importlib.import_module(
            "campaigns.migrations.0002_roles_and_tones").TONES):  # fmt: skip
            Tone.objects.get_or_create(code=code, defaults={"name": name, "guidance": guidance, "order": order})


def tone(code: str = "warm") -> Tone:
    ensure_tones()
    return Tone.objects.get(code=code)


def campaign(owner, *, name="情人节 2027", days_ahead=10, length=5) -> Campaign:
    start = timezone.localdate() + dt.timedelta(days=days_ahead)
    return Campaign.objects.create(name=name, goal="Reach 85% of members", starts_on=start,
                                   ends_on=start + dt.timedelta(days=length - 1), owner=owner)  # fmt: skip


def moment(campaign: Campaign, *, day=0, hour=10, title=None, hours_open=12) -> Moment:
    local = dt.datetime.combine(campaign.starts_on + dt.timedelta(days=day), dt.time(hour),
                                tzinfo=timezone.get_current_timezone())  # fmt: skip
    return Moment.objects.create(campaign=campaign, title=title or f"Moment {next(_numbers)}", publish_at=local,
                                 expires_at=local + dt.timedelta(hours=hours_open))  # fmt: skip


def variant(moment: Moment, *, departments=(), associates=(), copy="玫瑰系列上新，限时九折", tags=(), hashtags=(),
            images=(), cta=None, name="全部客户") -> Variant:  # fmt: skip
    item = Variant.objects.create(moment=moment, name=name, tone=tone(), copy=copy, audience_all=not tags, cta=cta)
    item.audience_tags.set(tags)
    item.target_departments.set(departments)
    item.target_associates.set(associates)
    for position, text in enumerate(hashtags):
        VariantHashtag.objects.create(variant=item, hashtag=Hashtag.objects.get_or_create(text=text)[0],
                                      position=position)  # fmt: skip
    for position, asset in enumerate(images):
        VariantImage.objects.create(variant=item, asset=asset, position=position)
    return item


def approved_again(moment: Moment) -> Moment:
    """A test's shortcut for "the writer changed it, and an approver approved it again": the variants as they
    stand now become the approved versions (the workflow itself is tested in test_services and test_trust)."""
    from campaigns import versions

    for version in versions.moment_versions_make(moment, by=None):
        Variant.objects.filter(pk=version.variant_id).update(approved_version=version)
    return moment


def discount(expires_at, *, label="限时九折") -> CallToAction:
    return CallToAction.objects.create(kind=CallToAction.Kind.DISCOUNT, label=label,
                                       url="https://brand.example.com/sale", expires_at=expires_at)  # fmt: skip


def mp4_for_tests(*, seconds: float, width: int = 1280, height: int = 720, timescale: int = 1000) -> bytes:
    """A minimal, well-formed MP4 skeleton (ftyp + moov/mvhd + trak/tkhd) with the given facts."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    mvhd = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, timescale, round(seconds * timescale)) + bytes(80)
    tkhd = bytes([0, 0, 0, 3]) + bytes(72) + struct.pack(">II", width << 16, height << 16)
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    return ftyp + box(b"moov", box(b"mvhd", mvhd) + box(b"trak", box(b"tkhd", tkhd))) + box(b"mdat", bytes(64))


def photo_asset(color="pink"):
    import io

    from PIL import Image

    from campaigns import services

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="JPEG")
    return services.media_asset_create(data=buffer.getvalue(), original_name=f"{color}.jpg")
