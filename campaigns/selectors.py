"""Reads for campaigns."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Sum

from .models import MessageStatus, MessageStatusCount


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


def squash_status_counts(*, limit: int = 5000) -> int:
    """Fold unsquashed counter rows into one row per (campaign, status). Returns groups squashed."""
    pairs = list(
        MessageStatusCount.objects.filter(is_squashed=False).values_list("campaign_id", "status").distinct()[:limit]
    )
    for campaign_id, status in pairs:
        with transaction.atomic():
            rows = MessageStatusCount.objects.select_for_update().filter(campaign_id=campaign_id, status=status)
            total = rows.aggregate(t=Sum("count"))["t"] or 0
            rows.delete()
            MessageStatusCount.objects.create(campaign_id=campaign_id, status=status, count=total, is_squashed=True)
    return len(pairs)
