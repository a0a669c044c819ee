"""The "Reach forecast" panel on the campaign and moment change pages (DESIGN.md §4, §5.2).

The forecast is never computed here (issue #19): the panel shows the last snapshot
(``analytics.snapshots``: as of when, stale or not, what changed since, the recomputation under way and a
button to ask for one). It names what the snapshot holds in a bounded number of queries whatever the
plan's or the brand's size (the snapshot, its job and the plan now: five; one for the variants, one for the
moments and their campaigns, one for the associates, at most one for the user's directory scope), and
turns it into plain sentences and rows for ``admin/campaigns/forecast_panel.html``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext

from analytics import snapshots
from analytics.forecast import Forecast
from campaigns.models import Campaign, Moment, State, Variant
from staff import selectors as staff_selectors
from staff.models import Associate

# How many unverified associates and associate-days the panel lists (the forecast keeps more).
TOP_VERIFY = 10
TOP_ASSOCIATE_DAYS = 10


@dataclass(frozen=True)
class Link:
    text: str
    url: str = ""  # empty: shown as plain text (no admin page, or not the user's to see)
    note: str = ""  # the associate's userid, or the other campaign's name
    note_url: str = ""  # the other campaign's admin page


@dataclass
class Row:
    moment: Link
    variant: str
    day: dt.date
    associates: int
    audience: int
    audience_contacts: int
    deliveries: int
    reach: int
    cap_loss: int
    verification_loss: int


@dataclass
class CollisionRow:
    moment: Link  # the variant's moment (ours)
    variant: str
    day: dt.date
    taken_by: Link  # the moment that took the slots, or "Personal posts"
    kind: str  # this campaign / planned / already delivered / personal posts
    customers: int
    associates: int


@dataclass
class Panel:
    title: str
    computed_at: dt.datetime | None  # the snapshot's (None: no forecast yet)
    basis: str  # what the forecast counts besides this plan
    forecast: Forecast
    empty: str = ""  # a plain sentence when there is nothing to forecast
    figures: bool = True  # the headline figures are known (a snapshot, or nothing to forecast)
    stale: bool = False
    changes: list[str] = field(default_factory=list)  # what changed since the snapshot
    changes_more: str = ""
    changed_at: dt.datetime | None = None
    progress: dict = field(default_factory=dict)  # snapshots.job_progress
    status: snapshots.Status | None = None  # what the panel was built from (the drafting warnings read it too)
    status_url: str = ""  # the JSON the page polls while a recomputation is queued or running
    recompute_url: str = ""  # POST: recompute now (empty: not the user's to ask)
    show_moment: bool = True  # the campaign page names each row's moment
    rows: list[Row] = field(default_factory=list)
    collisions: list[CollisionRow] = field(default_factory=list)
    worst_days: list[dict] = field(default_factory=list)  # {"associate": Link, "day", "cap_loss"}
    verify_sentence: str = ""
    verify: list[dict] = field(default_factory=list)  # {"associate": Link, "customers"}
    verify_more: str = ""

    @property
    def reach_percent(self) -> float:
        return round(self.forecast.reach_rate * 100, 1)


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def campaign_panel(*, campaign: Campaign, user, admin_site) -> Panel:
    """The last forecast of every moment of ``campaign`` but the cancelled ones."""
    status = snapshots.campaign_status(campaign.pk)
    nothing = not status.plan.live_moment_ids()
    panel = _panel(status.forecast or Forecast(), user=user, admin_site=admin_site, campaign_id=campaign.pk,
                   show_moment=True)  # fmt: skip
    panel.basis = gettext(
        "Every moment of this campaign except cancelled ones is planned, together with other campaigns' approved "
        "and scheduled moments on the same days and the deliveries already in the associates' feeds (their "
        "personal posts included)."
    )
    if nothing:
        panel.empty = gettext("This campaign has no moments yet: add one to see how many customers it will reach.")
    _status(panel, status, campaign_id=campaign.pk, user=user, admin_site=admin_site, nothing=nothing)
    return panel


def moment_panel(*, moment: Moment, user, admin_site) -> Panel:
    """The last forecast of ``moment`` alone, next to the other moments already approved or scheduled."""
    if moment.state == State.CANCELLED:
        panel = _panel(Forecast(), user=user, admin_site=admin_site, campaign_id=moment.campaign_id, show_moment=False)
        panel.empty = gettext("This moment is cancelled: it will not reach anyone.")
    else:
        status = snapshots.moment_status(moment)
        nothing = not any(v[1] == moment.pk for v in status.plan.variants)
        panel = _panel(status.forecast or Forecast(), user=user, admin_site=admin_site,
                       campaign_id=moment.campaign_id, show_moment=False)  # fmt: skip
        if nothing:
            panel.empty = gettext("No variants yet: add one with its audience to see the forecast.")
        _status(panel, status, campaign_id=moment.campaign_id, user=user, admin_site=admin_site, nothing=nothing)
    panel.basis = gettext(
        "This moment is planned together with the other approved and scheduled moments on the same day (of any "
        "campaign; drafts are not counted) and the deliveries already in the associates' feeds (their personal "
        "posts included)."
    )
    return panel


def _status(panel: Panel, status: snapshots.Status, *, campaign_id: int, user, admin_site, nothing: bool) -> None:
    """The snapshot's time, staleness and recomputation on the panel."""
    panel.status = status
    panel.computed_at = timezone.localtime(status.computed_at) if status.computed_at else None
    panel.figures = status.forecast is not None or nothing
    if status.forecast is None and not nothing:
        panel.empty = ""  # no figures yet: the status says why
        panel.rows, panel.collisions, panel.worst_days, panel.verify = [], [], [], []
        panel.verify_sentence = panel.verify_more = ""
    panel.stale = status.stale and not nothing
    panel.changes = status.changes[: snapshots.SHOWN_CHANGES]
    more = len(status.changes) - snapshots.SHOWN_CHANGES
    if more > 0:
        panel.changes_more = ngettext("… and %(count)s more change.", "… and %(count)s more changes.", more) % {
            "count": _n(more)
        }
    panel.changed_at = timezone.localtime(status.changed_at) if status.changed_at else None
    panel.progress = status.progress
    site = admin_site.name
    panel.status_url = reverse(f"{site}:campaigns_campaign_forecast_status", args=[campaign_id])
    if user.has_perm("campaigns.view_campaign") or user.has_perm("campaigns.change_campaign"):
        panel.recompute_url = reverse(f"{site}:campaigns_campaign_forecast_recompute", args=[campaign_id])


