# The data half of the frozen versions (0014 adds the tables and fields, 0016 drops the old flag): its own
# migration, so its rows are committed before the schema of the same tables changes again (PostgreSQL refuses
# to ALTER a table with pending deferred-constraint checks in the same transaction).

import hashlib
import json

from django.db import migrations, models


def personal_touch_from_flag(apps, schema_editor):
    """The former yes/no: "associates may edit the copy" becomes the edit policy."""
    apps.get_model("campaigns", "Variant").objects.filter(allow_personal_touch=True).update(personal_touch="edit")


# --- a snapshot of campaigns.versions as of this migration (migrations must not import code that changes) ----
def _asset(asset):
    return None if asset is None else {"id": asset.pk, "sha256": asset.sha256}


def _content(variant):
    cta, link = variant.cta, None
    if variant.link_url or variant.link_title or variant.link_cover_id:
        link = {"url": variant.link_url, "title": variant.link_title, "cover": _asset(variant.link_cover)}
    tier = cta.tier if cta is not None and cta.tier_id else None
    return {
        "schema": 1,
        "name": variant.name,
        "tone": {"code": variant.tone.code, "name": variant.tone.name},
        "copy": variant.copy,
        "hashtags": [h.text for h in variant.hashtags.order_by("varianthashtag__position", "varianthashtag__id")],
        "cta": None if cta is None else {
            "id": cta.pk, "kind": cta.kind, "label": cta.label, "url": cta.url, "code": cta.code,
            "group_name": cta.group_name, "expires_at": cta.expires_at.isoformat() if cta.expires_at else None,
            "tier": {"id": tier.pk, "tag_id": tier.tag_id, "name": tier.name} if tier else None,
        },
        "images": [_asset(a) for a in variant.images.order_by("variantimage__position", "variantimage__id")],
        "video": _asset(variant.video),
        "link": link,
        "audience": {"all": variant.audience_all, "tags": [{"id": t.pk, "tag_id": t.tag_id, "name": t.name}
                                                           for t in variant.audience_tags.order_by("pk")]},
        "senders": {
            "departments": [{"id": d.pk, "name": d.name} for d in variant.target_departments.order_by("pk")],
            "associates": [{"id": a.pk, "userid": a.userid, "name": a.name}
                           for a in variant.target_associates.order_by("pk")],
        },
        "personal_touch": {"policy": variant.personal_touch, "max_chars": variant.personal_line_max},
    }


def _text(content):
    """The posted text for people to read (a sample short URL stands for a call to action's link)."""
    cta, line = content["cta"], ""
    if cta is not None:
        sample = "/go/" + "·" * 10 if cta["url"] else ""
        line = f"{cta['label']}: {cta['code']}" if cta["kind"] == "voucher" else f"👉 {cta['label']}" if sample else cta["label"]
        line = f"{line} {sample}".strip() if sample else line
    tags = " ".join(f"#{t}" for t in content["hashtags"])
    return "\n".join(part for part in ((content["copy"] or "").rstrip(), line, tags) if part)


def _digest(content):
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


PROGRESS = ["draft", "in_review", "approved", "scheduled", "dispatching", "live", "closed"]
GOING_OUT = ["dispatching", "live", "closed"]  # their content is out: it stays the approved version
NOT_YET_OUT = ["approved", "scheduled"]  # library edits could have changed them unseen: reviewed again


def freeze_approved(apps, schema_editor):
    """Moments from before versions. Those going out or gone out: their content as it stands becomes their
    approved version (credited to the last approval of the moment or of its campaign's plan) and their publish
    tasks post it. Those approved or scheduled but not yet out go back to review with their content frozen as
    the version to review (a library edit could have changed them since their approval, unseen). Those in review
    get the versions their approver will decide on. Everyone who edited or submitted a moment is its
    contributor (four eyes)."""
    Moment = apps.get_model("campaigns", "Moment")
    Version = apps.get_model("campaigns", "VariantVersion")
    VersionAsset = apps.get_model("campaigns", "VersionAsset")
    Approval = apps.get_model("campaigns", "Approval")
    Task = apps.get_model("campaigns", "PublishTask")
    StateChange = apps.get_model("campaigns", "StateChange")
    Contributor = apps.get_model("campaigns", "MomentContributor")
    Campaign = apps.get_model("campaigns", "Campaign")
    touched = set()
    for moment in Moment.objects.filter(state__in=["in_review", *NOT_YET_OUT, *GOING_OUT]).select_related("campaign"):
        approval = (Approval.objects.filter(decision="approved").filter(
            models.Q(moment=moment) | models.Q(moment__isnull=True, campaign_id=moment.campaign_id))
            .order_by("-decided_at").first())
        going_out = moment.state in GOING_OUT
        authors = sorted({moment.campaign.owner_id, *([moment.edited_by_id] if moment.edited_by_id else []),
                          *StateChange.objects.filter(moment=moment, by__isnull=False, to_state="in_review")
                          .values_list("by_id", flat=True)})
        for variant in moment.variants.select_related("tone", "cta__tier", "video", "link_cover"):
            content = _content(variant)
            version = Version.objects.create(
                variant=variant, moment=moment, number=1, content=content, digest=_digest(content), text=_text(content),
                authors=authors, created_by_id=None,
                approved_by_id=approval.decided_by_id if going_out and approval else None,
                approved_at=(approval.decided_at if approval else moment.updated_at) if going_out else None,
            )
            ids = {a["id"] for a in content["images"]} | {
                a["id"] for a in (content["video"], (content["link"] or {}).get("cover")) if a}
            VersionAsset.objects.bulk_create([VersionAsset(version=version, asset_id=pk) for pk in ids])
            if going_out:
                type(variant).objects.filter(pk=variant.pk).update(approved_version=version)
                Task.objects.filter(variant=variant, version__isnull=True).update(version=version)
        if moment.state in NOT_YET_OUT:
            StateChange.objects.create(campaign_id=moment.campaign_id, moment=moment, from_state=moment.state,
                                       to_state="in_review", by=None,
                                       note="Approved content is now frozen in versions: review it again.")
            Moment.objects.filter(pk=moment.pk).update(state="in_review")
            touched.add(moment.campaign_id)
    for campaign in Campaign.objects.filter(pk__in=touched):
        states = set(Moment.objects.filter(campaign=campaign).exclude(state="cancelled").values_list("state", flat=True))
        if states:
            Campaign.objects.filter(pk=campaign.pk).update(state=min(states, key=PROGRESS.index))
    for moment_id, user_id in Moment.objects.filter(edited_by__isnull=False).values_list("pk", "edited_by_id"):
        Contributor.objects.get_or_create(moment_id=moment_id, user_id=user_id)
    for moment_id, user_id in StateChange.objects.filter(moment__isnull=False, by__isnull=False,
                                                         to_state="in_review").values_list("moment_id", "by_id").distinct():
        Contributor.objects.get_or_create(moment_id=moment_id, user_id=user_id)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0014_frozen_versions"),
    ]

    operations = [
        migrations.RunPython(personal_touch_from_flag, migrations.RunPython.noop),
        migrations.RunPython(freeze_approved, migrations.RunPython.noop),
    ]
