"""Celery beat drains the click stream every few seconds (no extra process needed)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from common.locks import lock_lease, periodic_lock

from .capture import capture_mode


@shared_task(ignore_result=True)
@periodic_lock("links.clicks_write", lease=lock_lease)
def clicks_write() -> dict:
    """Write queued clicks; one run at a time. Returns how many were written."""
    if capture_mode() != "redis":
        return {"written": 0}
    from .writer import ClickWriter, consumer_name

    writer = ClickWriter(consumer=consumer_name("celery"))
    return {"written": writer.retry_own() + writer.drain(time_budget=settings.LINKS_CLICK_TASK_BUDGET)}


@shared_task(ignore_result=True)
def short_links_warm(*, campaign_id: int, codes: list[str]) -> int:
    """Warm the redirect's lookup cache with a fan-out chunk's new codes."""
    from .services import short_links_cache_warm

    return short_links_cache_warm(campaign_id=campaign_id, codes=codes)


@shared_task(ignore_result=True)
def short_links_forget(*, campaign_id: int) -> int:
    """Drop a campaign's codes from the redirect's lookup cache (their expiry changed)."""
    from .services import short_links_cache_forget

    return short_links_cache_forget(campaign_id=campaign_id)
