"""Exactly once under faults: every case of faults.cases against one private stack.

Real Celery workers and beat, PostgreSQL and Redis of their own (devservices),
the local Twilio-compatible server. One stack for the module, reset between
cases (faults cleared, every piece up, a new tenant and campaign per case).
Nothing here skips: a missing piece is a failure, under CI or not.
"""

from __future__ import annotations

import os
import time

import pytest

from faults.cases import CASES
from faults.harness import Stack

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def stack():
    stack = Stack(keep_dir=bool(os.environ.get("FAULTS_KEEP_DIR")))  # keep the workers' and beat's logs
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_every_recipient_gets_exactly_one_message(stack, case):
    stack.reset()
    result = case(stack)
    report = result.summary()
    assert result.fault_hit, f"the fault struck after the campaign had nothing left to do: nothing tested\n{report}"
    assert result.doubles == 0, report
    assert result.missing == 0, report
    assert result.created_once == result.recipients, report
    assert result.status == "sent", report
    assert result.leftover == {}, report
    assert result.seconds_to_finish is not None, report


def test_supervisor_restarts_a_worker_that_died_on_its_own(stack):
    """A worker that exits without the case killing it (Celery's consumer can die of a broker cut) is started
    again, as compose's ``restart: unless-stopped`` would, and the restart is on record for the case's report."""
    stack.reset()
    before = len(stack.restarts)
    worker = stack.workers[0]
    os.kill(worker.proc.pid, 9)  # the main process only: as if it had exited on its own
    assert stack.wait_until(lambda: len(stack.restarts) > before, timeout=30, interval=0.1), "no restart"
    assert "worker exited on its own" in stack.restarts[before]
    assert stack.workers and stack.workers[0] is not worker and stack.workers[0].alive()
    stack.kill_workers()  # one the case kills on purpose stays down until the case starts it
    time.sleep(2)
    assert stack.workers == [] and len(stack.restarts) == before + 1
    stack.start_workers()
