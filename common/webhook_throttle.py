"""Twilio's webhooks, counted per source address: past ``WEBHOOK_THROTTLE`` a 429 with ``Retry-After``.

The webhooks take no credentials before their signature is checked (a database read and an HMAC), so a flood
from one address would cost that much per request. The rate is generous (default ``6000/min`` an address, about
100 a second): Twilio's callbacks come from many addresses, and a status callback answered 429 is not retried
by Twilio (the reconciliation finds the message's status later). ``0`` turns the count off.

Counted in Redis, a fixed window per address: one ``INCR`` and one ``EXPIRE`` in one round trip. When Redis does
not answer (or its client fails in any way), the webhook is served (a lost count costs less than a lost callback)
and a warning logged, at most once a minute. The address is DRF's reading, the same as the API's throttles
(``API_NUM_PROXIES``).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.http import JsonResponse
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

KEY_PREFIX = "smsc:webhooks:rate:"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_warned_at = 0.0


@functools.cache
def parse_rate(rate: str) -> tuple[int, int]:
    """``"N/period"`` (``s``, ``min``, ``hour``, ``day``; their first letter counts) as (requests, seconds);
    ``"0"`` or an empty value is (0, 0): no limit."""
    rate = (rate or "").strip()
    if rate in ("", "0"):
        return 0, 0
    number, _, period = rate.partition("/")
    seconds = _PERIODS.get(period.strip()[:1].lower())
    if not number.strip().isdigit() or seconds is None:
        raise ValueError(f"WEBHOOK_THROTTLE must look like 6000/min, not {rate!r}")
    return int(number), seconds


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def fixed_window_wait(
    key: str, rate: str, client: Callable[[], redis.Redis], on_error: Callable[[Exception], None]
) -> int:
    """Count one hit of ``key`` in the current fixed window of ``rate``; seconds until that window is over when
    the hit is past the limit (0: go on). One ``INCR`` and one ``EXPIRE`` in one round trip. Whatever Redis or
    its client raises goes to ``on_error`` and lets the hit through (a lost count costs less than a lost request).
    The sign-up throttle (``growth.throttle``) counts this way too."""
    limit, period = parse_rate(rate)
    if not limit:
        return 0
    now = time.time()
    window = int(now // period)
    full = f"{key}:{window}"
    try:
        pipe = client().pipeline(transaction=False)
        pipe.incr(full)
        pipe.expire(full, period)
        count = int(pipe.execute()[0])
    except Exception as exc:  # noqa: BLE001 - not only RedisError: whatever the client raises, the hit goes through
        on_error(exc)
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil((window + 1) * period - now))


def webhook_wait(request) -> int:
    """Seconds until this request's address may call again (0: serve it). Counts the request."""
    key = f"{KEY_PREFIX}{BaseThrottle().get_ident(request)}"
    return fixed_window_wait(key, settings.WEBHOOK_THROTTLE, lambda: _client(settings.REDIS_URL), _warn)


def _warn(exc: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        logger.warning("webhook throttle: Redis failed (%s); webhooks are served uncounted", type(exc).__name__)


def webhook_throttled(view):
    """Wraps a webhook view: a request over its address's rate is answered 429 with ``Retry-After``, unread."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        wait = webhook_wait(request)
        if wait:
            response = JsonResponse({"detail": f"Too many requests from this address: retry in {wait} s."}, status=429)
            response["Retry-After"] = str(wait)
            return response
        return view(request, *args, **kwargs)

    return wrapped
