"""Celery beat drains the click stream every few seconds (no extra process needed)."""

from __future__ import annotations

import contextlib

from celery import shared_task
from django.conf import settings
from redis.exceptions import LockError

from .capture import capture_mode, redis_client


@shared_task(ignore_result=True)
def clicks_write() -> int:
    """Write queued clicks; one run at a time (a Redis lock). Returns clicks written."""
    if capture_mode() != "redis":
        return 0
    from .writer import ClickWriter, consumer_name

    client = redis_client()
    lock = client.lock(f"{settings.LINKS_REDIS_PREFIX}writer-task-lock", timeout=120, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    try:
        writer = ClickWriter(consumer=consumer_name("celery"))
        return writer.retry_own() + writer.drain(time_budget=settings.LINKS_CLICK_TASK_BUDGET)
    finally:
        with contextlib.suppress(LockError):  # expired meanwhile: nothing to release
            lock.release()


@shared_task(ignore_result=True)
def short_links_warm(*, campaign_id: int, codes: list[str]) -> int:
    """Warm the redirect's lookup cache with a fan-out chunk's new codes."""
    from .services import short_links_cache_warm

    return short_links_cache_warm(campaign_id=campaign_id, codes=codes)
