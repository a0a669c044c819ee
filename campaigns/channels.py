"""Channel QR codes and the welcome journey (docs/wecom-contact-way.md).

Per campaign and associate, a "contact me" QR code made with ``add_contact_way`` and a
channel ``state``. Customers who add the associate through it carry that state (WeCom
returns it with the contact, Contact.state), so they are the campaign's new contacts on
that channel, and, when the campaign has a welcome message, they get it through
``send_welcome_msg`` with the ``WelcomeCode`` of their ``add_external_contact`` event:
good once, within 20 seconds. ``staff`` tells us about the event through the
``staff.signals.contact_added`` signal (connected in ``CampaignsConfig.ready``), sent before
the slower reconcile of the contact.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from campaigns.dispatch.targets import variant_associate_ids
from campaigns.models import Campaign, ChannelCode, Variant, WelcomeSent
from staff.models import Associate
from wecom.errors import PermanentError, WeComError

logger = logging.getLogger(__name__)

STATE_PREFIX = "m"  # "m" + 12 hex characters: 13 of the 30 add_contact_way allows
REMARK_MAX_CHARS = 30  # add_contact_way.remark


def state_new() -> str:
    return STATE_PREFIX + secrets.token_hex(6)


# --- creating the codes -----------------------------------------------------------------------
def campaign_target_associates(campaign: Campaign) -> QuerySet[Associate]:
    """The active associates any variant of the campaign targets (departments and named)."""
    ids: set[int] = set()
    for variant in Variant.objects.filter(moment__campaign=campaign):
        ids.update(variant_associate_ids(variant))
    return Associate.objects.filter(pk__in=ids).order_by("pk")


@dataclass
class CodesCreated:
    created: int = 0  # WeCom made a contact way in this run
    existing: int = 0  # the associate already had one
    failed: list[ChannelCode] = field(default_factory=list)  # WeCom refused (errcode and reason on the row)
    pending: int = 0  # left for the next run (the limit was reached)


def channel_codes_create(
    *, campaign: Campaign, associates: Iterable[Associate], client, limit: int | None = None
) -> CodesCreated:
    """One code per associate: idempotent, existing codes are kept. The row (and its state) is
    reserved first, then ``add_contact_way`` (type 1, scene 2) fills in the config_id and QR URL,
    so a run that stops half-way is completed by the next one with the same states.

    Calls go through the client's rate limiter (``wecom.ratelimit``: the shared bucket of every
    caller). A refusal (e.g. 41054, the associate never activated WeCom) is recorded on that
    code and the others go on; a transient error stops the run, to be run again.
    ``limit`` bounds the WeCom calls of one run (an admin request)."""
    ids = sorted({a.pk for a in associates})
    result = CodesCreated()
    have = set(ChannelCode.objects.filter(campaign=campaign, associate_id__in=ids).values_list("associate_id",
                                                                                              flat=True))  # fmt: skip
    # unique (campaign, associate): a concurrent run's rows are skipped, not duplicated.
    ChannelCode.objects.bulk_create(
        [ChannelCode(campaign=campaign, associate_id=pk, state=state_new()) for pk in ids if pk not in have],
        ignore_conflicts=True,
    )
    todo = list(ChannelCode.objects.filter(campaign=campaign, associate_id__in=ids, config_id="")
                .select_related("associate").order_by("id"))  # fmt: skip
    result.existing = len(ids) - len(todo)
    if limit is not None:
        result.pending = max(0, len(todo) - limit)
        todo = todo[:limit]
    remark = campaign.name[:REMARK_MAX_CHARS]
    for code in todo:
        try:
            answer = client.add_contact_way(type=1, scene=2, user=[code.associate.userid], state=code.state,
                                            remark=remark)  # fmt: skip
        except PermanentError as error:
            logger.warning("channel code %s for %s refused: %s", code.state, code.associate.userid, error)
            code.errcode, code.error = error.errcode, error.reason[:255]
            code.save(update_fields=["errcode", "error"])
            result.failed.append(code)
            continue
        # Conditional: a concurrent run that filled it first wins (its contact way has the same state).
        ChannelCode.objects.filter(pk=code.pk, config_id="").update(
            config_id=answer["config_id"], qr_code=answer["qr_code"], errcode=None, error=""
        )
        result.created += 1
    return result


def channel_code_for_state(state: str) -> ChannelCode | None:
    if not state:
        return None
    return ChannelCode.objects.select_related("campaign", "associate").filter(state=state).first()


# --- the welcome message ----------------------------------------------------------------------
def welcome_send(
    *, state: str, welcome_code: str, client, external_userid: str = "", event_id: int | None = None
) -> WelcomeSent | None:
    """Send the campaign's welcome message to a customer who came through one of its codes,
    at most once per ``welcome_code``: the WelcomeSent row is claimed (committed) before the
    call, so a replayed or retried event finds it and sends nothing. WeCom's refusal (41050
    late, 41051 already used) is recorded and never retried: the code is good once, for 20 s.
    None when there is nothing to send (not our channel, no code, no welcome text)."""
    if not welcome_code:
        return None
    code = channel_code_for_state(state)
    if code is None or not code.campaign.welcome_text:
        return None
    try:
        with transaction.atomic():
            sent = WelcomeSent.objects.create(welcome_code=welcome_code, channel_code=code,
                                              external_userid=external_userid[:64], event_id=event_id)  # fmt: skip
    except IntegrityError:
        return WelcomeSent.objects.get(welcome_code=welcome_code)
    try:
        client.send_welcome_msg(welcome_code=welcome_code, text=code.campaign.welcome_text)
    except WeComError as error:
        logger.warning("welcome message for %s via %s not sent: %s", external_userid, state, error)
        sent.state, sent.errcode, sent.error = WelcomeSent.State.FAILED, error.errcode, error.reason[:255]
        sent.save(update_fields=["state", "errcode", "error"])
    else:
        sent.state, sent.sent_at = WelcomeSent.State.SENT, timezone.now()
        sent.save(update_fields=["state", "sent_at"])
    return sent


def on_contact_added(sender, *, state: str = "", welcome_code: str = "", external_userid: str = "",
                     event_id: int | None = None, client=None, **kwargs) -> str:  # fmt: skip
    """Receiver of ``staff.signals.contact_added``: a note for the callback event's outcome."""
    sent = welcome_send(state=state, welcome_code=welcome_code, client=client, external_userid=external_userid,
                        event_id=event_id)  # fmt: skip
    if sent is None:
        return ""
    return f"welcome {sent.state}" + (f" ({sent.errcode})" if sent.errcode is not None else "")


