"""Celery tasks for webhooks. They run on ``settings.WEBHOOKS_QUEUE`` ("webhooks")."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from . import services

logger = logging.getLogger(__name__)

DISPATCH_LOCK = "integrations:webhooks-dispatch"


@shared_task(acks_late=True, ignore_result=True)
def webhook_delivery_attempt(delivery_id: int) -> str:
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhook_deliveries_dispatch() -> int:
    """Periodic: enqueue due retries and anything whose enqueue was lost. Never two at once."""
    if not cache.add(DISPATCH_LOCK, 1, timeout=60):
        return 0
    try:
        return services.deliveries_dispatch()
    finally:
        cache.delete(DISPATCH_LOCK)
