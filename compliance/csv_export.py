"""The consent ledger as CSV, streamed row by row (a tenant's ledger can run to millions)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

from .models import ConsentEvent

CONSENT_CSV_COLUMNS = [
    "created_at",
    "phone_number",
    "contact_id",
    "kind",
    "source",
    "source_url",
    "disclosure_text",
    "disclosure_version",
    "ip_address",
    "user_agent",
    "inbound_message_id",
    "note",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text[1:2].isdigit() else text


def consent_csv_rows(events: Iterable[ConsentEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CONSENT_CSV_COLUMNS)
    for e in events:
        yield writer.writerow(
            [
                e.created_at.isoformat(),
                e.phone_number,
                e.contact_id or "",
                e.kind,
                e.source,
                _safe(e.source_url),
                _safe(e.disclosure_text),
                _safe(e.disclosure_version),
                e.ip_address or "",
                _safe(e.user_agent),
                e.inbound_id or "",
                _safe(e.note),
            ]
        )


def consent_csv_response(events, *, filename: str) -> StreamingHttpResponse:
    rows = consent_csv_rows(events.iterator(chunk_size=2000) if hasattr(events, "iterator") else events)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
