"""A campaign's numbers, read from maintained counters (never COUNT(*) over messages or clicks)."""

from __future__ import annotations

from compliance.selectors import campaign_first_opt_outs
from integrations.selectors import campaign_conversions
from links.selectors import campaign_click_counts

from .counters import campaign_channel_counts, campaign_status_counts, read_receipt_messages
from .models import READ_RECEIPT_CHANNELS
from .models import MessageStatus as S

#: CONTRACT.md's status buckets: each message is in exactly one.
QUEUED = (S.PENDING, S.SENDING, S.ACCEPTED, S.SCHEDULED, S.QUEUED)


def rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def delivery_rate(counts: dict) -> float:
    """CONTRACT.md: delivered / (sent + delivered + undelivered + failed), from a dict of those four."""
    attempted = counts["sent"] + counts["delivered"] + counts["undelivered"] + counts["failed"]
    return rate(counts["delivered"], attempted)


#: A delivery report says the message reached the handset (``read`` implies delivered).
REACHED = (S.DELIVERED, S.READ)
#: What a delivery report can say. A campaign with none of these (a sender without status callbacks) never
#: learns who was reached, so the messages handed over and not refused (``sent``) stand in for it.
REPORTED = (S.DELIVERED, S.READ, S.UNDELIVERED)


def read_rate(read: int, on_read_channels: int) -> float | None:
    """read / messages sent on channels that report reads; ``None`` when none was (no channel could have said
    whether it was read: 0.0 would claim nobody read it). A read receipt is proof of such a channel, so the
    denominator is never below ``read`` (a receipt whose callback named no channel)."""
    denominator = max(on_read_channels, read)
    return round(read / denominator, 4) if denominator else None


def reached_statuses(counts: dict) -> tuple[str, ...]:
    """The statuses that count as "reached" for a campaign (or a variant) with these status counts: delivered
    and read; ``sent`` as well when no delivery report came at all (docs/analytics.md, "recipients reached")."""
    if any(counts.get(s, 0) > 0 for s in REPORTED):
        return REACHED
    return (*REACHED, S.SENT)


def reached_count(counts: dict, statuses: tuple[str, ...]) -> int:
    return sum(max(0, counts.get(s, 0)) for s in statuses)


def campaign_stats(*, campaign_id: int) -> dict:
    """``GET /api/v1/campaigns/{id}/stats/`` (CONTRACT.md), plus a few extra keys.

    delivery_rate = delivered / (sent + delivered + undelivered + failed); ``read`` counts as delivered.
    read = messages a read receipt reached; read_rate = read / messages sent on channels that report reads
    (``read_channels``: RCS, WhatsApp), null when there were none (SMS and MMS never report reads).
    Over the recipients reached (``reached``: delivered, or sent when the campaign has no delivery report at
    all): click_rate = unique clickers / reached; opt_outs = recipients reached whose first opt-out answered
    this campaign, opt_out_rate = opt_outs / reached.
    """
    counts = campaign_status_counts(campaign_id)
    channels = campaign_channel_counts(campaign_id)
    statuses = reached_statuses(counts)
    reached = reached_count(counts, statuses)
    opt_outs = campaign_first_opt_outs(campaign_id=campaign_id).filter(message__status__in=statuses).count()
    clicks = campaign_click_counts(campaign_id)
    delivered = counts[S.DELIVERED] + counts[S.READ]
    sent, undelivered, failed = counts[S.SENT], counts[S.UNDELIVERED], counts[S.FAILED]
    conversions = campaign_conversions(campaign_id)
    return {
        "recipients": sum(counts.values()),
        "suppressed": counts[S.SUPPRESSED],
        "queued": sum(counts[s] for s in QUEUED),
        "sent": sent,
        "delivered": delivered,
        "undelivered": undelivered,
        "failed": failed,
        "clicks": clicks["clicks"],
        "unique_clicks": clicks["unique_clicks"],
        "opt_outs": opt_outs,
        "delivery_rate": delivery_rate(
            {"sent": sent, "delivered": delivered, "undelivered": undelivered, "failed": failed}
        ),
        "click_rate": rate(clicks["unique_clicks"], reached),
        # CONTRACT.md, second wave:
        "read": counts[S.READ],
        "read_rate": read_rate(counts[S.READ], read_receipt_messages(channels)),
        "blocked": counts[S.BLOCKED],  # never sent: the fraud guard's country and range rules (guard/)
        # Beyond the contract:
        "read_channels": list(READ_RECEIPT_CHANNELS),
        "channels": channels,
        "reached": reached,
        "opt_out_rate": rate(opt_outs, reached),
        "capped": counts[S.CAPPED],
        "unknown": counts[S.UNKNOWN],
        "canceled": counts[S.CANCELED],
        "bot_hits": clicks["bot_hits"],
        "conversions": conversions["conversions"],
        "revenue": str(conversions["revenue"]),
    }
