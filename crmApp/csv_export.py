"""CSV output, one writer for every export: the lists' `export_csv`, the reports' `?format=csv`
and the Django admin's "export selected" action.

Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or carriage return
first) are prefixed with `'`, so an exported value typed by a client can never execute when
someone opens the file.
"""

import csv
import json
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose `write` hands the line back, so rows stream one at a time."""

    def write(self, value):
        return value


def csv_cell(value) -> str:
    if value is None:
        return ""
    # JSON columns (tags) as JSON, not Python's repr (`['a']`).
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_PREFIXES) else text


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header line, then one neutralised line per row, produced lazily."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_download(header: list[str], rows: Iterable[Iterable], *, filename: str):
    """A streamed `text/csv` attachment named `filename`: memory stays flat whatever its size."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
