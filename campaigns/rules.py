"""The content rules of a variant, in one place for the admin, the API and the
services. Each problem is a plain message on the field a person must fix.

Limits from wecom-api.md §1.2: copy ≤ 2000 characters (the posted text is the
copy, the call to action's line and the hashtags), ≤ 9 images, or 1 video, or 1
link (title ≤ 64 bytes, counted as UTF-8 as WeCom counts bytes), never mixed, and
not all empty. Links posted are tracked (campaigns.links): only http and https.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns import links
from campaigns.models import COPY_MAX_CHARS, LINK_TITLE_MAX_BYTES, MAX_HASHTAGS, MAX_IMAGES, CallToAction

HASHTAG_MAX_CHARS = 32
_HASHTAG_TEXT = re.compile(r"^[\w\u4e00-\u9fff·・&-]+$")


def hashtag_normalise(raw: str) -> str:
    """``＃ 情人节 `` → ``情人节``: NFKC (full-width ＃ and letters), no leading #, no spaces."""
    text = unicodedata.normalize("NFKC", raw or "").strip().lstrip("#").strip()
    if not text:
        raise ValidationError(_("A hashtag needs some text after the #."))
    if len(text) > HASHTAG_MAX_CHARS:
        raise ValidationError(_("A hashtag is at most %(n)s characters.") % {"n": HASHTAG_MAX_CHARS})
    if not _HASHTAG_TEXT.match(text):
        raise ValidationError(_("A hashtag is one word: letters, digits, Chinese characters, - and _ (no spaces)."))
    return text


def posted_text(copy: str, hashtags: Iterable[str], cta_line: str = "") -> str:
    """The text WeCom receives: the copy, then the call to action's line (campaigns.links.cta_line),
    then the hashtags, each on its own line."""
    tags = " ".join(f"#{tag}" for tag in hashtags)
    return "\n".join(part for part in ((copy or "").rstrip(), cta_line, tags) if part)


def forbidden_found(texts: Iterable[str], words: Iterable[str]) -> list[str]:
    """The forbidden words that occur in any of ``texts`` (case-insensitive, NFKC), in list order."""
    haystack = unicodedata.normalize("NFKC", "\n".join(t or "" for t in texts)).casefold()
    haystack = "".join(c for c in haystack if unicodedata.category(c) != "Cf")  # "最\u200b低价" is still 最低价
    return [w for w in words if w and unicodedata.normalize("NFKC", w).casefold() in haystack]


@dataclass
class VariantContent:
    """What a variant holds, as plain values (from a form, the API or the database)."""

    copy: str = ""
    hashtags: list[str] = field(default_factory=list)
    image_count: int = 0
    has_video: bool = False
    link_url: str = ""
    link_title: str = ""
    has_link_cover: bool = False
    cta: CallToAction | None = None
    audience_all: bool = True
    audience_tag_count: int = 0
    audience_tag_pks: tuple[int, ...] = ()  # the tags' primary keys, where known (the tier rule needs them)
    department_count: int = 0
    associate_count: int = 0


@dataclass
class Window:
    """The moment's times and its campaign's days (local)."""

    publish_at: dt.datetime | None
    expires_at: dt.datetime | None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None


def _local(value: dt.datetime) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


