"""The drafting warnings on the moment and campaign change pages (``campaigns.planning`` decides
them; this module only renders them): a moment nobody can publish in time, WeCom's task rate against
its associates, and variants whose audiences overlap. Warnings, not refusals: the moment can still be
submitted."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext

from campaigns import planning
from campaigns.models import Campaign, Moment


def moment_html(moment: Moment) -> str:
    if moment.state not in planning.PLANNING_STATES:
        return gettext("No longer checked: the moment is past drafting.")
    return render_to_string("campaigns/admin_warnings.html", {"warnings": planning.moment_warnings(moment)})


def campaign_html(campaign: Campaign, *, site_name: str = "admin") -> str:
    moments = [{"title": moment.title, "url": reverse(f"{site_name}:campaigns_moment_change", args=[moment.pk]),
                "warnings": sentences} for moment, sentences in planning.campaign_warnings(campaign)]  # fmt: skip
    return render_to_string("campaigns/admin_warnings_campaign.html", {"moments": moments})
