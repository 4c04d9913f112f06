"""The campaigns' status counters, in one home: their writes, their squash and their reads.

``MessageStatusCount`` rows are deltas (rapidpro's squashable counts): every
status move inserts -1 on the old status and +1 on the new one in the move's own
statement (``transitions``), a bulk change inserts its deltas with
``counts_add``, ``squash_status_counts`` (a beat job) folds them, and readers SUM
them (``campaign_status_counts``, the admin's progress annotations).
``MessageChannelCount`` rows are the same kind of deltas for the channel Twilio
reported (``campaign_channel_counts``), squashed by the same job.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import READ_RECEIPT_CHANNELS, MessageChannelCount, MessageStatus, MessageStatusCount


def campaign_status_counts(campaign_id: int) -> dict[str, int]:
    """Messages of a campaign by current status, from the maintained counters."""
    counts = dict.fromkeys(MessageStatus.values, 0)
    rows = (
        MessageStatusCount.objects.filter(campaign_id=campaign_id)
        .values("status")
        .annotate(total=Sum("count"))
        .values_list("status", "total")
    )
    for status, total in rows:
        counts[status] = total or 0
    return counts


def campaign_channel_counts(campaign_id: int) -> dict[str, int]:
    """A campaign's messages by the channel Twilio reported, for channels other than ``sms`` (which every
    message has until a callback names another, and which is not counted)."""
    rows = (
        MessageChannelCount.objects.filter(campaign_id=campaign_id)
        .values("channel")
        .annotate(total=Sum("count"))
        .values_list("channel", "total")
    )
    return {channel: total for channel, total in rows if total}


def read_receipt_messages(channel_counts: dict[str, int]) -> int:
    """Messages sent on channels that report reads (RCS, WhatsApp), from ``campaign_channel_counts``."""
    return sum(max(0, channel_counts.get(c, 0)) for c in READ_RECEIPT_CHANNELS)


#: The columns a squash keeps apart (with the sign of ``count``): totals, arrivals per minute, failures by error
#: code and per-variant counts all read the same after a squash as before it.
SQUASH_KEYS = ("campaign_id", "status", "minute", "from_status", "error_code", "variant")


def squash_status_counts(*, limit: int = 5000) -> int:
    """Fold counter rows into one row per ``SQUASH_KEYS`` and sign, and the channel counters into one row per
    campaign and channel. Returns the rows written.

    Only the rows a squash has read are deleted and summed: a delta inserted by a
    concurrent transition meanwhile is left for the next squash, never lost. Rows
    are folded per sign (arrivals stay positive), so "arrivals into S per minute =
    SUM(count) WHERE count > 0" holds after it as before.
    """
    table = connection.ops.quote_name(MessageStatusCount._meta.db_table)
    keys = ", ".join(SQUASH_KEYS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH pairs AS (SELECT DISTINCT campaign_id, status FROM {table} WHERE NOT is_squashed LIMIT %s), "  # noqa: S608 - names from model meta, values bound
            f"gone AS (DELETE FROM {table} c USING pairs p WHERE c.campaign_id = p.campaign_id "
            f"AND c.status = p.status RETURNING {', '.join('c.' + k for k in SQUASH_KEYS)}, c.count) "
            f"INSERT INTO {table} ({keys}, count, is_squashed) "
            f"SELECT {keys}, SUM(count), true FROM gone GROUP BY {keys}, count > 0",
            [limit],
        )
        written = cursor.rowcount
        channels = connection.ops.quote_name(MessageChannelCount._meta.db_table)
        cursor.execute(
            f"WITH pairs AS (SELECT DISTINCT campaign_id, channel FROM {channels} WHERE NOT is_squashed LIMIT %s), "  # noqa: S608 - names from model meta, values bound
            f"gone AS (DELETE FROM {channels} c USING pairs p WHERE c.campaign_id = p.campaign_id "
            "AND c.channel = p.channel RETURNING c.campaign_id, c.channel, c.count) "
            f"INSERT INTO {channels} (campaign_id, channel, count, is_squashed) "
            "SELECT campaign_id, channel, SUM(count), true FROM gone GROUP BY campaign_id, channel",
            [limit],
        )
        return written + cursor.rowcount


#: Statuses not (yet) handed to the gateway: waiting, or skipped for good.
NOT_HANDED_OVER = ("pending", "sending", "suppressed", "capped", "blocked", "canceled")


def _counter_sum(statuses: tuple[str, ...] | None = None):
    rows = MessageStatusCount.objects.filter(campaign_id=OuterRef("pk"))
    if statuses:
        rows = rows.filter(status__in=statuses)
    total = rows.order_by().values("campaign_id").annotate(total=Sum("count")).values("total")
    return Coalesce(Subquery(total, output_field=IntegerField()), 0)


def campaign_progress_annotations() -> dict:
    """``progress_total`` and ``progress_handed`` for a Campaign queryset, from the counters, in the same query
    (a list of campaigns costs one statement, not one per campaign)."""
    return {"progress_total": _counter_sum(), "progress_handed": _counter_sum() - _counter_sum(NOT_HANDED_OVER)}


def this_minute() -> dt.datetime:
    return timezone.now().replace(second=0, microsecond=0)


def counts_add(*, campaign_id: int, deltas: dict[str, int], variant: int | None = None) -> None:
    """Record bulk changes (e.g. a fan-out that created N pending messages).

    ``variant``: the A/B variant of all these messages (a fan-out calls once per
    variant, so the per-variant figures count its recipients). Positive deltas are
    arrivals of this minute, as for a single move.
    """
    minute = this_minute()
    MessageStatusCount.objects.bulk_create(
        [
            MessageStatusCount(
                campaign_id=campaign_id, status=s, count=n, variant=variant, minute=minute if n > 0 else None
            )
            for s, n in deltas.items()
            if n
        ]
    )
