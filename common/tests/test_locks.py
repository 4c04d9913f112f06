"""The periodic jobs' lock: one run at a time, a lease renewed while a run goes on, lapsing after a killed run."""

from __future__ import annotations

import threading
import time

from django.core.cache import cache

from common.locks import SKIPPED, lock_key, periodic_lock


def test_a_second_run_is_skipped_while_the_first_holds_the_lock(settings):
    started, release = threading.Event(), threading.Event()

    @periodic_lock("test.overlap", lease=5)
    def job():
        started.set()
        release.wait(5)
        return {"done": 1}

    results = []
    first = threading.Thread(target=lambda: results.append(job()))
    first.start()
    assert started.wait(5)
    assert job() == SKIPPED
    release.set()
    first.join(5)
    assert results == [{"done": 1}]
    assert cache.get(lock_key("test.overlap")) is None  # released by its owner
    assert job() == {"done": 1}


def test_a_long_run_keeps_its_lease_and_a_killed_one_lapses_soon():
    @periodic_lock("test.long", lease=1)
    def long_job():
        time.sleep(2.2)  # past two leases: renewed meanwhile
        return {"ok": True}

    results = []
    runner = threading.Thread(target=lambda: results.append(long_job()))
    runner.start()
    time.sleep(1.5)
    assert cache.get(lock_key("test.long")) is not None  # still held past its first lease
    runner.join(5)
    assert results == [{"ok": True}]

    # A run that died holding the lock (nobody renews it): the next run goes once the lease is over.
    cache.add(lock_key("test.long"), "a-killed-run", 1)
    assert long_job.__wrapped__ and periodic_lock("test.long", lease=1)(lambda: 1)() == SKIPPED
    time.sleep(1.2)
    assert periodic_lock("test.long", lease=1)(lambda: {"ran": 1})() == {"ran": 1}
