"""Edited posts (issue 17): the posts whose associates added a personal line or edited the copy, with what
they wrote and the text WeCom received, for the managers of their stores (scoped as every dashboard)."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics import dashboards
from campaigns.models import Campaign, PublishTask

SORTS = {"associate": "associate__name", "requested_at": "publish_requested_at", "variant": "variant__name"}


def edited_posts_columns() -> list[dashboards.Column]:
    return [
        dashboards.Column("associate", _("Associate"), numeric=False, kind="link"),
        dashboards.Column("userid", _("WeCom userid"), numeric=False),
        dashboards.Column("store", _("Store"), numeric=False),
        dashboards.Column("moment", _("Moment"), numeric=False),
        dashboards.Column("variant", _("Variant"), numeric=False),
        dashboards.Column("written", _("What the associate wrote"), numeric=False),
        dashboards.Column("posted", _("Text as posted"), numeric=False),
        dashboards.Column("state", _("State"), numeric=False),
        dashboards.Column("requested_at", _("Publish requested"), numeric=False),
    ]


def _query(*, user, campaign: Campaign, filters: dashboards.Filters, query):
    associates = dashboards._associates_of(dashboards.units_for(user=user, filters=filters))
    tasks = dashboards._tasks(campaign, associates, filters).exclude(edited_copy="")
    sort, descending = dashboards._sort(query, edited_posts_columns(), "-requested_at")
    field = SORTS.get(sort, "publish_requested_at")
    order = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    tasks = tasks.select_related("associate__main_department", "moment", "variant").order_by(order, "pk")
    return tasks, sort, descending


def _row(task: PublishTask) -> dict:
    associate = task.associate
    department = associate.main_department
    return {
        "key": associate.userid, "associate": associate.name, "userid": associate.userid,
        "store": department.name if department else "", "moment": task.moment.title, "variant": task.variant.name,
        "written": task.edited_copy, "posted": task.posted_text, "state": task.get_state_display(),
        "requested_at": timezone.localtime(task.publish_requested_at).strftime("%Y-%m-%d %H:%M")
        if task.publish_requested_at else "",
    }  # fmt: skip


def edited_posts(*, user, campaign: Campaign, filters: dashboards.Filters, query) -> dashboards.Table:
    """One page of the campaign's edited posts in the user's scope: two queries (the count and the page)."""
    tasks, sort, descending = _query(user=user, campaign=campaign, filters=filters, query=query)
    total = tasks.count()
    pages = max(1, -(-total // dashboards.PAGE_SIZE))
    page = dashboards._page(query.get("page"), pages)
    start = (page - 1) * dashboards.PAGE_SIZE
    rows = [_row(task) for task in tasks[start : start + dashboards.PAGE_SIZE]]
    return dashboards.Table(edited_posts_columns(), rows, total, page, pages, sort, descending)


def edited_posts_rows(*, user, campaign: Campaign, filters: dashboards.Filters, query):
    """Every edited post in the page's order (the CSV export), read in chunks."""
    tasks, _sort, _descending = _query(user=user, campaign=campaign, filters=filters, query=query)
    for task in tasks.iterator(chunk_size=2000):
        yield _row(task)
