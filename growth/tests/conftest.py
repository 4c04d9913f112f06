"""Fixtures of the growth tests: the sign-up throttle's Redis counters of earlier tests gone."""

from __future__ import annotations

import pytest
import redis


@pytest.fixture(autouse=True)
def _fresh_signup_counters(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.GUARD_REDIS_PREFIX}signup:*", count=1000):
        client.delete(key)
