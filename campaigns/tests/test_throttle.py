from __future__ import annotations

import threading
import time
import uuid

from campaigns.sending.throttle import LocalThrottle, RedisThrottle, Throttle, sender_key, throttle_acquire


def _rate(throttle, key, *, n, rate, cost=1, threads=1) -> float:
    """Segments per second actually let through for ``n`` acquisitions."""

    def work():
        for _ in range(n // threads):
            throttle.acquire(key, cost=cost, rate=rate)

    start = time.monotonic()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return n * cost / (time.monotonic() - start)


def test_local_gcra_holds_the_rate():
    throttle = Throttle("")
    assert throttle.shared is None
    measured = _rate(throttle, "k", n=30, rate=50, threads=3)
    assert 35 <= measured <= 60


def test_segments_cost_more():
    local = LocalThrottle()
    assert local.try_acquire("k", cost=3, rate=10) == 0
    wait = local.try_acquire("k", cost=3, rate=10)
    assert 0.25 < wait <= 0.6  # three segments at ten a second


def test_redis_gcra_is_shared_between_workers(redis_url):
    key = f"test:{uuid.uuid4().hex}"
    a, b = RedisThrottle(redis_url), RedisThrottle(redis_url)  # two worker processes' views of one sender

    class Both:
        i = 0

        def acquire(self, key, *, cost, rate):
            Both.i += 1
            t = Throttle.__new__(Throttle)
            t.local, t.shared = LocalThrottle(), (a if Both.i % 2 else b)
            return t.acquire(key, cost=cost, rate=rate)

    measured = _rate(Both(), key, n=40, rate=80, threads=4)
    assert 55 <= measured <= 100


def test_redis_down_falls_back_to_local():
    throttle = Throttle("redis://127.0.0.1:1/0")
    assert throttle.try_acquire("k", cost=1, rate=5) == 0
    assert throttle.try_acquire("k", cost=1, rate=5) > 0  # the local bucket still limits


def test_per_sender_keys_and_switch(settings, tenant_a, tenant_b):
    assert sender_key(tenant_a) != sender_key(tenant_b)
    settings.SENDING_THROTTLE_ENABLED = False
    start = time.monotonic()
    for _ in range(50):
        assert throttle_acquire(tenant=tenant_a, segments=1)
    assert time.monotonic() - start < 0.5


def test_should_stop_interrupts_the_wait():
    throttle = Throttle("")
    throttle.acquire("k", cost=1, rate=0.1)
    assert throttle.acquire("k", cost=1, rate=0.1, should_stop=lambda: True) is False
