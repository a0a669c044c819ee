"""The campaign page's channel QR codes (campaigns.channels): the table of codes with their new
contacts and welcome messages, creating them for the campaign's target associates, and a CSV."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

from analytics import exports
from campaigns import channels
from campaigns.models import Campaign, ChannelCode, WelcomeSent
from wecom.client import client_from_settings
from wecom.errors import TransientError

# WeCom calls per click: a request should answer within seconds; the rest is done by clicking again.
CODES_PER_REQUEST = 100
ROWS_SHOWN = 50


def _rows(campaign: Campaign, *, limit: int | None = None) -> tuple[list[dict], int]:
    """The codes with their counts (three queries) and how many codes there are."""
    codes = ChannelCode.objects.filter(campaign=campaign).select_related("associate").order_by("associate__name", "id")
    total = codes.count()
    codes = list(codes[:limit] if limit else codes)
    contacts = channels.new_contacts_by_campaign([campaign.pk])[campaign.pk]
    welcomes: dict[tuple[int, str], int] = {
        (row["channel_code_id"], row["state"]): row["n"]
        for row in WelcomeSent.objects.filter(channel_code__campaign=campaign)
        .values("channel_code_id", "state").annotate(n=Count("id")).order_by()
    }  # fmt: skip
    rows = [
        {
            "code": code,
            "new_contacts": contacts.by_associate.get(code.associate_id, 0),
            "welcomes_sent": welcomes.get((code.pk, WelcomeSent.State.SENT), 0),
            "welcomes_failed": welcomes.get((code.pk, WelcomeSent.State.FAILED), 0),
        }
        for code in codes
    ]
    return rows, total


def codes_html(campaign: Campaign) -> str:
    if not campaign.pk:
        return "—"
    rows, total = _rows(campaign, limit=ROWS_SHOWN)
    if not rows:
        return gettext("None yet: create them with “Create channel QR codes”.")
    return render_to_string(
        "admin/campaigns/channel_codes.html", {"rows": rows, "total": total, "hidden": total - len(rows)}
    )


def codes_create(campaign: Campaign) -> str:
    """Create the missing codes of the campaign's target associates (up to CODES_PER_REQUEST)."""
    associates = channels.campaign_target_associates(campaign)
    if not associates.exists():
        raise ValidationError(gettext("No associate is targeted yet: give the moments' variants associates first."))
    try:
        with client_from_settings() as client:
            result = channels.channel_codes_create(
                campaign=campaign, associates=associates, client=client, limit=CODES_PER_REQUEST
            )
    except TransientError as error:
        raise ValidationError(
            gettext("WeCom did not answer (%(reason)s). Nothing is lost: create them again.") % {"reason": error.reason}
        ) from error
    parts = [gettext("%(created)s QR codes created, %(existing)s already there.")
             % {"created": result.created, "existing": result.existing}]  # fmt: skip
    if result.failed:
        parts.append(
            gettext("%(count)s refused by WeCom: the reasons are in the table.") % {"count": len(result.failed)}
        )
    if result.pending:
        parts.append(gettext("%(count)s more to create: run it again.") % {"count": result.pending})
    return " ".join(parts)


def codes_csv(campaign: Campaign) -> HttpResponse:
    """The codes as CSV, through the one guarded writer (analytics.exports: a BOM, no formula cells)."""
    rows, _total = _rows(campaign)
    header = [gettext("associate"), "userid", gettext("channel"), "config_id", gettext("QR code"),
              gettext("new contacts"), gettext("welcome messages sent"), gettext("welcome messages failed"),
              gettext("reason")]  # fmt: skip

    def values(row: dict) -> list:
        code = row["code"]
        return [code.associate.name, code.associate.userid, code.state, code.config_id, code.qr_code,
                row["new_contacts"], row["welcomes_sent"], row["welcomes_failed"], code.error]  # fmt: skip

    return exports.csv_response(filename=f"channel-codes-{campaign.public_id}", header=header, rows=rows,
                                row_values=values, stream=False)  # fmt: skip
