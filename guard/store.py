"""The guard's Redis connection (counters of spend and abuse), one client per URL and process."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings


def key_prefix() -> str:
    """``GUARD_REDIS_PREFIX`` (default ``smsc:guard:``): every guard key starts so (the test suite makes one per run,
    since tenant ids repeat between test databases)."""
    return settings.GUARD_REDIS_PREFIX


@lru_cache(maxsize=4)
def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
