"""Approved content is a frozen version (DESIGN.md §5.2).

Submitting a moment freezes each of its variants into a ``VariantVersion``: the content as values
(copy, hashtags, the call to action's kind, label, URL, code, tier and expiry, the attachments by
asset, the audience tags, the senders, the personal-touch policy), its digest and the text it posts.
Approving the moment approves those versions (``Variant.approved_version``); dispatch, the WeCom tasks
and the associate's page read the approved version and nothing else, so no later change to a variant
or to a library object it was made from can alter what goes out. A library change sends the moments
that use it back to review with fresh versions (``library_change_apply``); the approver sees the
difference against the last approved version (``version_diff``).

Four eyes: everyone who wrote or changed a moment, one of its variants or a library object it uses is
its contributor (``MomentContributor``); a version's authors are its moment's contributors and the
campaign's owner when it is made, and none of them approves it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Max

from campaigns import links, rules
from campaigns.models import (
    CallToAction,
    MediaAsset,
    Moment,
    MomentContributor,
    State,
    Variant,
    VariantVersion,
    VersionAsset,
)

SCHEMA = 1  # the shape of ``content``; a reader of an older shape knows it by this


# --- freezing ---------------------------------------------------------------------------------------
def _asset(asset) -> dict | None:
    return None if asset is None else {"id": asset.pk, "sha256": asset.sha256}


def _cta(cta) -> dict | None:
    if cta is None:
        return None
    tier = cta.tier if cta.tier_id else None
    return {
        "id": cta.pk, "kind": cta.kind, "label": cta.label, "url": cta.url, "code": cta.code,
        "group_name": cta.group_name, "expires_at": cta.expires_at.isoformat() if cta.expires_at else None,
        "tier": {"id": tier.pk, "tag_id": tier.tag_id, "name": tier.name} if tier else None,
    }  # fmt: skip


def variant_freeze(variant) -> dict:
    """The content of ``variant`` as it stands, as plain values (a few queries)."""
    hashtags = variant.hashtags.order_by("varianthashtag__position", "varianthashtag__id")
    images = variant.images.order_by("variantimage__position", "variantimage__id")
    link = None
    if variant.link_url or variant.link_title or variant.link_cover_id:
        link = {"url": variant.link_url, "title": variant.link_title, "cover": _asset(variant.link_cover)}
    tone = variant.tone
    return {
        "schema": SCHEMA,
        "name": variant.name,
        "tone": {"code": tone.code, "name": tone.name},
        "copy": variant.copy,
        "hashtags": [h.text for h in hashtags],
        "cta": _cta(variant.cta),
        "images": [_asset(a) for a in images],
        "video": _asset(variant.video),
        "link": link,
        "audience": {
            "all": variant.audience_all,
            "tags": [{"id": t.pk, "tag_id": t.tag_id, "name": t.name} for t in variant.audience_tags.order_by("pk")],
        },
        "senders": {
            "departments": [{"id": d.pk, "name": d.name} for d in variant.target_departments.order_by("pk")],
            "associates": [
                {"id": a.pk, "userid": a.userid, "name": a.name} for a in variant.target_associates.order_by("pk")
            ],
        },  # fmt: skip
        "personal_touch": {"policy": variant.personal_touch, "max_chars": variant.personal_line_max},
    }


def content_digest(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- reading a version ----------------------------------------------------------------------------------
def _cta_of(values: dict | None) -> CallToAction | None:
    """The call to action as it was frozen, as an unsaved object (what the text and links are made of)."""
    if values is None:
        return None
    expires = dt.datetime.fromisoformat(values["expires_at"]) if values.get("expires_at") else None
    tier = values.get("tier") or {}
    cta = CallToAction(kind=values["kind"], label=values["label"], url=values["url"], code=values["code"],
                       group_name=values.get("group_name", ""), expires_at=expires, tier_id=tier.get("id"))  # fmt: skip
    cta.tier_name = tier.get("name", "")
    return cta


@dataclass
class Frozen:
    """A variant as one version holds it, with the attributes the posting code reads (``pk`` is the
    variant's id, so short links and confirmations key on the variant as before)."""

    pk: int | None
    moment_id: int | None
    name: str
    copy: str
    hashtags: list[str]
    cta: CallToAction | None
    link_url: str
    link_title: str
    link_cover: MediaAsset | None
    video: MediaAsset | None
    images: list[MediaAsset]
    audience_all: bool
    tag_ids: list[str]  # WeCom tag ids ([] when for all contacts)
    tag_names: list[str]
    department_ids: list[int]
    associate_ids: list[int]
    personal_touch: str
    personal_line_max: int
    tone_name: str = ""
    version: VariantVersion | None = field(default=None, repr=False)

    @property
    def video_id(self):
        return self.video.pk if self.video else None

    @property
    def link_cover_id(self):
        return self.link_cover.pk if self.link_cover else None


def frozen_from(content: dict, *, variant_id=None, moment_id=None, assets: dict | None = None) -> Frozen:
    """``assets``: the MediaAssets by id (loaded in one query when not given)."""
    ids = [a["id"] for a in content["images"]]
    ids += [a["id"] for a in (content["video"], (content["link"] or {}).get("cover")) if a]
    if assets is None:
        assets = MediaAsset.objects.in_bulk(ids) if ids else {}
    link = content["link"] or {}
    cover = link.get("cover")
    audience = content["audience"]
    tags = [] if audience["all"] else audience["tags"]
    return Frozen(
        pk=variant_id, moment_id=moment_id, name=content["name"], copy=content["copy"], hashtags=content["hashtags"],
        cta=_cta_of(content["cta"]), link_url=link.get("url", ""), link_title=link.get("title", ""),
        link_cover=assets.get(cover["id"]) if cover else None,
        video=assets.get(content["video"]["id"]) if content["video"] else None,
        images=[assets[a["id"]] for a in content["images"] if a["id"] in assets],
        audience_all=audience["all"], tag_ids=[t["tag_id"] for t in tags], tag_names=[t["name"] for t in tags],
        department_ids=[d["id"] for d in content["senders"]["departments"]],
        associate_ids=[a["id"] for a in content["senders"]["associates"]],
        personal_touch=content["personal_touch"]["policy"], personal_line_max=content["personal_touch"]["max_chars"],
        tone_name=content["tone"]["name"],
    )  # fmt: skip


def frozen(version: VariantVersion) -> Frozen:
    item = frozen_from(version.content, variant_id=version.variant_id, moment_id=version.moment_id)
    item.version = version
    return item


def frozen_of_variant(variant: Variant) -> Frozen:
    """The live variant read the same way (the admin's previews of a draft)."""
    return frozen_from(variant_freeze(variant), variant_id=variant.pk, moment_id=variant.moment_id)


def content_text(content: dict) -> str:
    """The posted text with a sample short URL of the real length (for people: lists, diffs)."""
    cta = _cta_of(content["cta"])
    sample = links.short_url_sample() if links.cta_target(cta) else ""
    return rules.posted_text(content["copy"], content["hashtags"], links.cta_line(cta, sample))


# --- making versions -------------------------------------------------------------------------------------
def contributors_add(*, moment_ids, user) -> None:
    """Record ``user`` as having written or changed these moments (idempotent)."""
    if user is None or not getattr(user, "pk", None):
        return
    MomentContributor.objects.bulk_create([MomentContributor(moment_id=pk, user=user) for pk in set(moment_ids)],
                                          ignore_conflicts=True)  # fmt: skip


def moment_authors(moment: Moment) -> set[int]:
    """Who may not approve ``moment``: its campaign's owner, every contributor, its last editor and everyone who
    submitted it (the last two also for moments older than contributors)."""
    from campaigns.models import StateChange

    authors = set(MomentContributor.objects.filter(moment=moment).values_list("user_id", flat=True))
    authors.add(moment.campaign.owner_id)
    if moment.edited_by_id:
        authors.add(moment.edited_by_id)
    submitters = StateChange.objects.filter(moment=moment, to_state=State.IN_REVIEW, by__isnull=False)
    authors.update(submitters.values_list("by_id", flat=True))
    return authors


def _version_create(variant: Variant, moment: Moment, content: dict, *, by, authors: list[int]) -> VariantVersion:
    for _attempt in range(3):  # a concurrent freeze of the same variant takes the number: take the next
        number = (VariantVersion.objects.filter(variant=variant).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                version = VariantVersion.objects.create(
                    variant=variant, moment=moment, number=number, content=content, digest=content_digest(content),
                    text=content_text(content), authors=authors, created_by=by,
                )  # fmt: skip
        except IntegrityError:
            continue
        ids = {a["id"] for a in content["images"]}
        ids |= {a["id"] for a in (content["video"], (content["link"] or {}).get("cover")) if a}
        VersionAsset.objects.bulk_create([VersionAsset(version=version, asset_id=pk) for pk in ids])
        return version
    raise RuntimeError(f"could not number a version of variant {variant.pk}")


def moment_versions_make(moment: Moment, *, by) -> list[VariantVersion]:
    """Freeze every variant of ``moment`` as it stands (at submission, or when a library object it uses
    changed). Call inside the transaction that moves the moment to review."""
    if by is not None:
        contributors_add(moment_ids=[moment.pk], user=by)
    authors = sorted(moment_authors(moment))
    variants = moment.variants.select_related("tone", "cta__tier", "video", "link_cover").order_by("position", "id")
    return [_version_create(v, moment, variant_freeze(v), by=by, authors=authors) for v in variants]


def versions_in_review(moment: Moment) -> dict[int, VariantVersion]:
    """The newest version of each current variant, by variant id."""
    newest: dict[int, VariantVersion] = {}
    for version in VariantVersion.objects.filter(variant__moment=moment).order_by("variant_id", "-number"):
        newest.setdefault(version.variant_id, version)
    return newest


def unchanged_since_frozen(moment: Moment) -> bool:
    """Whether every variant still equals its newest version and each has one (nothing was changed, added
    or removed around the workflow's back since the moment was submitted)."""
    newest = versions_in_review(moment)
    variants = list(moment.variants.select_related("tone", "cta__tier", "video", "link_cover"))
    return bool(variants) and all(
        v.pk in newest and newest[v.pk].digest == content_digest(variant_freeze(v)) for v in variants
    )


def approved_and_current(moment: Moment) -> bool:
    """Whether each variant's approved version is its newest and still equals it (safe to schedule)."""
    newest = versions_in_review(moment)
    variants = list(moment.variants.all())
    return unchanged_since_frozen(moment) and all(
        v.approved_version_id is not None and v.approved_version_id == newest[v.pk].pk for v in variants
    )


# --- differences -----------------------------------------------------------------------------------------
@dataclass
class Change:
    label: str
    before: str
    after: str
    lines: list[str] = field(default_factory=list)  # a unified diff of the text, when it is the text


def _summary(content: dict) -> dict[str, str]:
    audience = content["audience"]
    cta = content["cta"]
    link = content["link"] or {}
    return {
        "text": content_text(content),
        "audience": "all" if audience["all"] else ", ".join(t["name"] for t in audience["tags"]),
        "senders": ", ".join(
            [d["name"] for d in content["senders"]["departments"]]
            + [a["name"] for a in content["senders"]["associates"]]
        ),  # fmt: skip
        "attachments": ", ".join(f"photo {a['sha256'][:8]}" for a in content["images"])
        or (f"video {content['video']['sha256'][:8]}" if content["video"] else "")
        or (f"link {link.get('title', '')} {link.get('url', '')}".strip() if link else ""),
        "cta": ""
        if cta is None
        else " · ".join(
            str(v) for v in (cta["kind"], cta["label"], cta["url"], cta["code"], cta["expires_at"] or "") if v
        ),  # fmt: skip
        "personal_touch": f"{content['personal_touch']['policy']} ({content['personal_touch']['max_chars']})",
        "tone": content["tone"]["name"],
    }


DIFF_LABELS = {"text": "text", "audience": "audience", "senders": "associates", "attachments": "attachments",
               "cta": "call to action", "personal_touch": "personal touch", "tone": "tone"}  # fmt: skip


def version_diff(before: dict | None, after: dict) -> list[Change]:
    """What changed between two contents (``before`` None: everything is new)."""
    old = _summary(before) if before else dict.fromkeys(DIFF_LABELS, "")
    new = _summary(after)
    changes = []
    for key, label in DIFF_LABELS.items():
        if old[key] != new[key]:
            lines = []
            if key == "text":
                lines = list(difflib.unified_diff(old[key].splitlines(), new[key].splitlines(), lineterm="", n=1))[2:]
            changes.append(Change(label=label, before=old[key], after=new[key], lines=lines))
    return changes


# --- library objects ---------------------------------------------------------------------------------------
AFFECTED_STATES = (State.IN_REVIEW, State.APPROVED, State.SCHEDULED)


def moments_using(obj, *, states=AFFECTED_STATES) -> list[Moment]:
    """The moments in ``states`` (by default in review, approved or scheduled) whose variants use the library
    object ``obj`` (a call to action, hashtag, tone or media asset); ``states`` None: in any state."""
    from campaigns.models import CallToAction, Hashtag, Tone

    if isinstance(obj, CallToAction):
        variants = Variant.objects.filter(cta=obj)
    elif isinstance(obj, Hashtag):
        variants = Variant.objects.filter(hashtags=obj)
    elif isinstance(obj, Tone):
        variants = Variant.objects.filter(tone=obj)
    elif isinstance(obj, MediaAsset):
        variants = Variant.objects.filter(images=obj) | Variant.objects.filter(video=obj) | Variant.objects.filter(
            link_cover=obj
        )  # fmt: skip
    else:
        return []
    moments = Moment.objects.filter(pk__in=variants.values_list("moment_id", flat=True))
    if states is not None:
        moments = moments.filter(state__in=states)
    return list(moments.select_related("campaign").order_by("pk"))


def moment_digests(moment: Moment) -> dict[int, str]:
    """Each variant's content digest as it stands (what a library change is compared by)."""
    variants = moment.variants.select_related("tone", "cta__tier", "video", "link_cover")
    return {v.pk: content_digest(variant_freeze(v)) for v in variants}
