"""Each links test gets its own Redis key prefix (probe counters and cached codes never leak between tests)."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _links_isolated(settings):
    settings.LINKS_REDIS_PREFIX = f"test-links-{uuid.uuid4().hex[:12]}:"
    settings.LINKS_CLICK_CAPTURE = "direct"
    yield
    cache.clear() if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache") else None


@pytest.fixture
def links_redis(settings, redis_url):
    """Capture through a Redis stream (as in production), with keys removed afterwards."""
    from links.capture import _client_for

    settings.REDIS_URL = redis_url
    settings.LINKS_CLICK_CAPTURE = "redis"
    client = _client_for(redis_url)
    yield client
    for key in client.scan_iter(f"{settings.LINKS_REDIS_PREFIX}*"):
        client.delete(key)