# --- reading: new contacts per campaign and channel ---------------------------------------------
@dataclass
class NewContacts:
    """Contacts who added an associate through the campaign's codes. ``total`` sums the
    associates (a customer who added two associates is two contacts); ``active`` leaves out
    those removed since."""

    total: int = 0
    active: int = 0
    by_associate: dict[int, int] = field(default_factory=dict)


def new_contacts_by_campaign(campaign_ids: Iterable[int], associates_qs: QuerySet[Associate] | None = None):
    """``{campaign_id: NewContacts}`` for every id asked for, in one query. Scoped to
    ``associates_qs`` when given (a manager's associates). A contact belongs to the code with
    its associate and state, so the join follows the contact's (associate, …) indexes."""
    ids = list(campaign_ids)
    result = {pk: NewContacts() for pk in ids}
    codes = ChannelCode.objects.filter(campaign_id__in=ids, associate__contacts__state=F("state"))
    if associates_qs is not None:
        codes = codes.filter(associate__in=associates_qs)
    # The filter on the contacts comes before the counts, so they count the same joined rows.
    rows = codes.values("campaign_id", "associate_id").annotate(
        total=Count("associate__contacts"),
        active=Count("associate__contacts", filter=Q(associate__contacts__is_active=True)),
    ).order_by()  # fmt: skip
    for row in rows:
        stats = result[row["campaign_id"]]
        stats.total += row["total"]
        stats.active += row["active"]
        stats.by_associate[row["associate_id"]] = row["total"]
    return result
