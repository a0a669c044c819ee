"""CSV downloads of the dashboards' tables: UTF-8 with a byte-order mark (so that Excel
opens Chinese names correctly), streamed row by row (a large table is never held whole)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable

from django.http import StreamingHttpResponse
from django.utils.text import slugify

BOM = "\ufeff"


class _Line:
    """A file-like object that hands back what csv.writer writes (one line at a time)."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> object:
    """Spreadsheet formula injection: a text cell must not start a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(
    *, filename: str, header: list[str], rows: Iterable, row_values: Callable[[object], list]
) -> StreamingHttpResponse:
    writer = csv.writer(_Line())

    def lines():
        yield BOM + writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(v) for v in row_values(row)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = slugify(filename, allow_unicode=False) or "export"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def table_csv(*, filename: str, columns, rows) -> StreamingHttpResponse:
    """A dashboard table (``analytics.dashboards.Column`` list, rows as dicts) as CSV."""
    return csv_response(filename=filename, header=[str(c.label) for c in columns], rows=rows,
                        row_values=lambda row: [row.get(c.key) for c in columns])  # fmt: skip
