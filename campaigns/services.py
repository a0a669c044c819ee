"""The only write path for campaigns: libraries, the media library, the
approval workflow, cloning. Admin actions and API views call these.

Workflow (DESIGN.md §5.2): draft → in_review → approved → scheduled. Each
transition is a conditional update (``UPDATE … WHERE state IN (…)``) recorded as
a StateChange; an edit after submission or approval sends the moment back to
draft. Submitting freezes each variant into a version (campaigns.versions);
approving approves those versions, and only they are ever posted. Marketing
admins submit, approvers decide, and nobody who wrote or changed any part of a
version approves it (four eyes: the campaign's owner and every contributor).
A change to a library object sends the moments using it back to review.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import images, rules, versions, videos
from campaigns.models import (
    Approval,
    CallToAction,
    Campaign,
    Hashtag,
    MediaAsset,
    Moment,
    MomentContributor,
    State,
    StateChange,
    Tone,
    Variant,
    VariantHashtag,
    VariantImage,
    VariantVersion,
)
from campaigns.selectors import forbidden_words
from common.tasks import task_named
from staff.models import Associate, CustomerTag, Department

# The order of progress: a campaign's state is the least advanced of its live moments.
PROGRESS = [State.DRAFT, State.IN_REVIEW, State.APPROVED, State.SCHEDULED, State.DISPATCHING, State.LIVE, State.CLOSED]
EDITABLE_AGAIN = (State.IN_REVIEW, State.APPROVED)  # an edit in these states sends the moment back to draft


class WorkflowError(Exception):
    """A transition that cannot happen now; the message is for people."""


# --- libraries ----------------------------------------------------------------------------------
def hashtag_create(*, text: str, kind: str = Hashtag.Kind.CAMPAIGN) -> Hashtag:
    normalised = rules.hashtag_normalise(text)
    hashtag, _created = Hashtag.objects.get_or_create(text=normalised, defaults={"kind": kind})
    return hashtag


def media_prepare(*, data: bytes) -> images.PreparedImage | videos.PreparedVideo:
    """Check an upload by its content: an MP4 is a video, anything else must be a photo."""
    return videos.video_prepare(data=data) if videos.looks_like_mp4(data) else images.image_prepare(data=data)


def media_asset_create(
    *, data: bytes = b"", prepared: images.PreparedImage | videos.PreparedVideo | None = None,
    original_name: str = "", title: str = "", by=None,
) -> MediaAsset:  # fmt: skip
    """Check, normalise and store one uploaded photo or video (``data``, or already
    ``prepared`` by a form's validation); the same file again returns the stored asset."""
    prepared = prepared or media_prepare(data=data)
    existing = MediaAsset.objects.filter(sha256=prepared.sha256).first()
    if existing is not None:
        return existing
    is_video = isinstance(prepared, videos.PreparedVideo)
    asset = MediaAsset(
        kind=MediaAsset.Kind.VIDEO if is_video else MediaAsset.Kind.IMAGE, title=title[:128], width=prepared.width,
        height=prepared.height, size=len(prepared.content), seconds=prepared.seconds if is_video else None,
        sha256=prepared.sha256, original_name=(original_name or "")[:255], uploaded_by=by,
    )  # fmt: skip
    extension = "mp4" if is_video else prepared.extension
    asset.file.save(f"{asset.public_id}.{extension}", ContentFile(prepared.content), save=False)
    asset.thumbnail.save(f"{asset.public_id}.jpg", ContentFile(prepared.thumbnail), save=False)
    asset.save()
    return asset


# --- writing a variant (the API's path; the admin's forms apply the same rules) ----------------------
VARIANT_FIELDS = ("name", "audience_all", "copy", "personal_touch", "personal_line_max", "link_url", "link_title")


def _resolve(model, field: str, keys: list, label: str, errors: dict, *, name: str) -> list:
    """The objects named by ``keys``, in order, each once; unknown keys become one message on ``name``."""
    keys = list(dict.fromkeys(keys))  # the same hashtag or photo twice is once
    found = {}
    for start in range(0, len(keys), 2000):  # bounded IN lists (SQLite caps bound parameters)
        found.update(
            {getattr(o, field): o for o in model.objects.filter(**{f"{field}__in": keys[start : start + 2000]})}
        )
    unknown = [k for k in keys if k not in found]
    if unknown:
        shown = ", ".join(map(str, unknown[:20])) + (" …" if len(unknown) > 20 else "")
        errors.setdefault(name, []).append(_("Unknown %(what)s: %(keys)s.") % {"what": label, "keys": shown})
    return [found[k] for k in keys if k in found]


@transaction.atomic
def variant_save(*, moment: Moment, by, values: dict, variant: Variant | None = None) -> Variant:
    """Create or change a variant from plain values (references by public key: tone code,
    tag ids, department WeCom ids, userids, hashtag texts, asset and CTA public ids)."""
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    if not moment_is_editable(moment):
        raise WorkflowError(_("“%(moment)s” is %(state)s and can no longer be edited.")
                            % {"moment": moment.title, "state": State(moment.state).label})  # fmt: skip
    errors: dict[str, list[str]] = {}
    tone = None
    if "tone" in values or variant is None:
        tones = _resolve(Tone, "code", [values.get("tone", "")], _("tone"), errors, name="tone")
        tone = tones[0] if tones else None
    tags = _resolve(CustomerTag, "tag_id", values.get("audience_tags", []), _("customer tag"), errors,
                    name="audience_tags")  # fmt: skip
    departments = _resolve(Department, "wecom_id", values.get("target_departments", []), _("department"), errors,
                           name="target_departments")  # fmt: skip
    associates = _resolve(Associate, "userid", [u.lower() for u in values.get("target_associates", [])],
                          _("associate"), errors, name="target_associates")  # fmt: skip
    texts = []
    for raw in values.get("hashtags", []):
        try:
            texts.append(rules.hashtag_normalise(raw))
        except ValidationError as error:
            errors.setdefault("hashtags", []).extend(error.messages)
    hashtags = _resolve(Hashtag, "text", texts, _("hashtag (add it to the library first)"), errors, name="hashtags")
    photos = _resolve(MediaAsset, "public_id", values.get("images", []), _("photo"), errors, name="images")
    if any(p.kind != MediaAsset.Kind.IMAGE for p in photos):
        errors.setdefault("images", []).append(_("Only photos go here; a video is chosen as the variant's video."))
    video = _resolve(MediaAsset, "public_id", [values["video"]] if values.get("video") else [], _("video"), errors,
                     name="video")  # fmt: skip
    if video and video[0].kind != MediaAsset.Kind.VIDEO:
        errors.setdefault("video", []).append(_("This media asset is a photo, not a video."))
    covers = _resolve(MediaAsset, "public_id", [values["link_cover"]] if values.get("link_cover") else [],
                      _("photo"), errors, name="link_cover")  # fmt: skip
    ctas = _resolve(CallToAction, "public_id", [values["cta"]] if values.get("cta") else [], _("call to action"),
                    errors, name="cta")  # fmt: skip
    if errors:
        raise ValidationError(errors)

    variant = variant or Variant(moment=moment)
    if values.pop("allow_personal_touch", False) and "personal_touch" not in values:
        values["personal_touch"] = Variant.PersonalTouch.EDIT  # the former yes/no
    for field in VARIANT_FIELDS:
        if field in values:
            setattr(variant, field, values[field])
    if tone is not None:
        variant.tone = tone
    variant.link_cover = covers[0] if covers else None
    variant.cta = ctas[0] if ctas else None
    variant.video = video[0] if video else None
    content = rules.VariantContent(
        copy=variant.copy, hashtags=[h.text for h in hashtags], image_count=len(photos), has_video=bool(video),
        link_url=variant.link_url,
        link_title=variant.link_title, has_link_cover=bool(covers), cta=variant.cta, audience_all=variant.audience_all,
        audience_tag_count=len(tags), audience_tag_pks=tuple(t.pk for t in tags), department_count=len(departments),
        associate_count=len(associates),
    )  # fmt: skip
    rules.raise_if(rules.variant_errors(content, moment_window(moment), forbidden=forbidden_words()))
    variant.save()
    variant.audience_tags.set(tags)
    variant.target_departments.set(departments)
    variant.target_associates.set(associates)
    VariantHashtag.objects.filter(variant=variant).delete()
    VariantHashtag.objects.bulk_create([VariantHashtag(variant=variant, hashtag=h, position=i)
                                        for i, h in enumerate(hashtags)])  # fmt: skip
    VariantImage.objects.filter(variant=variant).delete()
    VariantImage.objects.bulk_create([VariantImage(variant=variant, asset=a, position=i) for i, a in enumerate(photos)])
    moment_edited(moment=moment, by=by)
    return variant


# --- reading a variant as plain content ---------------------------------------------------------
def variant_content(variant: Variant) -> rules.VariantContent:
    return rules.VariantContent(
        copy=variant.copy,
        hashtags=[h.text for h in variant.hashtags.order_by("varianthashtag__position", "varianthashtag__id")],
        image_count=variant.images.count(),
        has_video=variant.video_id is not None,
        link_url=variant.link_url,
        link_title=variant.link_title,
        has_link_cover=variant.link_cover_id is not None,
        cta=variant.cta,
        audience_all=variant.audience_all,
        audience_tag_count=len(tag_pks := tuple(variant.audience_tags.values_list("pk", flat=True))),
        audience_tag_pks=tag_pks,
        department_count=variant.target_departments.count(),
        associate_count=variant.target_associates.count(),
    )


def moment_window(moment: Moment) -> rules.Window:
    return rules.Window(
        publish_at=moment.publish_at, expires_at=moment.expires_at,
        starts_on=moment.campaign.starts_on, ends_on=moment.campaign.ends_on,
    )  # fmt: skip


def moment_problems(moment: Moment, *, now: dt.datetime | None = None) -> list[str]:
    """Everything that blocks submitting ``moment``, as sentences naming the variant and field."""
    problems = []
    window = moment_window(moment)
    for field, messages in rules.moment_window_errors(window, now=now).items():
        problems.extend(f"{moment.title} · {Moment._meta.get_field(field).verbose_name}: {m}" for m in messages)
    variants = list(moment.variants.select_related("cta"))
    if not variants:
        problems.append(_("%(moment)s has no variant: add the content for at least one audience.")
                        % {"moment": moment.title})  # fmt: skip
    words = forbidden_words()
    for variant in variants:
        for field, messages in rules.variant_errors(variant_content(variant), window, forbidden=words).items():
            label = _field_label(field)
            problems.extend(f"{moment.title} · {variant.name} · {label}: {m}" for m in messages)
    return problems


def _field_label(name: str) -> str:
    try:
        return str(Variant._meta.get_field(name).verbose_name)
    except Exception:
        return name


# --- the workflow ----------------------------------------------------------------------------------
def _record(moment: Moment, from_state: str, to_state: str, by, note: str = "") -> None:
    StateChange.objects.create(
        campaign_id=moment.campaign_id, moment=moment, from_state=from_state, to_state=to_state, by=by, note=note
    )


def moment_transition(moment: Moment, *, allowed_from: tuple, to: str, by, note: str = "") -> None:
    """The conditional update every transition is: fails if someone moved it meanwhile."""
    current = moment.state
    if current not in allowed_from or not Moment.objects.filter(pk=moment.pk, state=current).update(
        state=to, updated_at=timezone.now()
    ):
        moment.refresh_from_db(fields=["state"])
        raise WorkflowError(
            _("“%(moment)s” is %(state)s, so it cannot become %(target)s.")
            % {"moment": moment.title, "state": State(moment.state).label, "target": State(to).label}
        )
    _record(moment, current, to, by, note)
    moment.state = to


def campaign_state_refresh(campaign: Campaign) -> str:
    states = set(campaign.moments.exclude(state=State.CANCELLED).values_list("state", flat=True))
    state = min(states, key=PROGRESS.index) if states else State.DRAFT
    if campaign.moments.exists() and not states:
        state = State.CANCELLED
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    campaign.state = state
    return state


def _forecast_follows(campaign_id: int) -> None:
    """The campaign's plan changed (what the forecast reads: a moment's times, a variant, approved or not,
    cancelled): its forecast is recomputed in the background after commit, debounced (``analytics.snapshots``).
    Not from dispatch: a moment going out does not change what it is forecast to reach."""
    from analytics import snapshots  # (analytics imports campaigns)

    snapshots.plan_changed(campaign_id)


def _require(user, permission: str, message: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(message)


@transaction.atomic
def moment_submit(*, moment: Moment, by, note: str = "") -> None:
    _require(by, "campaigns.submit_moment", _("Only marketing admins submit moments for review."))
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    problems = moment_problems(moment)
    if problems:
        raise ValidationError(problems)
    moment_transition(moment, allowed_from=(State.DRAFT,), to=State.IN_REVIEW, by=by, note=note)
    versions.moment_versions_make(moment, by=by)
    campaign_state_refresh(moment.campaign)


@transaction.atomic
def campaign_submit(*, campaign: Campaign, by, note: str = "") -> int:
    """Submit every draft moment of the campaign, all or none; returns how many."""
    _require(by, "campaigns.submit_moment", _("Only marketing admins submit moments for review."))
    drafts = list(campaign.moments.select_for_update().select_related("campaign").filter(state=State.DRAFT))
    if not drafts:
        raise WorkflowError(_("“%(campaign)s” has no draft moment to submit.") % {"campaign": campaign.name})
    problems = [problem for moment in drafts for problem in moment_problems(moment)]
    if problems:
        raise ValidationError(problems)
    for moment in drafts:
        moment_transition(moment, allowed_from=(State.DRAFT,), to=State.IN_REVIEW, by=by, note=note)
        versions.moment_versions_make(moment, by=by)
    campaign_state_refresh(campaign)
    return len(drafts)


def _authors(moment: Moment, in_review: dict) -> set[int]:
    """Who may not approve this moment: the campaign's owner, everyone who wrote or changed the moment, one
    of its variants or a library object it uses, and the authors recorded on the versions in review."""
    authors = versions.moment_authors(moment)
    for version in in_review.values():
        authors.update(version.authors)
    return authors


def _decide(moment: Moment, *, by, approve: bool, note: str) -> list:
    """The decision on one moment; returns the versions it approved."""
    in_review = versions.versions_in_review(moment)
    if by.pk in _authors(moment, in_review):
        raise PermissionDenied(_("You wrote or changed part of “%(moment)s”: another approver must decide.")
                               % {"moment": moment.title})  # fmt: skip
    if not approve:
        moment_transition(moment, allowed_from=(State.IN_REVIEW,), to=State.DRAFT, by=by, note=note)
        return []
    if moment.state == State.IN_REVIEW and not versions.unchanged_since_frozen(moment):
        raise WorkflowError(_("“%(moment)s” changed since it was submitted: submit it again so that what you "
                              "approve is what goes out.") % {"moment": moment.title})  # fmt: skip
    moment_transition(moment, allowed_from=(State.IN_REVIEW,), to=State.APPROVED, by=by, note=note)
    approved = [in_review[v.pk] for v in moment.variants.all()]
    now = timezone.now()
    VariantVersion.objects.filter(pk__in=[v.pk for v in approved]).update(approved_by=by, approved_at=now)
    for version in approved:
        Variant.objects.filter(pk=version.variant_id).update(approved_version=version)
    return approved


@transaction.atomic
def moment_decide(*, moment: Moment, by, approve: bool, note: str = "") -> Approval:
    _require(by, "campaigns.approve_moment", _("Only approvers approve or reject moments."))
    if not approve and not note.strip():
        raise ValidationError({"note": [_("Say why it is rejected, so the writer can fix it.")]})
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    approved = _decide(moment, by=by, approve=approve, note=note)
    campaign_state_refresh(moment.campaign)
    _forecast_follows(moment.campaign_id)
    approval = Approval.objects.create(
        campaign=moment.campaign, moment=moment, decided_by=by, note=note,
        decision=Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED,
    )  # fmt: skip
    approval.versions.set(approved)
    return approval


@transaction.atomic
def campaign_decide(*, campaign: Campaign, by, approve: bool, note: str = "") -> Approval:
    """Approve or reject the whole plan: every moment in review, at once."""
    _require(by, "campaigns.approve_moment", _("Only approvers approve or reject moments."))
    if not approve and not note.strip():
        raise ValidationError({"note": [_("Say why it is rejected, so the writer can fix it.")]})
    in_review = list(campaign.moments.select_for_update().select_related("campaign").filter(state=State.IN_REVIEW))
    if not in_review:
        raise WorkflowError(_("“%(campaign)s” has no moment in review.") % {"campaign": campaign.name})
    approved = []
    for moment in in_review:
        approved += _decide(moment, by=by, approve=approve, note=note)
    campaign_state_refresh(campaign)
    _forecast_follows(campaign.pk)
    approval = Approval.objects.create(
        campaign=campaign, moment=None, decided_by=by, note=note,
        decision=Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED,
    )  # fmt: skip
    approval.versions.set(approved)
    return approval


@transaction.atomic
def moment_edited(*, moment: Moment, by) -> None:
    """Call after any change to a moment or its variants: remembers the editor, and an
    edit after submission or approval sends the moment back to draft."""
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    Moment.objects.filter(pk=moment.pk).update(edited_by=by)
    _forecast_follows(moment.campaign_id)
    moment.edited_by = by
    versions.contributors_add(moment_ids=[moment.pk], user=by)
    if moment.state in EDITABLE_AGAIN:
        moment_transition(
            moment, allowed_from=EDITABLE_AGAIN, to=State.DRAFT, by=by, note=_("Edited after submission.")
        )
        campaign_state_refresh(moment.campaign)
    elif moment.state not in (State.DRAFT,):
        raise WorkflowError(_("“%(moment)s” is %(state)s and can no longer be edited.")
                            % {"moment": moment.title, "state": State(moment.state).label})  # fmt: skip


def moment_is_editable(moment: Moment) -> bool:
    return moment.state in (State.DRAFT, *EDITABLE_AGAIN)


@transaction.atomic
def variant_delete(*, variant: Variant, by) -> None:
    """Delete a variant of a moment that can still be edited; a moment past approval keeps its variants
    (its approved versions are what goes out), and the edit sends a submitted or approved moment back to
    draft, so its approval goes with it."""
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=variant.moment_id)
    if not moment_is_editable(moment):
        raise WorkflowError(_("“%(moment)s” is %(state)s: its variants can no longer be deleted.")
                            % {"moment": moment.title, "state": State(moment.state).label})  # fmt: skip
    Variant.objects.filter(pk=variant.pk).delete()
    moment_edited(moment=moment, by=by)


def library_impact(obj) -> list[Moment]:
    """The moments a change to library object ``obj`` would send back to review (for the editor, before saving)."""
    return versions.moments_using(obj)


@transaction.atomic
def library_object_save(*, obj, by) -> list[Moment]:
    """Save a changed library object (call to action, hashtag, tone) and send every moment in review, approved
    or scheduled that uses it back to review with fresh versions (or to draft when the change breaks a rule),
    recorded; the editor becomes a contributor, so cannot approve them. Moments already going out keep their
    approved versions. Returns the moments sent back."""
    if isinstance(obj, Hashtag):
        obj.text = rules.hashtag_normalise(obj.text)
    users = versions.moments_using(obj, states=None)
    # Lock the moments before comparing (in id order, as everywhere): a dispatcher cannot claim one meanwhile.
    locked = list(Moment.objects.select_for_update().filter(pk__in=[m.pk for m in users]).order_by("pk"))
    before = {m.pk: versions.moment_digests(m) for m in locked if m.state in versions.AFFECTED_STATES}
    obj.save()
    # The editor changed part of every moment that uses it, drafts included: none of them is theirs to approve.
    versions.contributors_add(moment_ids=[m.pk for m in locked], user=by)
    note = _("“%(object)s” changed in the library.") % {"object": obj}
    affected = []
    for moment in Moment.objects.filter(pk__in=list(before)).select_related("campaign").order_by("pk"):
        if versions.moment_digests(moment) == before[moment.pk]:
            continue  # what it posts did not change (an order, a name nobody sees, a save without change)
        affected.append(moment)
        problems = moment_problems(moment)
        if problems:
            moment_transition(moment, allowed_from=versions.AFFECTED_STATES, to=State.DRAFT, by=by,
                              note=f"{note} {' '.join(problems)}"[:2000])  # fmt: skip
        elif moment.state == State.IN_REVIEW:
            _record(moment, moment.state, moment.state, by, note)
            versions.moment_versions_make(moment, by=by)
        else:
            moment_transition(moment, allowed_from=(State.APPROVED, State.SCHEDULED), to=State.IN_REVIEW, by=by,
                              note=note)  # fmt: skip
            versions.moment_versions_make(moment, by=by)
        campaign_state_refresh(moment.campaign)
        _forecast_follows(moment.campaign_id)
    return affected


@transaction.atomic
def moment_schedule(*, moment: Moment, by) -> None:
    """approved → scheduled (the dispatcher takes it from there, next issue)."""
    _require(by, "campaigns.submit_moment", _("Only marketing admins schedule moments."))
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    if moment.publish_at <= timezone.now():
        raise WorkflowError(_("“%(moment)s” was due at a time already past: change the time and submit it again.")
                            % {"moment": moment.title})  # fmt: skip
    if not versions.approved_and_current(moment):
        raise WorkflowError(_("“%(moment)s” has content that was not approved: submit it for review again.")
                            % {"moment": moment.title})  # fmt: skip
    moment_transition(moment, allowed_from=(State.APPROVED,), to=State.SCHEDULED, by=by)
    campaign_state_refresh(moment.campaign)


@transaction.atomic
def moment_cancel(*, moment: Moment, by, note: str = "") -> None:
    """Stop a moment at any point before it closes: tasks not yet published are cancelled
    (no more notifications or reminders; their links say it was withdrawn) and the WeCom
    tasks already created are cancelled after commit (published posts cannot be recalled)."""
    from campaigns.models import EnterpriseTask, PublishTask

    _require(by, "campaigns.submit_moment", _("Only marketing admins cancel moments."))
    moment = Moment.objects.select_for_update().select_related("campaign").get(pk=moment.pk)
    allowed = (State.DRAFT, State.IN_REVIEW, State.APPROVED, State.SCHEDULED, State.DISPATCHING, State.LIVE)
    moment_transition(moment, allowed_from=allowed, to=State.CANCELLED, by=by, note=note)
    open_states = [PublishTask.State.PENDING, PublishTask.State.NOTIFYING, PublishTask.State.NOTIFIED,
                   PublishTask.State.OPENED, PublishTask.State.PUBLISH_REQUESTED]  # fmt: skip
    wecom_ids = sorted(set(moment.tasks.filter(state__in=open_states).exclude(wecom_moment_id="").values_list(
        "wecom_moment_id", flat=True)))  # fmt: skip
    moment.tasks.filter(state__in=open_states).update(state=PublishTask.State.CANCELLED, claimed_at=None)
    # Enterprise mode: WeCom tasks not yet created never will be; those WeCom has are cancelled there.
    enterprise = EnterpriseTask.objects.filter(variant__moment=moment)
    enterprise.filter(state=EnterpriseTask.State.PENDING).update(state=EnterpriseTask.State.CANCELLED)
    wecom_ids = sorted(set(wecom_ids) | set(enterprise.exclude(wecom_moment_id="").values_list("wecom_moment_id",
                                                                                              flat=True)))  # fmt: skip
    if wecom_ids:
        task_named("campaigns.tasks.wecom_cancel_task").delay(wecom_ids)  # sent when the cancellation commits
    campaign_state_refresh(moment.campaign)
    _forecast_follows(moment.campaign_id)


# --- cloning ----------------------------------------------------------------------------------------
def _variant_copy(variant: Variant, moment: Moment) -> Variant:
    hashtags = list(VariantHashtag.objects.filter(variant=variant).values_list("hashtag_id", "position"))
    photos = list(VariantImage.objects.filter(variant=variant).values_list("asset_id", "position"))
    tags = list(variant.audience_tags.all())
    departments = list(variant.target_departments.all())
    associates = list(variant.target_associates.all())
    variant.pk = None
    variant.id = None
    variant.public_id = uuid.uuid4()
    variant.moment = moment
    variant.approved_version = None  # a copy is a draft: nothing of it is approved
    variant._state.adding = True
    variant.save()
    variant.audience_tags.set(tags)
    variant.target_departments.set(departments)
    variant.target_associates.set(associates)
    VariantHashtag.objects.bulk_create([VariantHashtag(variant=variant, hashtag_id=h, position=p) for h, p in hashtags])
    VariantImage.objects.bulk_create([VariantImage(variant=variant, asset_id=a, position=p) for a, p in photos])
    return variant


def _moment_copy(moment: Moment, campaign: Campaign, shift: dt.timedelta, by) -> Moment:
    variants = list(moment.variants.all())
    copy = Moment.objects.create(
        campaign=campaign, title=moment.title, publish_at=moment.publish_at + shift,
        expires_at=moment.expires_at + shift, mode=moment.mode, state=State.DRAFT, edited_by=by,
    )  # fmt: skip
    for variant in variants:
        _variant_copy(variant, copy)
    # Four eyes: the copy's content was written by the original's contributors, and copied by ``by``.
    contributors = set(moment.contributors.values_list("user_id", flat=True))
    if moment.edited_by_id:
        contributors.add(moment.edited_by_id)
    MomentContributor.objects.bulk_create([MomentContributor(moment=copy, user_id=pk) for pk in contributors],
                                          ignore_conflicts=True)  # fmt: skip
    versions.contributors_add(moment_ids=[copy.pk], user=by)
    return copy


@transaction.atomic
def moment_clone(*, moment: Moment, by, shift: dt.timedelta = dt.timedelta(days=1)) -> Moment:
    """A draft copy of the moment in the same campaign, ``shift`` later (a day by default)."""
    copy = _moment_copy(moment, moment.campaign, shift, by)
    campaign_state_refresh(moment.campaign)
    _forecast_follows(moment.campaign_id)
    return copy


@transaction.atomic
def campaign_clone(*, campaign: Campaign, by, starts_on: dt.date | None = None, name: str = "") -> Campaign:
    """A draft copy of the whole plan, moved to start on ``starts_on`` (default: a year later)."""
    starts_on = starts_on or campaign.starts_on.replace(year=campaign.starts_on.year + 1)
    shift = dt.timedelta(days=(starts_on - campaign.starts_on).days)
    copy = Campaign.objects.create(
        name=name or _("%(name)s (copy)") % {"name": campaign.name}, goal=campaign.goal, starts_on=starts_on,
        ends_on=campaign.ends_on + shift, owner=by,
    )  # fmt: skip
    for moment in campaign.moments.exclude(state=State.CANCELLED).order_by("publish_at", "id"):
        _moment_copy(moment, copy, shift, by)
    campaign_state_refresh(copy)
    _forecast_follows(copy.pk)
    return copy


def media_asset_usage():
    """The media library with how many variants use each asset (one query)."""
    return MediaAsset.objects.annotate(usage_count=Count("variants", distinct=True))
