"""WeCom callback events that change the directory (wecom-api.md §6.7).

``callback_event_record`` stores a decrypted event once (replays and WeCom's
retries share its key); ``callback_event_apply`` applies it through the client.
Contact events are not trusted for their order: each reconciles the one
associate ↔ customer pair with what WeCom says now (``externalcontact/get``),
so an "add" processed after a later "delete" still ends right, and applying an
event twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from staff.models import Associate, CallbackEvent, Contact, ContactTag, Customer, CustomerTag
from staff.signals import contact_added
from staff.sync import contact_values_from_follow, customer_values_from_api, tags_sync
from wecom.errors import PermanentError

logger = logging.getLogger(__name__)

CONTACT_CHANGES = {
    "add_external_contact",
    "edit_external_contact",
    "add_half_external_contact",
    "del_external_contact",
    "del_follow_user",
}
# errcodes meaning "this customer or relationship is gone" (wecom-api.md §4)
GONE_ERRCODES = {40096, 84061}
# Events that carry State and a WelcomeCode (wecom-api.md §6.7)
ADD_CHANGES = {"add_external_contact", "add_half_external_contact"}


def event_key(fields: dict[str, str]) -> str:
    if fields.get("MsgId"):
        return f"msg:{fields['MsgId']}"
    parts = [fields.get(name, "") for name in ("FromUserName", "CreateTime", "Event", "ChangeType", "UserID",
                                               "ExternalUserID", "Id", "TagType")]  # fmt: skip
    return "event:" + ":".join(parts)[:240]


def callback_event_record(*, fields: dict[str, str]) -> CallbackEvent | None:
    """Store the event; ``None`` when it was already stored (a replay)."""
    try:
        with transaction.atomic():
            return CallbackEvent.objects.create(
                key=event_key(fields),
                event=fields.get("Event", "")[:64],
                change_type=fields.get("ChangeType", "")[:64],
                payload=fields,
            )
    except IntegrityError:
        return None


def callback_event_apply(*, event_id: int, client) -> CallbackEvent:
    """Apply a stored event (idempotent); records what it did in ``outcome``."""
    event = CallbackEvent.objects.get(pk=event_id)
    if event.applied_at is not None:
        return event
    fields = event.payload
    notes = []
    if event.event == "change_external_contact" and event.change_type in ADD_CHANGES:
        # First, before the slower reconcile: a WelcomeCode is good for 20 s (docs/wecom-contact-way.md).
        answers = contact_added.send(
            sender=CallbackEvent, event_id=event.pk, userid=fields.get("UserID", "").lower(),
            external_userid=fields.get("ExternalUserID", ""), state=fields.get("State", ""),
            welcome_code=fields.get("WelcomeCode", ""), client=client,
        )  # fmt: skip
        notes = [answer for _receiver, answer in answers if isinstance(answer, str) and answer]
    if event.event == "change_external_contact" and event.change_type in CONTACT_CHANGES:
        outcome = _reconcile_contact(
            client,
            userid=fields.get("UserID", ""),
            external_userid=fields.get("ExternalUserID", ""),
            when=_event_time(fields),
        )
    elif event.event == "change_external_tag":
        counts = Counter()
        tags_sync(client, counts)
        outcome = "tags synced: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "no change")
    else:
        outcome = "ignored: not a directory change"
    outcome = "; ".join([outcome, *notes])
    CallbackEvent.objects.filter(pk=event.pk, applied_at__isnull=True).update(
        applied_at=timezone.now(), outcome=outcome[:255]
    )
    event.refresh_from_db()
    return event


def callback_event_failed(*, event_id: int, error: PermanentError) -> CallbackEvent:
    """Close an event WeCom's refusal makes impossible to apply, with the reason as its outcome."""
    outcome = f"failed ({error.errcode}): {error.reason}; the next directory sync repairs it"
    CallbackEvent.objects.filter(pk=event_id, applied_at__isnull=True).update(
        applied_at=timezone.now(), outcome=outcome[:255]
    )
    return CallbackEvent.objects.get(pk=event_id)


# Older events are left alone: the nightly directory sync has repaired what they changed by then.
CALLBACK_RECONCILE_WINDOW = dt.timedelta(days=2)
CALLBACK_RECONCILE_BATCH = 1000


def callback_events_stale(now: dt.datetime | None = None) -> list[int]:
    """Ids of recorded events not applied ``MOMENTS_CALLBACK_STALE_SECONDS`` after they came in
    (their job was lost), oldest first, at most a batch (the ``callback_pending`` partial index)."""
    now = now or timezone.now()
    before = now - dt.timedelta(seconds=settings.MOMENTS_CALLBACK_STALE_SECONDS)
    pending = CallbackEvent.objects.filter(
        applied_at__isnull=True, received_at__lt=before, received_at__gte=now - CALLBACK_RECONCILE_WINDOW
    )
    return list(pending.order_by("received_at").values_list("pk", flat=True)[:CALLBACK_RECONCILE_BATCH])


def _event_time(fields: dict) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(fields.get("CreateTime", "")), tz=dt.UTC)
    except ValueError:
        return timezone.now()


def _reconcile_contact(client, *, userid: str, external_userid: str, when: dt.datetime) -> str:
    associate = Associate.objects.filter(userid=userid.lower()).first()
    if associate is None or not external_userid:
        return "skipped: unknown associate (the next directory sync brings them)"
    try:
        detail = client.external_contact(external_userid)  # outside any transaction
    except PermanentError as error:
        if error.errcode not in GONE_ERRCODES:
            raise
        detail = {"external_contact": {}, "follow_user": []}
    with transaction.atomic():
        return _apply_contact_detail(associate, external_userid, detail, when)


def _apply_contact_detail(associate: Associate, external_userid: str, detail: dict, when: dt.datetime) -> str:
    follow = next((f for f in detail["follow_user"] if f.get("userid", "").lower() == associate.userid), None)
    contact = Contact.objects.filter(associate=associate, customer__external_userid=external_userid).first()
    if follow is None:
        if contact and contact.is_active:
            Contact.objects.filter(pk=contact.pk).update(is_active=False, removed_at=when)
            return "contact removed"
        return "no change"

    values = customer_values_from_api(detail["external_contact"])
    customer, created = Customer.objects.get_or_create(external_userid=external_userid, defaults=values)
    if not created and any(getattr(customer, k) != v for k, v in values.items()):
        Customer.objects.filter(pk=customer.pk).update(**values)
    contact_values = contact_values_from_follow(follow)
    contact, created = Contact.objects.update_or_create(associate=associate, customer=customer, defaults=contact_values)
    tag_ids = [tag["tag_id"] for tag in follow.get("tags", []) if tag.get("tag_id")]
    wanted = set(CustomerTag.objects.filter(tag_id__in=tag_ids).values_list("pk", flat=True))
    have = set(ContactTag.objects.filter(contact=contact).values_list("tag_id", flat=True))
    ContactTag.objects.bulk_create(
        [ContactTag(contact=contact, tag_id=t) for t in wanted - have], ignore_conflicts=True
    )
    ContactTag.objects.filter(contact=contact, tag_id__in=have - wanted).delete()
    return "contact added" if created else "contact updated"
