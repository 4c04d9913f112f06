"""Per-sender throughput, in segments per second, shared by every worker.

Carriers meter a sender (a number, a short code, a Messaging Service) in
segments per second, and Twilio queues what we send faster only for a while
before failing it (30001). So every worker process that sends for a sender
takes its turn from one Redis key with GCRA (the generic cell rate algorithm):
the key holds the "theoretical arrival time" of the next segment, one atomic
Lua call asks for ``cost`` segments and is told either "go" or "wait this
long". If Redis stops answering mid-send, a process-local bucket does the same
for this process until it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from tenants.models import Tenant

logger = logging.getLogger(__name__)

# KEYS[1] the sender's key; ARGV: emission interval (ms per segment), cost
# (segments), burst tolerance (ms). Returns 0 when allowed (and consumes), else
# the milliseconds to wait before asking again.
GCRA_LUA = """
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
local wait = new_tat - now - tolerance
if wait > 0.001 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return '0'
"""


def sender_key(tenant: Tenant) -> str:
    """One key per sender: the account and the number/short code/Messaging Service."""
    return f"smsc:throttle:{tenant.twilio_account_sid or tenant.pk}:{tenant.sender or 'default'}"


def _burst(rate: float, cost: int) -> float:
    """Segments that may go at once: a tenth of a second's worth, at least one message."""
    return max(rate / 10.0, 1.0, float(cost))


class LocalThrottle:
    """GCRA in process memory: correct for one worker process, used while Redis does not answer."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str, *, cost: int, rate: float) -> float:
        interval = 1.0 / rate
        tolerance = _burst(rate, cost) * interval
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + cost * interval
            wait = new_tat - now - tolerance
            if wait > 1e-6:
                return wait
            self._tat[key] = new_tat
            return 0.0


class RedisThrottle:
    """GCRA in Redis: one key per sender, shared by every worker process."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(GCRA_LUA)

    def try_acquire(self, key: str, *, cost: int, rate: float) -> float:
        interval_ms = 1000.0 / rate
        tolerance_ms = _burst(rate, cost) * interval_ms
        wait_ms = float(self._script(keys=[key], args=[interval_ms, cost, tolerance_ms]))
        return wait_ms / 1000.0


class Throttle:
    """Blocks until ``cost`` segments may go for a sender; Redis when there is one."""

    def __init__(self, redis_url: str = "") -> None:
        self.local = LocalThrottle()
        self.shared = RedisThrottle(redis_url) if redis_url else None

    def try_acquire(self, key: str, *, cost: int, rate: float) -> float:
        if self.shared is not None:
            try:
                return self.shared.try_acquire(key, cost=cost, rate=rate)
            except (RedisError, OSError) as exc:  # Redis down: keep sending, at this process's share.
                logger.warning("Throttle falling back to a process-local limiter: %s", type(exc).__name__)
        return self.local.try_acquire(key, cost=cost, rate=rate)

    def acquire(self, key: str, *, cost: int, rate: float, should_stop=None) -> bool:
        """Wait for our turn. Returns False if ``should_stop()`` said so while waiting."""
        while True:
            wait = self.try_acquire(key, cost=cost, rate=rate)
            if wait <= 0:
                return True
            if should_stop is not None and should_stop():
                return False
            time.sleep(min(wait, 1.0))


_throttle: Throttle | None = None
_throttle_lock = threading.Lock()


def get_throttle() -> Throttle:
    global _throttle
    if _throttle is None:
        with _throttle_lock:
            if _throttle is None:
                _throttle = Throttle(settings.REDIS_URL)
    return _throttle


def throttle_acquire(*, tenant: Tenant, segments: int, should_stop=None) -> bool:
    """Wait until ``segments`` may go from the tenant's sender (no wait when throttling is off)."""
    if not settings.SENDING_THROTTLE_ENABLED:
        return True
    return get_throttle().acquire(
        sender_key(tenant), cost=max(1, segments), rate=tenant.effective_sending_rate, should_stop=should_stop
    )


def throttle_try_acquire(*, tenant: Tenant, segments: int) -> bool:
    """Take ``segments`` from the tenant's sender if they may go now, without waiting.

    The sender builds a group of claims from what the sender's rate allows at
    this instant: a group is never larger than the burst, so no claimed message
    waits for its turn.
    """
    if not settings.SENDING_THROTTLE_ENABLED:
        return True
    wait = get_throttle().try_acquire(sender_key(tenant), cost=max(1, segments), rate=tenant.effective_sending_rate)
    return wait <= 0
