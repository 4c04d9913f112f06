"""Periodic delivery-tracking jobs. Each takes a lock so two never overlap, and returns what it did."""

from __future__ import annotations

import functools
import logging
import uuid

from celery import shared_task
from django.core.cache import cache

from campaigns.selectors import squash_status_counts

from . import services

logger = logging.getLogger(__name__)


def locked(name: str, *, timeout: int):
    """Run the job only if no other run holds its lock (cache ``add`` is atomic in Redis)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key, token = f"lock:{name}", uuid.uuid4().hex
            if not cache.add(key, token, timeout):
                logger.info("%s: another run holds the lock; skipped", name)
                return {"skipped": "locked"}
            try:
                result = func(*args, **kwargs)
                logger.info("%s: %s", name, result)
                return result
            finally:
                if cache.get(key) == token:
                    cache.delete(key)

        return wrapper

    return decorate


@shared_task(ignore_result=True)
@locked("tracking.reconcile", timeout=900)
def messages_reconcile() -> dict:
    return services.messages_reconcile()


@shared_task(ignore_result=True)
@locked("tracking.orphans_sweep", timeout=300)
def status_orphans_sweep() -> dict:
    return services.status_orphans_sweep()


@shared_task(ignore_result=True)
@locked("campaigns.squash_counts", timeout=300)
def status_counts_squash() -> dict:
    return {"squashed": squash_status_counts()}
