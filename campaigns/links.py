"""CTA tracking (DESIGN.md §5.5): every URL a moment posts — its link attachment and its call to
action — goes out as a short link ``/go/<code>``, one per (moment, associate), so a click says
whose post it came from. In an enterprise moment WeCom posts one content for all its senders: there
the link has no associate and its clicks count for the moment only.

- ``/go/<code>`` records a click (time, moment, campaign, associate, local day, a coarse device
  class — no IP address, no user agent) and redirects. HEAD requests and link previewers (the
  servers of chat apps fetching a title and a picture) are redirected without being counted.
- A group QR code encodes the same short link, so a scan is a click like any other.
- The call to action becomes a line of the posted text (``cta_line``); drafting counts that line
  with a short URL of the same length (``short_url_sample``), so an approved moment fits at publish.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import segno
from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CallToAction, LinkClick, Moment, TrackedLink, Variant
from staff.models import Associate

CODE_LENGTH = 10
# Letters and digits only: a URL in a moment's text ends at the code, whatever the app that linkifies it.
# 62**10 ≈ 8·10^17 codes, drawn at random (secrets): no code can be guessed from another.
CODE_ALPHABET = string.ascii_letters + string.digits
CODE_PATTERN = re.compile(rf"[A-Za-z0-9]{{{CODE_LENGTH}}}")
# A new code that is already taken is skipped by the insert and drawn again (odds ~1e-12 a link).
CREATE_ATTEMPTS = 5
LOOKUP_CHUNK = 5000  # associate ids per IN (...) when links are made for many associates at once
TRACKED_SCHEMES = ("http", "https")  # the only targets /go/ ever redirects to

# QR codes: error correction M (15% damage, the usual choice for print and screens), the standard
# 4-module quiet zone, 10 px a module in the PNG (a ~400 px image for a URL of ~40 characters).
QR_ERROR = "m"
QR_BORDER = 4
QR_SCALE = 10


# --- codes and URLs ----------------------------------------------------------------------------------
def code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_is_wellformed(code: str) -> bool:
    return bool(CODE_PATTERN.fullmatch(code or ""))


def short_url(code: str) -> str:
    """The absolute short URL, on the address associates' and customers' phones reach (MOMENTS_PUBLIC_URL)."""
    return settings.MOMENTS_PUBLIC_URL.rstrip("/") + reverse("campaigns:go", args=[code])


def short_url_sample() -> str:
    """A short URL before its code exists (previews, length checks): the same length as every real one."""
    return short_url("0" * CODE_LENGTH)[:-CODE_LENGTH] + "·" * CODE_LENGTH


def trackable(url: str) -> bool:
    """Whether /go/ may redirect to ``url``: http or https with a host."""
    parts = urlsplit(url or "")
    return parts.scheme.lower() in TRACKED_SCHEMES and bool(parts.netloc)


# --- links ---------------------------------------------------------------------------------------------
def _links_of(moment_id: int, associate_ids: list[int | None], url: str) -> dict[int | None, TrackedLink]:
    ids = [pk for pk in associate_ids if pk is not None]
    queries = [Q(associate_id__in=ids[i : i + LOOKUP_CHUNK]) for i in range(0, len(ids), LOOKUP_CHUNK)]
    if None in associate_ids:
        queries = [queries[0] | Q(associate__isnull=True), *queries[1:]] if queries else [Q(associate__isnull=True)]
    found: dict[int | None, TrackedLink] = {}
    for query in queries:
        for link in TrackedLink.objects.filter(query, moment_id=moment_id, target_url=url):
            found[link.associate_id] = link
    return found


def tracked_links_for(
    *, moment: Moment, associate_ids: Iterable[int | None], url: str, purpose: str
) -> dict[int | None, TrackedLink]:
    """The short links of ``url`` in ``moment`` for these associates (None: the moment's own link, for an
    enterprise moment), created where missing; by associate id. One SELECT when they all exist.

    Race-safe without locks: the insert skips rows that conflict (ON CONFLICT DO NOTHING on PostgreSQL,
    INSERT OR IGNORE on SQLite) — a link another request created meanwhile, or a code already taken —
    and the select that follows reads what is there; codes that collided are drawn again."""
    return _ensure(moment.pk, associate_ids, url, purpose)


def _ensure(moment_id: int, associate_ids: Iterable[int | None], url: str, purpose: str):
    if not trackable(url):
        raise ValueError(f"only http and https URLs are tracked, not {url!r}")
    wanted = list(dict.fromkeys(associate_ids))
    found = _links_of(moment_id, wanted, url)
    for _attempt in range(CREATE_ATTEMPTS):
        missing = [pk for pk in wanted if pk not in found]
        if not missing:
            return found
        rows = [TrackedLink(code=code_new(), moment_id=moment_id, associate_id=pk, target_url=url, purpose=purpose)
                for pk in missing]  # fmt: skip
        TrackedLink.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        found.update(_links_of(moment_id, missing, url))
    raise RuntimeError(f"could not create the tracked links of moment {moment_id} for {url!r}")


def tracked_link_for(*, moment: Moment, associate: Associate | None, url: str, purpose: str) -> TrackedLink:
    """One associate's short link of ``url`` in ``moment`` (``associate`` None: the enterprise moment's)."""
    key = associate.pk if associate is not None else None
    return _ensure(moment.pk, [key], url, purpose)[key]


def tracked_link_get(code: str) -> TrackedLink | None:
    """The link of a short code with what a click records (one query), or None when the code is
    malformed (no query) or unknown."""
    if not code_is_wellformed(code):
        return None
    return (
        TrackedLink.objects.select_related("moment")
        .only("code", "target_url", "associate_id", "moment_id", "moment__campaign_id")
        .filter(code=code)
        .first()
    )


# --- clicks ----------------------------------------------------------------------------------------------
# Link previewers: servers that fetch a shared link to show its title and picture, and scripts. They are
# redirected like anyone but not counted. WeChat and WeCom fetch previews from their servers too and document
# no user agent for it; what they send is caught by the generic words at the end (the in-app browsers,
# "MicroMessenger" and "wxwork" in a phone's user agent, are people). Headless browsers are not listed:
# previewers that render pages with one say so in their own name.
PREVIEWER_NAMES = (
    "facebookexternalhit", "facebot", "meta-externalagent",  # Facebook, Instagram, Messenger (and iMessage)
    "twitterbot", "slackbot", "slack-imgproxy", "telegrambot", "discordbot", "whatsapp", "linkedinbot",
    "skypeuripreview", "pinterestbot", "redditbot", "embedly", "iframely", "vkshare", "bitlybot",
    "googlebot", "google-inspectiontool", "bingbot", "applebot", "petalbot", "duckduckbot",  # and "…spider"
    "curl/", "wget/", "python-requests", "python-httpx", "python-urllib", "aiohttp", "go-http-client",
    "java/", "libwww-perl", "httpie", "postmanruntime", "node-fetch", "axios/",
)  # fmt: skip
# Generic words: a "bot" that ends a name ("Twitterbot/1.0", "Slackbot-LinkExpanding") or stands alone, but
# not a phone maker's model ("CUBOT X30"); spiders (Baidu, Sogou, Bytedance, 360 …), crawlers and previews.
# Browsers named after a search engine (SogouMobileBrowser, YaBrowser) are people.
_GENERIC_PREVIEWER = re.compile(r"\bbot\b|[a-z]bot[/\-_;)]|[a-z]bot$|spider|crawl|preview")


def is_link_previewer(user_agent: str) -> bool:
    """Not a person tapping the link: a link previewer, a crawler or a script — or no user agent at all,
    which no phone's browser sends."""
    agent = (user_agent or "").strip().lower()
    if not agent:
        return True
    return any(name in agent for name in PREVIEWER_NAMES) or bool(_GENERIC_PREVIEWER.search(agent))


