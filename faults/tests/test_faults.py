"""Exactly once under faults: every case of faults.cases against one private stack.

Real Celery workers and beat, PostgreSQL and Redis of their own (devservices),
the local Twilio-compatible server. One stack for the module, reset between
cases (faults cleared, every piece up, a new tenant and campaign per case).
Nothing here skips: a missing piece is a failure, under CI or not.
"""

from __future__ import annotations

import os

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
