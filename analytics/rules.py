"""The platform rules in force on a day (DESIGN.md §4): the newest PlatformRules version
that took effect on or before it, else WeCom's defaults. Every computation asks here."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings

FEED_CAP = 3
UNVERIFIED_REACH_LIMIT = 200
ENTERPRISE_MONTHLY_CAP_WHEN_ON = 4


@dataclass(frozen=True)
class Rules:
    feed_cap: int = FEED_CAP
    unverified_reach_limit: int = UNVERIFIED_REACH_LIMIT
    enterprise_monthly_cap: int | None = None  # off
    time_zone: str = ""

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)


def rules_for(day: dt.date) -> Rules:
    from analytics.models import PlatformRules

    version = PlatformRules.objects.filter(effective_from__lte=day).order_by("-effective_from").first()
    if version is None:
        return Rules(time_zone=settings.TIME_ZONE)
    return Rules(
        feed_cap=version.feed_cap,
        unverified_reach_limit=version.unverified_reach_limit,
        enterprise_monthly_cap=version.enterprise_monthly_cap,
        time_zone=version.time_zone,
    )


def local_day(at: dt.datetime) -> tuple[dt.date, Rules]:
    """The local day of ``at`` under the rules in force then, and those rules."""
    from django.utils import timezone

    rules = rules_for(timezone.localdate(at))
    return at.astimezone(rules.zone).date(), rules


def boundary_order_sql(*, added: str, external_userid: str) -> str:
    """The order of an unverified associate's contacts at the reach limit (DESIGN.md §4),
    as an ORDER BY list over two columns: the added time, then the customer's
    external_userid. WeCom documents no tie-break for contacts added in the same second;
    the external_userid is our stated choice because WeCom has it too (never our row ids:
    a re-added contact keeps its old row but is a new add at its new time, and two
    contacts added in the same second would follow our insertion order). Compared byte by
    byte (PostgreSQL's "C" collation, SQLite's default), so the order is the same on both
    and in the sandbox whatever the database's locale."""
    from django.db import connection

    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    return f"{added}, {external_userid}{collate}"


def ranked_contacts_sql(senders: str) -> str:
    """The SELECT of the active contacts of the associates in ``senders`` (a subquery
    yielding ``associate_id``) with ``n``, their rank in the boundary order
    (``boundary_order_sql``) when the associate is unverified, 0 when verified: a contact is
    reachable iff ``n`` is within the unverified reach limit (DESIGN.md §4). The one text of
    the forecast and the roll-ups."""
    from django.db import connection

    from staff.models import Associate, Contact, Customer

    contact = connection.ops.quote_name(Contact._meta.db_table)
    associate = connection.ops.quote_name(Associate._meta.db_table)
    customer = connection.ops.quote_name(Customer._meta.db_table)
    order = boundary_order_sql(added="c.added_at", external_userid="cu.external_userid")
    return (
        "SELECT c.id, c.associate_id, c.customer_id, CASE WHEN a.is_verified THEN 0 "
        f"ELSE ROW_NUMBER() OVER (PARTITION BY c.associate_id ORDER BY {order}) END AS n "
        f"FROM {contact} c JOIN {associate} a ON a.id = c.associate_id "
        f"JOIN {customer} cu ON cu.id = c.customer_id "
        f"WHERE c.is_active AND c.associate_id IN ({senders})"
    )
