"""Streamed CSV downloads: one line at a time (a million rows never sit in memory), formula-safe cells."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_safe(value) -> str:
    """The cell as text; one starting with ``= + - @`` (or a tab / carriage return) gets a leading ``'`` so a
    spreadsheet shows it instead of running it, unless it is a plain number (``+14155550100``, ``-3``)."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header, then each row with every cell through ``csv_safe``."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(cell) for cell in row])


def csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
