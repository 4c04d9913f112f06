"""The one lock every periodic job takes, so two runs never overlap (rapidpro's ``cron_task``, in small).

``@periodic_lock("name", timeout=60)`` on a Celery task: the run goes only if it
can ``add`` the key ``lock:name`` to the cache (Redis: atomic), and returns what
the job returned; a run that finds the lock held returns ``{"skipped": "locked"}``
and does nothing. The lock holds a token and only its owner deletes it, so a run
that outlived its ``timeout`` cannot release the next run's lock. ``timeout`` is
also how long a worker killed mid-run delays the next one: keep it short.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

SKIPPED = {"skipped": "locked"}


def lock_key(name: str) -> str:
    return f"lock:{name}"


def periodic_lock(name: str, *, timeout: int | Callable[[], int]) -> Callable:
    """Run the decorated job only when no other run holds lock ``name``; ``timeout`` in seconds (or a callable
    read at each run, for a setting)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key, token = lock_key(name), uuid.uuid4().hex
            ttl = timeout() if callable(timeout) else timeout
            if not cache.add(key, token, ttl):
                logger.info("%s: another run holds the lock; skipped", name)
                return dict(SKIPPED)
            try:
                return func(*args, **kwargs)
            finally:
                if cache.get(key) == token:
                    cache.delete(key)

        return wrapper

    return decorate
