"""Journeys exactly once under faults: each step's message once per contact, whatever breaks mid-journey.

A private stack (faults.harness.Stack: PostgreSQL, Redis, a prefork worker, beat, the local Twilio-compatible
server) with the journey tick every second. Each case seeds a new tenant whose contacts all get an API event
``signup``; the journey sends "One", waits 3 s, sends "Two". The fault strikes while the first messages go
out (or while the tick holds its batch); afterwards every contact must have exactly one "One" and one "Two" at
the gateway, every run completed, no message left pending, sending or unknown.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter

import pytest

from faults.harness import NOT_FINAL, Stack

pytestmark = pytest.mark.faults

CONTACTS = 120
RATE = 40.0  # the first step's messages take ~3 s: long enough to be hit mid-way
TIMEOUT = 60.0
_numbers = itertools.count(500_000, 10_000)


@pytest.fixture(scope="module")
def stack():
    stack = Stack(
        keep_dir=bool(os.environ.get("FAULTS_KEEP_DIR")),
        extra_env={"JOURNEY_TICK_SECONDS": "1", "JOURNEY_SETTLE_SECONDS": "1", "JOURNEY_BATCH_SIZE": "50"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


class JourneyRun:
    def __init__(self, stack: Stack, label: str) -> None:
        self.stack = stack
        seeded = stack.agent(
            "journey-seed", "--contacts", str(CONTACTS), "--first-number", str(next(_numbers)), "--rate", str(RATE),
            "--label", label,
        )  # fmt: skip
        self.journey = seeded["journey"]
        self.account_sid = seeded["account_sid"]
        self.recipients = seeded["recipients"]
        stack.add_account(self.account_sid, seeded["auth_token"])

    def created(self) -> Counter:
        """(recipient, step) → messages the gateway created for this tenant."""
        made = self.stack.fake.created()
        return Counter((m["to"], m["body"].split(":")[0]) for m in made if m.get("account_sid") == self.account_sid)

    def ones(self) -> int:
        return sum(n for (_to, step), n in self.created().items() if step == "One")

    def state(self) -> dict:
        rows = self.stack.query(
            "SELECT r.status, count(*) FROM journeys_journeyrun r WHERE r.journey_id = %s GROUP BY r.status",
            [self.journey],
        )
        msgs = self.stack.query(
            "SELECT m.status, count(*) FROM campaigns_message m JOIN journeys_journeystep s ON s.campaign_id = "
            "m.campaign_id JOIN journeys_journeyversion v ON v.id = s.version_id WHERE v.journey_id = %s "
            "GROUP BY m.status",
            [self.journey],
        )
        return {"runs": dict(rows or []), "messages": dict(msgs or [])}

    def done(self) -> bool:
        state = self.state()
        return (
            state["runs"].get("completed") == CONTACTS
            and sum(state["messages"].values()) == 2 * CONTACTS
            and not any(state["messages"].get(s) for s in NOT_FINAL)
        )

    def report(self) -> str:
        """The journey's runs and messages, what the gateway made of it, and the logs' last errors and warnings."""
        created = Counter(step for (_to, step), n in self.created().items() for _ in range(n))
        logs = self.stack.log_lines("ERROR", "CRITICAL", "WARNING", limit=8)
        return f"state {self.state()}; created {dict(created)}\n" + "\n".join(logs)

    def wait_started(self) -> None:
        """Until a third of the first step's messages are out (the fault strikes mid-step)."""
        started = self.stack.wait_until(lambda: self.ones() >= CONTACTS * 0.3, 60, interval=0.01)
        assert started, f"sending never started\n{self.report()}"

    def check(self, what: str) -> None:
        finished = self.stack.wait_until(self.done, TIMEOUT, interval=0.2)
        time.sleep(1.5)  # a late request (a resend, a stalled call) would show up now
        created = self.created()
        report = f"{what}: state {self.state()}; " + "; ".join(self.stack.log_lines("ERROR", "CRITICAL", limit=5))
        assert finished, f"the journey did not finish in {TIMEOUT:g} s after the fault\n{report}"
        for step in ("One", "Two"):
            doubles = [to for to in self.recipients if created[(to, step)] > 1]
            missing = [to for to in self.recipients if created[(to, step)] == 0]
            assert not doubles, f"{len(doubles)} contacts got {step!r} twice\n{report}"
            assert not missing, f"{len(missing)} contacts never got {step!r}\n{report}"


def test_worker_killed_mid_step_then_restarted(stack):
    stack.reset()
    run = JourneyRun(stack, "j-kill")
    run.wait_started()
    stack.kill_workers()
    at = run.ones()
    assert at < CONTACTS, "the step was over before the kill: nothing tested"
    time.sleep(1)
    stack.start_workers()
    run.check(f"killed with {at} of {CONTACTS} first messages out")


def test_worker_killed_while_the_tick_holds_its_batch(stack):
    stack.reset()
    stack.kill_workers()  # the events wait; the tick runs on the next worker
    run = JourneyRun(stack, "j-tick")
    stack.start_workers()
    hit = stack.wait_until(lambda: stack.lock_held("journeys.tick"), 20, interval=0.001)
    stack.kill_workers()
    assert hit, "the journey tick never ran"
    time.sleep(1)
    stack.drop_locks()  # the killed tick's lease (a production worker waits it out: PERIODIC_LOCK_LEASE_SECONDS)
    stack.start_workers()
    run.check("killed while the tick held its lock")


def test_gateway_connections_cut_mid_step(stack):
    stack.reset()
    stack.inject("cut_after", rate=0.15, seed=11)  # created, then the answer lost: unknown outcomes to resolve
    stack.inject("cut_before", rate=0.15, seed=12)  # nothing created, the connection dropped
    run = JourneyRun(stack, "j-cut")
    run.wait_started()
    time.sleep(1.5)
    stack.clear_faults()
    run.check("connections cut for the first seconds")


def test_redis_restarted_mid_step(stack):
    stack.reset()
    run = JourneyRun(stack, "j-redis")
    run.wait_started()
    at = run.ones()
    stack.restart_redis()  # every queued send batch is lost; the stall sweep and the tick bring them back
    assert at < CONTACTS
    run.check(f"Redis restarted with {at} of {CONTACTS} first messages out")


def test_postgres_restarted_mid_step(stack):
    stack.reset()
    run = JourneyRun(stack, "j-pg")
    run.wait_started()
    at = run.ones()
    stack.restart_postgres("fast")
    assert at < CONTACTS
    run.check(f"PostgreSQL restarted with {at} of {CONTACTS} first messages out")
