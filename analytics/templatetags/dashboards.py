"""Small helpers of the dashboards' tables: sort and page links that keep the filters, and
cells formatted by their column's kind."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()


def _url(request, **changes) -> str:
    query = request.GET.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return f"{request.path}?{query.urlencode()}"


@register.simple_tag(takes_context=True)
def sort_url(context, key: str, table) -> str:
    """Sort by ``key``: descending first for numbers, toggled when already sorted by it."""
    if table.sort == key:
        value = key if table.descending else f"-{key}"
    else:
        numeric = next((c.numeric for c in table.columns if c.key == key), True)
        value = f"-{key}" if numeric else key
    return _url(context["request"], sort=value, page=None)


@register.simple_tag(takes_context=True)
def page_url(context, page: int) -> str:
    return _url(context["request"], page=str(page))


@register.simple_tag
def cell(row: dict, column) -> str:
    value = row.get(column.key)
    if column.kind == "rate":
        return format_html("{}%", number_format(round((value or 0) * 100, 1), decimal_pos=1))
    if column.kind == "date" or isinstance(value, dt.date):
        return date_format(value, "Y-m-d") if value else ""
    if column.key in ("verified", "photo"):
        return _("yes") if value else _("no")
    if column.kind == "link" and row.get("url"):
        return format_html('<a href="{}">{}</a>', row["url"], value)
    if value is None:
        return "0" if column.numeric else ""
    return str(value)


@register.filter
def percent(value) -> str:
    return number_format(round((value or 0) * 100, 1), decimal_pos=1) + "%"
