"""A campaign's numbers, read from maintained counters (never COUNT(*) over messages or clicks)."""

from __future__ import annotations

from compliance.selectors import campaign_opt_out_count
from integrations.selectors import campaign_conversions
from links.selectors import campaign_click_counts

from .counters import campaign_status_counts
from .models import MessageStatus as S

#: CONTRACT.md's status buckets: each message is in exactly one.
QUEUED = (S.PENDING, S.SENDING, S.ACCEPTED, S.SCHEDULED, S.QUEUED)


def rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def delivery_rate(counts: dict) -> float:
    """CONTRACT.md: delivered / (sent + delivered + undelivered + failed), from a dict of those four."""
    attempted = counts["sent"] + counts["delivered"] + counts["undelivered"] + counts["failed"]
    return rate(counts["delivered"], attempted)


def campaign_stats(*, campaign_id: int) -> dict:
    """``GET /api/v1/campaigns/{id}/stats/`` (CONTRACT.md), plus a few extra keys.

    delivery_rate = delivered / (sent + delivered + undelivered + failed);
    click_rate = unique clickers / delivered. ``read`` counts as delivered.
    """
    counts = campaign_status_counts(campaign_id)
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
        "opt_outs": campaign_opt_out_count(campaign_id=campaign_id),
        "delivery_rate": delivery_rate(
            {"sent": sent, "delivered": delivered, "undelivered": undelivered, "failed": failed}
        ),
        "click_rate": rate(clicks["unique_clicks"], delivered),
        # Beyond the contract:
        "capped": counts[S.CAPPED],
        "unknown": counts[S.UNKNOWN],
        "canceled": counts[S.CANCELED],
        "bot_hits": clicks["bot_hits"],
        "conversions": conversions["conversions"],
        "revenue": str(conversions["revenue"]),
    }
