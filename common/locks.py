"""The one lock every periodic job takes, so two runs never overlap (rapidpro's ``cron_task``, in small).

``@periodic_lock("name", lease=15)`` on a Celery task: the run goes only if it
can ``add`` the key ``lock:name`` to the cache (Redis: atomic), and returns what
the job returned; a run that finds the lock held returns ``{"skipped": "locked"}``
and does nothing.

The lock is a *lease*: it lapses ``lease`` seconds after it was last renewed, and
the run renews it every third of that from a small thread for as long as it
runs. So a long run keeps its lock, and a worker killed in the middle of one
(SIGKILL, OOM, a lost machine) holds up the next run by at most ``lease``
seconds, not by the longest a run could take. The lock holds a token; only its
owner renews or deletes it.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

SKIPPED = {"skipped": "locked"}


def lock_lease() -> int:
    """``PERIODIC_LOCK_LEASE_SECONDS``: how long a periodic job killed mid-run can hold up the next run."""
    from django.conf import settings

    return settings.PERIODIC_LOCK_LEASE_SECONDS


def lock_key(name: str) -> str:
    return f"lock:{name}"


class _Renewer(threading.Thread):
    """Keeps a held lock alive while its run goes on."""

    def __init__(self, key: str, token: str, lease: float) -> None:
        super().__init__(name=f"lease-{key}", daemon=True)
        self.key, self.token, self.lease = key, token, lease
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.lease / 3):
            try:
                if cache.get(self.key) != self.token:
                    logger.warning("%s: the lock lapsed during the run", self.key)
                    return
                cache.touch(self.key, self.lease)
            except Exception:  # noqa: BLE001 - Redis hiccup: the next round tries again
                logger.warning("%s: could not renew the lock", self.key)


def periodic_lock(name: str, *, lease: int | Callable[[], int]) -> Callable:
    """Run the decorated job only when no other run holds lock ``name``; ``lease`` in seconds (or a callable
    read at each run, for a setting): how long a killed run can hold up the next one."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key, token = lock_key(name), uuid.uuid4().hex
            ttl = lease() if callable(lease) else lease
            if not cache.add(key, token, ttl):
                logger.info("%s: another run holds the lock; skipped", name)
                return dict(SKIPPED)
            renewer = _Renewer(key, token, ttl)
            renewer.start()
            try:
                return func(*args, **kwargs)
            finally:
                renewer.done.set()
                renewer.join(timeout=5)
                if cache.get(key) == token:
                    cache.delete(key)

        return wrapper

    return decorate