def _panel(result: Forecast, *, user, admin_site, campaign_id: int, show_moment: bool) -> Panel:
    panel = Panel(title=gettext("Reach forecast"), computed_at=None, basis="", forecast=result,
                  show_moment=show_moment)  # fmt: skip
    if not result.variants:
        panel.empty = gettext("No variants yet: add one with its audience to see the forecast.")
        return panel
    if not result.contacts:
        panel.empty = gettext(
            "No customer is in the audience yet: the target associates have no contacts, or no associate is "
            "targeted. Choose target departments or associates."
        )

    variant_names = dict(
        Variant.objects.filter(pk__in={v.variant_id for v in result.variants}).values_list("pk", "name")
    )
    moment_ids = {v.moment_id for v in result.variants} | {c.moment_id for c in result.collisions if c.moment_id}
    moments = {m.pk: m for m in Moment.objects.filter(pk__in=moment_ids).select_related("campaign").only(
        "pk", "title", "campaign_id", "campaign__name")}  # fmt: skip
    associate_ids = {row["associate_id"] for row in result.cap_loss_by_associate_day[:TOP_ASSOCIATE_DAYS]}
    associate_ids |= {row["associate_id"] for row in result.verification[:TOP_VERIFY]}
    associates = _associate_links(associate_ids, user=user, admin_site=admin_site)

    site = admin_site.name
    can_see_moments = user.has_perm("campaigns.view_moment") or user.has_perm("campaigns.change_moment")
    can_see_campaigns = user.has_perm("campaigns.view_campaign") or user.has_perm("campaigns.change_campaign")

    def moment_link(moment_id: int) -> Link:
        moment = moments.get(moment_id)
        if moment is None:  # deleted since
            return Link(gettext("a deleted moment"))
        url = reverse(f"{site}:campaigns_moment_change", args=[moment.pk]) if can_see_moments else ""
        return Link(moment.title, url)

    for line in result.variants:
        panel.rows.append(Row(moment=moment_link(line.moment_id), variant=variant_names.get(line.variant_id, "—"),
                              day=line.day, associates=line.associates, audience=line.audience,
                              audience_contacts=line.audience_contacts, deliveries=line.deliveries, reach=line.reach,
                              cap_loss=line.cap_loss, verification_loss=line.verification_loss))  # fmt: skip

    order = {line.variant_id: n for n, line in enumerate(result.variants)}
    moment_of = {line.variant_id: line.moment_id for line in result.variants}
    for collision in sorted(result.collisions, key=lambda c: (order.get(c.variant_id, 0), c.day, -c.customers)):
        if collision.moment_id is None:
            taken_by, kind = Link(gettext("Personal posts")), gettext("the associates' own posts, already seen")
        else:
            other = moments.get(collision.moment_id)
            taken_by = moment_link(collision.moment_id)
            if other is not None and other.campaign_id != campaign_id:
                url = (
                    reverse(f"{site}:campaigns_campaign_change", args=[other.campaign_id]) if can_see_campaigns else ""
                )
                taken_by = Link(taken_by.text, taken_by.url, note=other.campaign.name, note_url=url)
            if not collision.planned:
                kind = gettext("already delivered")
            elif other is not None and other.campaign_id == campaign_id:
                kind = gettext("this campaign")
            else:
                kind = gettext("another campaign, approved or scheduled")
        panel.collisions.append(CollisionRow(moment=moment_link(moment_of[collision.variant_id]),
                                             variant=variant_names.get(collision.variant_id, "—"), day=collision.day,
                                             taken_by=taken_by, kind=kind, customers=collision.customers,
                                             associates=collision.associates))  # fmt: skip

    panel.worst_days = [
        {"associate": associates.get(row["associate_id"], Link("—")), "day": row["day"], "cap_loss": row["cap_loss"]}
        for row in result.cap_loss_by_associate_day[:TOP_ASSOCIATE_DAYS]
    ]

    if result.verify_accounts:
        panel.verify_sentence = _verify_sentence(result.verify_accounts, result.verify_gain)
        panel.verify = [
            {"associate": associates.get(row["associate_id"], Link("—")), "customers": row["customers"]}
            for row in result.verification[:TOP_VERIFY]
        ]
        more = len(result.verification) - TOP_VERIFY
        if more > 0:
            panel.verify_more = ngettext("… and %(count)s more account.", "… and %(count)s more accounts.", more) % {
                "count": _n(more)
            }
    return panel