def device_class(user_agent: str) -> str:
    """A coarse class of the device from its user agent; nothing more of it is kept. iPads since iPadOS 13
    ask for desktop sites with a Mac's user agent, and count as desktops."""
    agent = (user_agent or "").lower()
    if "wxwork" in agent:  # before WeChat: WeCom's in-app browser says MicroMessenger too
        return LinkClick.Device.WECOM
    if "micromessenger" in agent:
        return LinkClick.Device.WECHAT
    if any(word in agent for word in ("ipad", "tablet", "kindle", "silk/", "playbook")) or (
        "android" in agent and "mobile" not in agent
    ):
        return LinkClick.Device.TABLET
    if any(word in agent for word in ("iphone", "ipod", "android", "mobile", "windows phone", "harmonyos")):
        return LinkClick.Device.PHONE
    if any(word in agent for word in ("windows nt", "macintosh", "mac os x", "x11", "cros", "linux")):
        return LinkClick.Device.DESKTOP
    return LinkClick.Device.OTHER


def link_click_record(*, link: TrackedLink, user_agent: str, now: dt.datetime | None = None) -> bool:
    """Count one click on ``link`` (as ``tracked_link_get`` loads it) in one INSERT; False for a link
    previewer, which is not counted."""
    if is_link_previewer(user_agent):
        return False
    now = now or timezone.now()
    LinkClick.objects.create(
        link_id=link.pk, campaign_id=link.moment.campaign_id, moment_id=link.moment_id,
        associate_id=link.associate_id, clicked_at=now,
        day=timezone.localtime(now, timezone.get_default_timezone()).date(), device=device_class(user_agent),
    )  # fmt: skip
    return True


