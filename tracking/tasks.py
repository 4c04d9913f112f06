"""Periodic delivery-tracking jobs. Each takes its lock (``common.locks``) so two never overlap, and returns what it
did."""

from __future__ import annotations

import logging

from celery import shared_task

from common.locks import lock_lease, periodic_lock

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
@periodic_lock("tracking.reconcile", lease=lock_lease)
def messages_reconcile() -> dict:
    return services.messages_reconcile()


@shared_task(ignore_result=True)
@periodic_lock("tracking.orphans_sweep", lease=lock_lease)
def status_orphans_sweep() -> dict:
    return services.status_orphans_sweep()
