"""A campaign's messages and clicks as CSV, streamed: rows come from a server-side cursor 2,000 at a time,
so a million rows never sit in memory. Cells that a spreadsheet would run as a formula are neutralised.
Read from the read replica when one is configured (``common.replica``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import FilteredRelation, Q
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from campaigns.models import Campaign, Message
from common.csv_stream import csv_lines, csv_response
from common.replica import replica
from links.models import Click
from links.services import short_url
from tracking.error_codes import error_code_description

CHUNK = 2000
MESSAGE_COLUMNS = (
    "number",
    "status",
    "error_code",
    "error",
    "sent_at",
    "delivered_at",
    "read_at",
    "channel",
    "clicks",
    "first_click_at",
    "device",
    "country",
)
CLICK_COLUMNS = (
    "clicked_at",
    "number",
    "short_url",
    "is_bot",
    "bot_reason",
    "device",
    "os",
    "browser",
    "country",
    "ip",
)


def _filename(campaign: Campaign, kind: str) -> str:
    return f"campaign-{campaign.pk}-{slugify(campaign.name)[:40] or 'export'}-{kind}.csv"


def message_export_rows(*, campaign_id: int) -> Iterator[tuple]:
    """``MESSAGE_COLUMNS`` per message, in id order. Device and country are those of the recipient's first
    human click (the click marked unique); ``clicks`` are the human clicks of its short link. ``read_at``: when
    a read receipt came (RCS, WhatsApp only); ``channel``: what Twilio reported (sms until a callback says)."""
    first_click = FilteredRelation("clicks", condition=Q(clicks__is_unique=True))
    rows = (
        Message.objects.using(replica())
        .filter(campaign_id=campaign_id)
        .annotate(first_click=first_click)
        .order_by("id")
        .values_list(
            "to",
            "status",
            "error_code",
            "error_message",
            "sent_at",
            "delivered_at",
            "read_at",
            "channel",
            "short_link__human_clicks",
            "short_link__first_clicked_at",
            "first_click__device_type",
            "first_click__country",
        )
    )
    for (
        to,
        status,
        code,
        error,
        sent_at,
        delivered_at,
        read_at,
        channel,
        clicks,
        first_at,
        device,
        country,
    ) in rows.iterator(chunk_size=CHUNK):
        yield (
            to,
            status,
            code,
            error or (error_code_description(code) if code is not None else ""),
            sent_at,
            delivered_at,
            read_at,
            channel,
            clicks or 0,
            first_at,
            device,
            country,
        )


def click_export_rows(*, campaign_id: int) -> Iterator[tuple]:
    """``CLICK_COLUMNS`` per click (human and bot), oldest first."""
    rows = (
        Click.objects.using(replica())
        .filter(campaign_id=campaign_id)
        .order_by("clicked_at", "id")
        .values_list(
            "clicked_at",
            "message__to",
            "link__code",
            "is_bot",
            "bot_reason",
            "device_type",
            "os_family",
            "browser_family",
            "country",
            "ip_address",
        )
    )
    for clicked_at, to, code, is_bot, reason, device, os_family, browser, country, ip in rows.iterator(
        chunk_size=CHUNK
    ):
        yield (
            clicked_at,
            to,
            short_url(code),
            "true" if is_bot else "false",
            reason,
            device,
            os_family,
            browser,
            country,
            ip,
        )


def messages_csv_response(*, campaign: Campaign) -> StreamingHttpResponse:
    return csv_response(
        csv_lines(MESSAGE_COLUMNS, message_export_rows(campaign_id=campaign.pk)), _filename(campaign, "messages")
    )


def clicks_csv_response(*, campaign: Campaign) -> StreamingHttpResponse:
    return csv_response(
        csv_lines(CLICK_COLUMNS, click_export_rows(campaign_id=campaign.pk)), _filename(campaign, "clicks")
    )
