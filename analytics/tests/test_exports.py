"""The CSV exports of the seeded A/B campaign (conftest.py): streamed, tenant-scoped, formula-safe."""

from __future__ import annotations

import csv
import io

from django.db import connection
from django.test import Client

from analytics.exports import CLICK_COLUMNS, MESSAGE_COLUMNS
from analytics.tests.conftest import T0
from common.csv_stream import csv_safe


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="campaign-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_messages_csv(ab_campaign, api_alice):
    campaign, messages, _codes = ab_campaign
    response = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/export/messages.csv", HTTP_ACCEPT="text/csv")
    rows = _csv(response)
    assert list(rows[0]) == list(MESSAGE_COLUMNS)
    assert [r["number"] for r in rows] == [m.to for m in messages.values()]  # in id order; numbers stay numbers
    by_number = {r["number"]: r for r in rows}
    a1 = by_number[messages["A1"].to]
    # A1: delivered at minute 2, clicked twice by a person (first from an iPhone in the US at 3:05), once by a bot.
    assert a1 == {
        "number": messages["A1"].to, "status": "delivered", "error_code": "", "error": "",
        "sent_at": T0.isoformat(), "delivered_at": T0.replace(minute=2).isoformat(), "read_at": "",
        "channel": "sms", "clicks": "2",
        "first_click_at": T0.replace(minute=3, second=5).isoformat(), "device": "mobile", "country": "US",
    }  # fmt: skip
    a2 = by_number[messages["A2"].to]
    assert (a2["status"], a2["clicks"], a2["device"], a2["country"]) == ("read", "2", "mobile", "FR")
    assert (a2["channel"], a2["read_at"]) == ("rcs", T0.replace(minute=4).isoformat())
    b4 = by_number[messages["B4"].to]
    assert (b4["status"], b4["error_code"], b4["error"]) == (
        "failed",
        "30007",
        "Filtered by the carrier as spam or a policy violation",
    )
    # A3's error text (from the gateway) starts with "=": neutralised for spreadsheets.
    assert by_number[messages["A3"].to]["error"] == '\'=HYPERLINK("x")'
    assert by_number[messages["A5"].to]["status"] == "suppressed" and by_number[messages["A5"].to]["clicks"] == "0"


def test_clicks_csv(ab_campaign, api_alice, settings):
    campaign, messages, codes = ab_campaign
    rows = _csv(api_alice.get(f"/api/v1/campaigns/{campaign.pk}/export/clicks.csv"))
    assert list(rows[0]) == list(CLICK_COLUMNS)
    assert len(rows) == 7  # 5 human clicks and 2 bot hits, oldest first
    first = rows[0]
    assert first == {
        "clicked_at": T0.replace(minute=3, second=5).isoformat(), "number": messages["A1"].to,
        "short_url": f"{settings.SHORT_LINK_BASE_URL}/{codes[messages['A1'].pk]}", "is_bot": "false",
        "bot_reason": "", "device": "mobile", "os": "iOS", "browser": "Mobile Safari", "country": "US",
        "ip": "8.8.8.0",
    }  # fmt: skip
    assert [(r["is_bot"], r["bot_reason"]) for r in rows if r["is_bot"] == "true"] == [
        ("true", "link preview: WhatsApp"),
        ("true", "HEAD request"),
    ]
    assert [r["clicked_at"][14:19] for r in rows] == ["03:05", "03:06", "03:40", "04:01", "05:30", "06:00", "09:59"]


def test_exports_stream_from_a_server_side_cursor(ab_campaign, alice, monkeypatch):
    """Rows come through a chunked (server-side cursor) fetch of 2,000 at a time, never one list in memory."""
    from django.db.models.sql.compiler import SQLCompiler

    calls = []
    original = SQLCompiler.execute_sql

    def spy(self, *args, **kwargs):
        calls.append((self.query.model.__name__, kwargs.get("chunked_fetch"), kwargs.get("chunk_size")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "execute_sql", spy)
    campaign, _m, _c = ab_campaign
    client = Client()
    client.force_login(alice)  # session auth works too
    for kind, model, lines in (("messages", "Message", 11), ("clicks", "Click", 8)):
        calls.clear()
        response = client.get(f"/api/v1/campaigns/{campaign.pk}/export/{kind}.csv")
        assert response.streaming
        assert b"".join(response.streaming_content).count(b"\n") == lines
        assert (model, True, 2000) in calls
        assert connection.features.can_use_chunked_reads


def test_csv_safe():
    assert csv_safe("=1+2") == "'=1+2"
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_safe("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert csv_safe("+1+HYPERLINK()") == "'+1+HYPERLINK()"
    assert csv_safe("+14155550100") == "+14155550100"
    assert csv_safe("-3") == "-3"
    assert csv_safe(None) == "" and csv_safe("plain") == "plain"