def _verify_sentence(accounts: int, gain: int) -> str:
    if not gain:
        return ngettext(
            "Verifying this account would reach no new customer: other associates already reach them.",
            "Verifying these %(count)s accounts would reach no new customer: other associates already reach them.",
            accounts,
        ) % {"count": _n(accounts)}
    verify = ngettext("Verify this account", "Verify these %(count)s accounts", accounts) % {"count": _n(accounts)}
    return ngettext(
        "%(verify)s to reach %(count)s more customer.", "%(verify)s to reach %(count)s more customers.", gain
    ) % {"verify": verify, "count": _n(gain)}


def _associate_links(ids: set[int], *, user, admin_site) -> dict[int, Link]:
    """Names (and admin links) of the listed associates, in one query (two when the user sees only part
    of the directory: an associate outside it is not named)."""
    if not ids:
        return {}
    rows = Associate.objects.filter(pk__in=ids).values_list("pk", "name", "userid")
    scope = staff_selectors.directory_scope(user=user)
    if scope.everything:
        visible = ids
    else:
        visible = set(staff_selectors.associates_for_user(user=user).filter(pk__in=ids).values_list("pk", flat=True))
    linkable = admin_site.is_registered(Associate) and user.has_perm("staff.view_associate")
    links = {}
    for pk, name, userid in rows:
        if pk not in visible:
            links[pk] = Link(gettext("an associate outside your departments"))
            continue
        url = reverse(f"{admin_site.name}:staff_associate_change", args=[pk]) if linkable else ""
        links[pk] = Link(name or userid, url, note=userid)
    return links


# --- the drafting warnings, as the last run checked them ------------------------------------------------
def _checked_note(status: snapshots.Status, *, checked: bool) -> str:
    if not checked or status.drafting_at is None:
        return gettext("Not checked yet: the checks run with the forecast, in the background.")
    values = {"when": date_format(timezone.localtime(status.drafting_at), "Y-m-d H:i")}
    if status.stale:
        return gettext("Checked at %(when)s, before the plan's last change: checked again with the forecast.") % values
    return gettext("Checked at %(when)s, with the forecast.") % values


def campaign_warnings_html(campaign: Campaign, *, status: snapshots.Status | None = None, site_name: str) -> str:
    """The drafting warnings of the campaign's moments (``campaigns.planning``), as the last forecast run
    checked them (they read every contact: never in a request)."""
    status = status or snapshots.campaign_status(campaign.pk)
    titles = status.plan.titles.get("moments", {})
    live = set(status.plan.live_moment_ids())
    moments = [{"title": titles[str(pk)], "url": reverse(f"{site_name}:campaigns_moment_change", args=[pk]),
                "warnings": sentences}
               for pk, sentences in (status.drafting or {}).items() if sentences and pk in live]  # fmt: skip
    html = render_to_string("campaigns/admin_warnings_campaign.html", {"moments": moments})  # safe: a template's
    return format_html('<p class="mb-1 text-sm" data-testid="drafting-checked">{}</p>{}',
                       _checked_note(status, checked=status.drafting is not None), html)  # fmt: skip


def moment_warnings_html(moment: Moment, *, status: snapshots.Status | None = None) -> str:
    from campaigns import planning

    if moment.state not in planning.PLANNING_STATES:
        return gettext("No longer checked: the moment is past drafting.")
    status = status or snapshots.moment_status(moment)
    said = (status.drafting or {}).get(moment.pk)
    note = _checked_note(status, checked=said is not None)
    html = render_to_string("campaigns/admin_warnings.html", {"warnings": said}) if said is not None else ""
    return format_html('<p class="mb-1 text-sm" data-testid="drafting-checked">{}</p>{}', note, html)
