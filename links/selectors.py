"""Reads for short links and clicks: from the maintained counters, never COUNT(*) over clicks."""

from __future__ import annotations

from collections.abc import Iterable

from .models import CampaignClickCount, ShortLink


def campaign_click_counts(campaign_id: int) -> dict[str, int]:
    """``{"clicks", "unique_clicks", "bot_hits"}`` of a campaign (human clicks, recipients who clicked, bots)."""
    row = (
        CampaignClickCount.objects.filter(campaign_id=campaign_id).values("clicks", "unique_clicks", "bot_hits").first()
    )
    return row or {"clicks": 0, "unique_clicks": 0, "bot_hits": 0}


def message_click_counts(message_ids: Iterable[int]) -> dict[int, int]:
    """Human clicks per message (0 for a message without a link or clicks)."""
    ids = list(message_ids)
    counts = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), 10_000):
        counts.update(
            ShortLink.objects.filter(message_id__in=ids[start : start + 10_000]).values_list(
                "message_id", "human_clicks"
            )
        )
    return counts
