"""The consent ledger as CSV, streamed row by row (a tenant's ledger can run to millions)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

from common.csv_stream import csv_lines, csv_response

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


def consent_csv_rows(events: Iterable[ConsentEvent]) -> Iterator[str]:
    return csv_lines(
        CONSENT_CSV_COLUMNS,
        (
            (
                e.created_at,
                e.phone_number,
                e.contact_id,
                e.kind,
                e.source,
                e.source_url,
                e.disclosure_text,
                e.disclosure_version,
                e.ip_address,
                e.user_agent,
                e.inbound_id,
                e.note,
            )
            for e in events
        ),
    )


def consent_csv_response(events, *, filename: str) -> StreamingHttpResponse:
    rows = consent_csv_rows(events.iterator(chunk_size=2000) if hasattr(events, "iterator") else events)
    return csv_response(rows, filename)