# --- the posted text and attachment ----------------------------------------------------------------------
def cta_target(cta: CallToAction | None) -> str:
    """The URL a call to action sends customers to, tracked ("" when it has none, or one that is not http or
    https, which the content rules refuse: then the line shows no URL)."""
    return cta.url if cta is not None and trackable(cta.url) else ""


def cta_line(cta: CallToAction | None, url: str = "") -> str:
    """The call to action as a line of the posted text; ``url`` is its short URL ("" when it has no URL).

    Voucher: ``{label}: {code}``; a URL to open (link, discount, tier offer, group QR code):
    ``👉 {label} {short URL}``; a tier offer without URL: its label."""
    if cta is None:
        return ""
    if cta.kind == CallToAction.Kind.VOUCHER:
        line = f"{cta.label}: {cta.code}"
        return f"{line} {url}" if url else line
    return f"👉 {cta.label} {url}" if url else cta.label


@dataclass(frozen=True)
class PostedLinks:
    """What a variant posts for one associate (or, in an enterprise moment, for everyone)."""

    attachment_url: str = ""  # the link attachment's short URL ("" without a link attachment)
    cta_line: str = ""  # the call to action's line of the text ("" without a call to action)
    qr_code: str = ""  # for a group QR code: the code of the short link it encodes


def posted_links(variant: Variant, *, associate: Associate | None) -> PostedLinks:
    """The short links ``variant`` posts for ``associate`` (None in an enterprise moment), created where
    missing: its link attachment and its call to action. A query per URL when they exist."""
    key = associate.pk if associate is not None else None
    attachment = ""
    if variant.link_url and trackable(variant.link_url):  # the content rules refuse other URLs
        attachment = short_url(
            _ensure(variant.moment_id, [key], variant.link_url, TrackedLink.Purpose.ATTACHMENT)[key].code
        )
    cta = variant.cta
    if not (target := cta_target(cta)):
        return PostedLinks(attachment_url=attachment, cta_line=cta_line(cta))
    is_qr = cta.kind == CallToAction.Kind.GROUP_QR
    purpose = TrackedLink.Purpose.GROUP_QR if is_qr else TrackedLink.Purpose.CTA
    link = _ensure(variant.moment_id, [key], target, purpose)[key]
    return PostedLinks(attachment_url=attachment, cta_line=cta_line(cta, short_url(link.code)),
                       qr_code=link.code if is_qr else "")  # fmt: skip


def cta_lines_known(pairs: Iterable[tuple[Variant, int]]) -> dict[tuple[int, int], str]:
    """The call-to-action lines associates already posted, by (variant id, associate id), in one query:
    for recognising their posts among WeCom's moments. A variant whose link does not exist yet is left out."""
    pairs = [(variant, associate_id) for variant, associate_id in pairs if cta_target(variant.cta)]
    if not pairs:
        return {}
    rows = TrackedLink.objects.filter(
        moment_id__in={variant.moment_id for variant, _ in pairs},
        associate_id__in={associate_id for _, associate_id in pairs},
        target_url__in={cta_target(variant.cta) for variant, _ in pairs},
    ).values_list("moment_id", "associate_id", "target_url", "code")
    codes = {(moment_id, associate_id, url): code for moment_id, associate_id, url, code in rows}
    lines = {}
    for variant, associate_id in pairs:
        code = codes.get((variant.moment_id, associate_id, cta_target(variant.cta)))
        if code:
            lines[(variant.pk, associate_id)] = cta_line(variant.cta, short_url(code))
    return lines


# --- group QR codes ----------------------------------------------------------------------------------------
def group_qr(link: TrackedLink) -> segno.QRCode:
    """The QR code of a link: its absolute short URL, so a scan is tracked like a tap."""
    return segno.make(short_url(link.code), error=QR_ERROR, micro=False)


def group_qr_png(*, link: TrackedLink) -> bytes:
    buffer = io.BytesIO()
    group_qr(link).save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def group_qr_svg(*, link: TrackedLink) -> bytes:
    buffer = io.BytesIO()
    group_qr(link).save(buffer, kind="svg", scale=QR_SCALE, border=QR_BORDER, xmldecl=False)
    return buffer.getvalue()