def moment_window_errors(window: Window, *, now: dt.datetime | None = None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    now = now or timezone.now()
    if window.publish_at is None or window.expires_at is None:
        return errors
    if window.publish_at <= now:
        errors.setdefault("publish_at", []).append(_("The publish time is in the past."))
    if window.expires_at <= window.publish_at:
        errors.setdefault("expires_at", []).append(_("The moment must expire after its publish time."))
    if window.starts_on and window.ends_on:
        day = timezone.localtime(window.publish_at).date()
        if not window.starts_on <= day <= window.ends_on:
            errors.setdefault("publish_at", []).append(
                _("The publish day %(day)s is outside the campaign (%(start)s to %(end)s).")
                % {"day": day, "start": window.starts_on, "end": window.ends_on}
            )
    return errors


def variant_errors(content: VariantContent, window: Window, *, forbidden: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every problem of one variant, by field. Empty when it can be submitted."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    # The call to action's line counts with a short URL of the real length: what is approved fits when posted.
    cta_line = links.cta_line(content.cta, links.short_url_sample() if links.cta_target(content.cta) else "")
    text = posted_text(content.copy, content.hashtags, cta_line)
    if len(text) > COPY_MAX_CHARS and cta_line:
        add("copy", _("The copy with its call to action and hashtags is %(n)s characters; WeCom takes at most "
                      "%(max)s.") % {"n": len(text), "max": COPY_MAX_CHARS})  # fmt: skip
    elif len(text) > COPY_MAX_CHARS:
        add("copy", _("The copy with its hashtags is %(n)s characters; WeCom takes at most %(max)s.")
            % {"n": len(text), "max": COPY_MAX_CHARS})  # fmt: skip
    if len(content.hashtags) > MAX_HASHTAGS:
        add("hashtags", ngettext("At most %(max)s hashtag.", "At most %(max)s hashtags.", MAX_HASHTAGS)
            % {"max": MAX_HASHTAGS})  # fmt: skip

    has_link = bool(content.link_url or content.link_title or content.has_link_cover)
    if content.image_count > MAX_IMAGES:
        add(
            "images",
            _("At most %(max)s photos; this variant has %(n)s.") % {"max": MAX_IMAGES, "n": content.image_count},
        )
    if has_link and content.image_count:
        add("link_url", _("A moment carries photos or one link, not both: remove the link or the photos."))
    if content.has_video and (content.image_count or has_link):
        add("video", _("A moment carries photos, one video or one link, never two of them: keep one."))
    if has_link:
        if not content.link_url:
            add("link_url", _("A link needs its URL."))
        elif not links.trackable(content.link_url):
            add("link_url", _("A link's URL must start with http:// or https://."))
        if not content.has_link_cover:
            add("link_cover", _("A link needs a cover image from the media library."))
        title_bytes = len((content.link_title or "").encode())
        if title_bytes > LINK_TITLE_MAX_BYTES:
            message = _("The link title is %(n)s bytes; WeCom takes at most %(max)s (a Chinese character is 3).")
            add("link_title", message % {"n": title_bytes, "max": LINK_TITLE_MAX_BYTES})
    if not content.copy.strip() and not content.image_count and not has_link and not content.has_video:
        add("copy", _("Write some copy or add photos or a link: a moment cannot be empty."))

    if not content.audience_all and not content.audience_tag_count:
        add("audience_tags", _("Choose the customer tags this variant is for, or tick “all contacts”."))
    if not content.department_count and not content.associate_count:
        add("target_departments", _("Choose the departments or associates who will publish this variant."))

    cta = content.cta
    # A tier-exclusive offer goes only to its tier: the variant's audience must be that tier's customers alone.
    tier_offer = cta is not None and cta.kind == CallToAction.Kind.TIER_OFFER and cta.tier_id is not None
    if tier_offer and (content.audience_all or set(content.audience_tag_pks) != {cta.tier_id}):
        add("cta", _("“%(cta)s” is exclusive to the tier “%(tier)s”: target this variant at that tag alone "
                         "(not all contacts, no other tag).") % {"cta": cta.label, "tier": cta.tier})  # fmt: skip
    if cta is not None and cta.url and not links.trackable(cta.url):
        add("cta", _("The call to action's URL must start with http:// or https://."))
    if cta is not None and cta.kind == CallToAction.Kind.GROUP_QR and not cta.url:
        add("cta", _("The group QR code needs the URL that joins the group: each associate's QR code opens it."))
    if cta is not None and cta.expires_at is not None and window.publish_at and window.expires_at:
        # The offer must run while the moment can be seen: inside its window.
        if cta.expires_at <= window.publish_at:
            add("cta", _("The call to action expires at %(cta)s, before the moment is published (%(moment)s).")
                % {"cta": _local(cta.expires_at), "moment": _local(window.publish_at)})  # fmt: skip
        elif cta.expires_at > window.expires_at:
            add("cta", _("The call to action expires at %(cta)s, after the moment's window ends (%(moment)s): "
                         "shorten the offer or extend the moment.")
                % {"cta": _local(cta.expires_at), "moment": _local(window.expires_at)})  # fmt: skip

    if invisible_found(content.copy):
        add("copy", _("Remove the invisible control characters from your text."))
    if found := links_found(content.copy):
        add("copy", _("Links in the copy would not be tracked: remove %(links)s and use the link attachment or a "
                      "call to action instead.") % {"links": "、".join(found)})  # fmt: skip
    found = forbidden_found([content.copy, *content.hashtags, content.link_title, cta.label if cta else ""], forbidden)
    if found:
        add("copy", ngettext("Remove the forbidden word: %(words)s.", "Remove the forbidden words: %(words)s.",
                             len(found)) % {"words": "、".join(found)})  # fmt: skip
    return errors


# A web address in text: a scheme, "www.", or a host ending in a common top-level domain (as phones linkify).
# A web address in text, as phones linkify it: a scheme or "www.", a host of ASCII labels ending in a top-level
# domain of letters (bounded by ASCII lookarounds, not \b: Chinese characters are word characters too, so
# "访问evil.com领券" must match), or an IP address.
_TAIL = r"(?:[/:?#][^\s，。！？、）)]*)?"
_URL = re.compile(
    r"(?i)(?:https?://|www\.)[^\s，。！？、）)]+"
    r"|(?<![a-z0-9.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?![a-z0-9-])"
    + _TAIL
    + r"|(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9.])"
    + _TAIL
)
_DOTS = str.maketrans({"。": ".", "｡": ".", "︒": "."})  # ideographic full stops written in place of a dot
_ALLOWED_FORMAT = {"\u200d"}  # the zero-width joiner inside emoji sequences (👨‍👩‍👧)


def links_found(text: str) -> list[str]:
    """The web addresses written in ``text`` (posted links must be tracked: the link attachment or the call to
    action, which go out as short links)."""
    plain = unicodedata.normalize("NFKC", text or "").translate(_DOTS)
    return [m.group(0) for m in _URL.finditer(plain)]


def invisible_found(text: str, *, newlines: bool = True) -> bool:
    """Whether ``text`` holds characters a reader cannot see or that break lines unseen: controls (Cc) but the
    line break where allowed, format characters (Cf: zero-width spaces, joiners, bidi marks, soft hyphens, tag
    characters…; the emoji joiner aside), line and paragraph separators (Zl, Zp), private and unassigned code
    points (Co, Cs, Cn)."""
    for char in text or "":
        if char == "\n" and newlines:
            continue
        if char in _ALLOWED_FORMAT:
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            return True
    return False


@dataclass
class PersonalTouch:
    """What a variant lets its associates do (Variant.PersonalTouch) and its bound."""

    policy: str  # none | line | edit
    max_chars: int = 140


def personal_touch_errors(written: str, touch: PersonalTouch, *, forbidden: Iterable[str] = ()) -> list[str]:
    """Why what an associate wrote cannot be posted, in plain words (empty when it can). The same rules as the
    brand's copy: forbidden words, no links but the tracked ones, invisible characters; a personal line is one
    line of at most ``max_chars``. The length of the whole text is checked with the posted text."""
    problems = []
    if touch.policy == "none":
        return []  # nothing the associate sends is used: the brand's copy goes out (personal_text)
    if invisible_found(written, newlines=touch.policy == "edit"):
        problems.append(_("Remove the invisible control characters from your text."))
    if touch.policy == "line":
        if "\n" in written or "\r" in written:
            problems.append(_("Your personal line is a single line: remove the line breaks."))
        if len(written) > touch.max_chars:
            problems.append(_("Your personal line is %(n)s characters; at most %(max)s.")
                            % {"n": len(written), "max": touch.max_chars})  # fmt: skip
    if found := links_found(written):
        problems.append(_("Links cannot be added by hand: remove %(links)s. The moment's own links are added for "
                          "you and counted.") % {"links": "、".join(found)})  # fmt: skip
    if found := forbidden_found([written], forbidden):
        problems.append(ngettext("Remove the forbidden word: %(words)s.", "Remove the forbidden words: %(words)s.",
                                 len(found)) % {"words": "、".join(found)})  # fmt: skip
    return problems


def personal_text(brand_copy: str, written: str, touch: PersonalTouch) -> str:
    """The copy as posted: the brand's, the associate's line before it, or the associate's edit."""
    written = (written or "").strip()
    if touch.policy == "line" and written:
        return f"{written}\n{brand_copy}"
    if touch.policy == "edit" and written:
        return written
    return brand_copy


def raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)
