"""Celery tasks for webhooks. They run on ``settings.WEBHOOKS_QUEUE`` ("webhooks")."""

from __future__ import annotations

import logging

from celery import shared_task

from common.locks import lock_lease, periodic_lock

from . import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def webhook_delivery_attempt(delivery_id: int) -> str:
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
@periodic_lock("integrations.webhooks_dispatch", lease=lock_lease)
def webhook_deliveries_dispatch() -> dict:
    """Periodic: enqueue due retries and anything whose enqueue was lost. Never two at once."""
    return {"enqueued": services.deliveries_dispatch()}
