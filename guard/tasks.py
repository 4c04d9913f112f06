"""The guard's periodic task: thin, locked like every periodic job, returns what it did."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task

from common.locks import lock_lease, periodic_lock

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
@periodic_lock("guard.tick", lease=lock_lease)
def guard_tick() -> dict:
    """Beat (``GUARD_TICK_SECONDS``): judge sending campaigns, note ended pauses, resume campaigns under their caps
    again, copy the caps' use to the database (``services.guard_tick``)."""
    result = asdict(services.guard_tick())
    if result["paused"] or result["auto_resumed"]:
        logger.info("guard tick: %s", result)
    return result
