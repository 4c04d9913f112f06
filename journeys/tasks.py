"""Journeys' Celery tasks: thin; the work is in ``journeys.services``."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from common.locks import lock_lease, periodic_lock

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError, DatabaseError), max_retries=3)
@periodic_lock("journeys.tick", lease=lock_lease)
def journeys_tick() -> dict:
    """Beat (and the events API, at once): enroll from the triggers, exit new opt-outs, advance due runs."""
    result = services.journeys_tick()
    if any(result.values()):
        logger.info("journeys tick: %s", result)
    return result
