"""Every CSV the product writes (the dashboards' tables, the admin's channel QR codes): UTF-8 with
a byte-order mark (so that Excel opens Chinese names correctly), each cell guarded against formula
injection, streamed row by row (a large table is never held whole). ``csv_lines`` is the one
writer; nothing else in the product calls ``csv.writer``."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.text import slugify

BOM = "\ufeff"


class _Line:
    """A file-like object that hands back what csv.writer writes (one line at a time)."""

    def write(self, value: str) -> str:
        return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> object:
    """Spreadsheet formula injection: a text cell must not start a formula. Numbers stay numbers;
    anything else (lazy translations, choices, dates) is checked as the text it is written as."""
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(*, header: list, rows: Iterable, row_values: Callable[[object], list]) -> Iterator[str]:
    """The CSV's lines, the first with the byte-order mark; every cell through ``_cell``."""
    writer = csv.writer(_Line())
    yield BOM + writer.writerow([_cell(v) for v in header])
    for row in rows:
        yield writer.writerow([_cell(v) for v in row_values(row)])


def csv_response(
    *, filename: str, header: list, rows: Iterable, row_values: Callable[[object], list], stream: bool = True
) -> StreamingHttpResponse | HttpResponse:
    """A download; ``stream=False`` for a table already in memory (one response, its length known)."""
    lines = csv_lines(header=header, rows=rows, row_values=row_values)
    content_type = "text/csv; charset=utf-8"
    response = (
        StreamingHttpResponse(lines, content_type=content_type)
        if stream
        else HttpResponse("".join(lines), content_type=content_type)
    )
    name = slugify(filename, allow_unicode=False) or "export"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def table_csv(*, filename: str, columns, rows) -> StreamingHttpResponse:
    """A dashboard table (``analytics.dashboards.Column`` list, rows as dicts) as CSV."""
    return csv_response(filename=filename, header=[str(c.label) for c in columns], rows=rows,
                        row_values=lambda row: [row.get(c.key) for c in columns])  # fmt: skip
