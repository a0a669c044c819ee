"""Reads for campaigns: the phone-feed preview of a variant and the calendar."""

from __future__ import annotations

import calendar as calendar_module
import datetime as dt
import re
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from campaigns import links, rules, versions
from campaigns.models import ForbiddenWord, MediaAsset, Moment, State, Variant


def forbidden_words() -> list[str]:
    return list(ForbiddenWord.objects.values_list("word", flat=True))


@dataclass
class Preview:
    """A variant as a customer's feed shows it."""

    author_name: str
    author_avatar: str
    copy_html: SafeString
    hashtags: list[str]
    images: list[MediaAsset]
    video: MediaAsset | None
    link_title: str
    link_url: str
    link_cover: MediaAsset | None
    cta: object
    cta_line: str  # the call to action's line of the posted text (campaigns.links.cta_line)
    publish_at: dt.datetime | None
    forbidden: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # the whole forbidden list, for the live preview
    qr_code: str = ""  # a group QR code's short link code (the associate's page shows and offers the QR code)

    @property
    def grid(self) -> int:
        """Columns of the photo grid, as WeChat lays them out: 1, 2 (for 2 or 4), else 3."""
        count = len(self.images)
        return 1 if count == 1 else 2 if count in (2, 4) else 3


def highlight(text: str, words: list[str]) -> SafeString:
    """Escaped text with line breaks, forbidden words wrapped in <mark>."""
    html = escape(text or "")
    for word in sorted({w for w in words if w}, key=len, reverse=True):
        html = re.sub(re.escape(escape(word)), lambda m: f"<mark>{m.group(0)}</mark>", html, flags=re.IGNORECASE)
    return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 - escaped above, only <mark> and <br> added


def variant_preview(variant: Variant, *, tracked: links.PostedLinks | None = None, author=None) -> Preview:
    """The variant as it stands (the admin's previews of a draft); the author is one of its target associates."""
    if author is None:
        author = variant.target_associates.order_by("name").first()
    publish_at = variant.moment.publish_at if variant.moment_id else None
    return content_preview(versions.frozen_of_variant(variant), tracked=tracked, author=author, publish_at=publish_at)


def content_preview(content: versions.Frozen, *, tracked: links.PostedLinks | None = None, author=None,
                    publish_at: dt.datetime | None = None, copy: str | None = None) -> Preview:  # fmt: skip
    """A variant's content (a version, or the live variant read the same way) as a feed shows it. ``tracked`` and
    ``author``: the short links of the associate who will post it, and that associate (their page); without
    ``tracked`` the call to action's line shows a sample short URL of the same length. ``copy``: the copy as
    the associate's personal touch makes it."""
    words = forbidden_words()
    if tracked is None:
        sample = links.short_url_sample() if links.cta_target(content.cta) else ""
        tracked = links.PostedLinks(cta_line=links.cta_line(content.cta, sample))
    text = content.copy if copy is None else copy
    checked = [text, *content.hashtags, content.link_title, content.cta.label if content.cta else ""]
    return Preview(
        author_name=author.name if author else "导购",
        author_avatar=author.avatar if author else "",
        copy_html=highlight(text, words),
        hashtags=list(content.hashtags),
        images=list(content.images),
        video=content.video,
        link_title=content.link_title,
        link_url=content.link_url,
        link_cover=content.link_cover,
        cta=content.cta,
        cta_line=tracked.cta_line,
        publish_at=publish_at,
        forbidden=rules.forbidden_found(checked, words),
        words=words,
        qr_code=tracked.qr_code,
    )


# --- versions ---------------------------------------------------------------------------------------
@dataclass
class VersionRow:
    name: str
    approved: object  # VariantVersion | None
    review: object  # the newest version, VariantVersion | None
    changes: list  # versions.Change, newest against approved


def moment_versions(moment: Moment) -> list[VersionRow]:
    """Each variant's approved version and newest version, with what changed between them (two queries)."""
    variants = list(moment.variants.select_related("approved_version__approved_by").order_by("position", "id"))
    newest = versions.versions_in_review(moment)
    rows = []
    for variant in variants:
        approved, review = variant.approved_version, newest.get(variant.pk)
        changes = []
        if review is not None and review != approved:
            changes = versions.version_diff(approved.content if approved else None, review.content)
        rows.append(VersionRow(name=variant.name, approved=approved, review=review, changes=changes))
    return rows


# --- the calendar ---------------------------------------------------------------------------------
@dataclass
class CalendarDay:
    date: dt.date
    in_month: bool
    moments: list[Moment]

    @property
    def is_today(self) -> bool:
        return self.date == timezone.localdate()


def calendar_weeks(first: dt.date, last: dt.date, *, month: int | None = None) -> list[list[CalendarDay]]:
    """Weeks (Monday first) covering ``first``..``last`` with the moments of each local day (one query)."""
    start = first - dt.timedelta(days=first.weekday())
    end = last + dt.timedelta(days=6 - last.weekday())
    zone = timezone.get_current_timezone()
    moments = (
        Moment.objects.filter(
            publish_at__gte=dt.datetime.combine(start, dt.time.min, tzinfo=zone),
            publish_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        )
        .exclude(state=State.CANCELLED)
        .select_related("campaign")
        .order_by("publish_at", "id")
    )
    by_day: dict[dt.date, list[Moment]] = {}
    for moment in moments:
        by_day.setdefault(timezone.localtime(moment.publish_at).date(), []).append(moment)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    cells = [CalendarDay(d, month is None or d.month == month, by_day.get(d, [])) for d in days]
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar_module.monthrange(year, month)[1])
