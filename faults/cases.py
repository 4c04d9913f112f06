"""The fault cases: each sends one fresh campaign through the stack, breaks something, and counts.

A case takes a running ``Stack`` (reset between cases), seeds a new tenant with
its own contacts and campaign, injects its fault, and returns a ``CaseResult``:
how many recipients got exactly one message at the gateway, how many two or
more (doubles), how many none (missing), and how long after the fault ended the
campaign reached ``sent`` with no message left pending, sending or unknown.

"After the fault" is the moment everything is healthy again: the killed worker
restarted, the gateway answering normally, the restarted service up, beat back.
For the baseline it is the moment ``send`` returned.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .harness import NOT_FINAL, Stack

RECIPIENTS = 300
RATE = 100.0  # messages per second per sender: a campaign takes ~3 s, long enough to be hit mid-way
FINISH_TIMEOUT = 60.0  # seconds after the fault
_numbers = itertools.count(0, 10_000)


@dataclass
class CaseResult:
    name: str
    recipients: int
    created_once: int
    doubles: int
    missing: int
    seconds_to_finish: float | None  # after the fault; None: not finished within FINISH_TIMEOUT
    status: str | None
    leftover: dict[str, int]  # messages still pending/sending/unknown at the end
    fault_hit: bool  # the fault struck while there was still work to do
    notes: list[str] = field(default_factory=list)
    error: str = ""  # the harness itself failed (a piece would not start, the agent crashed)

    @classmethod
    def failed(cls, name: str, exc: BaseException) -> CaseResult:
        text = f"{type(exc).__name__}: {exc}"
        return cls(name, 0, 0, 0, 0, None, None, {}, False, notes=[text[-2000:]], error=text)

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.fault_hit
            and self.doubles == 0
            and self.missing == 0
            and self.created_once == self.recipients
            and self.status == "sent"
            and not self.leftover
            and self.seconds_to_finish is not None
        )

    def summary(self) -> str:
        if self.error:
            return f"{self.name}: harness error: {self.error[-2000:]}"
        finish = "not finished" if self.seconds_to_finish is None else f"finished {self.seconds_to_finish:.1f} s after"
        return (
            f"{self.name}: {self.created_once}/{self.recipients} once, {self.doubles} doubles, {self.missing} missing, "
            f"{finish}, campaign {self.status}, leftover {self.leftover or 'none'}"
            + ("" if self.fault_hit else ", FAULT MISSED")
            + "".join(f"\n  {n}" for n in self.notes)
        )


class Run:
    """One case's campaign: a new tenant (the fake knows its account), its contacts, a draft campaign."""

    def __init__(self, stack: Stack, name: str, recipients: int = RECIPIENTS, rate: float = RATE) -> None:
        self.stack = stack
        self.name = name
        seeded = stack.agent(
            "seed", "--contacts", str(recipients), "--first-number", str(next(_numbers)), "--rate", str(rate),
            "--label", name.replace("_", "-"), "--cancel-others",
        )  # fmt: skip
        self.campaign_id: int = seeded["campaign"]
        self.account_sid: str = seeded["account_sid"]
        self.recipients: list[str] = seeded["recipients"]
        stack.add_account(self.account_sid, seeded["auth_token"])
        self.notes: list[str] = []
        self._restarts_before = len(stack.restarts)

    def send(self) -> dict:
        answer = self.stack.agent("send", "--campaign", str(self.campaign_id))
        if answer.get("outcome") != "ok":
            self.notes.append(f"send raised {answer.get('error')} (campaign {answer.get('status')})")
        return answer

    def created(self) -> int:
        return sum(self.stack.created_by_to(self.account_sid).values())

    def wait_created(self, fraction: float, timeout: float = 30) -> bool:
        """Until ``fraction`` of the recipients have their message at the gateway."""
        target = max(1, int(len(self.recipients) * fraction))
        return self.stack.wait_until(lambda: self.created() >= target, timeout, interval=0.01)

    def done(self) -> bool:
        if self.stack.campaign_status(self.campaign_id) != "sent":
            return False
        counts = self.stack.message_counts(self.campaign_id)
        return counts is not None and not any(counts.get(s) for s in NOT_FINAL)

    def finish(self, *, fault_end: float, fault_hit: bool = True, settle: float = 1.0) -> CaseResult:
        """Wait for the campaign to finish, then count what the gateway created."""
        finished = self.stack.wait_until(self.done, FINISH_TIMEOUT, interval=0.1)
        seconds = time.monotonic() - fault_end if finished else None
        time.sleep(settle)  # a late request (a stalled one, a resend) would show up now
        by_to = self.stack.created_by_to(self.account_sid)
        counts = self.stack.message_counts(self.campaign_id) or {}
        leftover = {s: counts[s] for s in NOT_FINAL if counts.get(s)}
        notes = list(self.notes) + self.stack.restarts[self._restarts_before :]
        if not finished:
            notes.append(f"messages by status at the timeout: {dict(sorted(counts.items()))}")
            notes.append(f"locks held in Redis (seconds to live): {self.stack.redis_locks() or 'none'}")
            notes.extend(self.stack.log_lines("ERROR", "CRITICAL", "had stalled", "Connected to", limit=5))
            if self.stack.keep_dir:
                notes.append(f"logs in {self.stack.workdir}")
        return CaseResult(
            name=self.name,
            recipients=len(self.recipients),
            created_once=sum(1 for n in self.recipients if by_to[n] == 1),
            doubles=sum(1 for n in self.recipients if by_to[n] > 1),
            missing=sum(1 for n in self.recipients if by_to[n] == 0),
            seconds_to_finish=None if seconds is None else round(seconds, 1),
            status=self.stack.campaign_status(self.campaign_id),
            leftover=leftover,
            fault_hit=fault_hit,
            notes=notes,
        )


# --- the cases ---------------------------------------------------------------------------------


def baseline(stack: Stack) -> CaseResult:
    """No fault: the harness itself must count every recipient once."""
    run = Run(stack, "baseline")
    run.send()
    return run.finish(fault_end=time.monotonic())


def kill_during_fanout(stack: Stack) -> CaseResult:
    """SIGKILL the worker while the fan-out is materialising messages (some chunks committed, not all)."""
    run = Run(stack, "kill_during_fanout", recipients=500)
    stack.kill_workers()
    run.send()  # the fan-out task waits in the broker
    stack.start_workers()
    hit = stack.wait_until(
        lambda: (stack.message_counts(run.campaign_id) or {}) and stack.fanned_out(run.campaign_id) is False,
        timeout=20,
        interval=0.002,
    )
    stack.kill_workers()
    counts = stack.message_counts(run.campaign_id) or {}
    hit = bool(hit) and stack.fanned_out(run.campaign_id) is False
    run.notes.append(f"killed with {sum(counts.values())} of {len(run.recipients)} messages materialised")
    time.sleep(1)
    stack.start_workers()
    return run.finish(fault_end=time.monotonic(), fault_hit=hit)


def _kill_during_sends(fraction: float) -> Callable[[Stack], CaseResult]:
    def case(stack: Stack) -> CaseResult:
        run = Run(stack, f"kill_sends_{round(fraction * 100)}pct")
        run.send()
        run.wait_created(fraction)
        stack.kill_workers()
        at_kill = run.created()
        run.notes.append(f"killed with {at_kill} of {len(run.recipients)} created")
        time.sleep(1)
        stack.start_workers()
        return run.finish(fault_end=time.monotonic(), fault_hit=at_kill < len(run.recipients))

    case.__name__ = f"kill_sends_{round(fraction * 100)}pct"
    case.__doc__ = f"SIGKILL the worker once {fraction:.0%} of the messages exist at the gateway; restart it 1 s later."
    return case


kill_sends_10pct = _kill_during_sends(0.10)
kill_sends_50pct = _kill_during_sends(0.50)
kill_sends_90pct = _kill_during_sends(0.90)


def _gateway_fault(kind: str, *, rate: float | None, seconds: float, stall: float = 0.0, settle: float = 1.0):
    def case(stack: Stack) -> CaseResult:
        run = Run(stack, f"gateway_{kind}")
        stack.inject(kind, rate=rate, stall=stall, seed=7)
        requests_before = len(stack.fake.sends())
        run.send()
        started = stack.wait_until(lambda: len(stack.fake.sends()) > requests_before, 20, interval=0.01)
        time.sleep(seconds)
        stack.clear_faults()
        fault_end = time.monotonic()
        hit = bool(started) and run.created() < len(run.recipients)
        result = run.finish(fault_end=fault_end, fault_hit=hit, settle=settle)
        requests = sum(1 for r in stack.fake.sends() if r.account_sid == run.account_sid)
        result.notes.append(f"{requests} create requests for {result.recipients} recipients")
        return result

    case.__name__ = f"gateway_{kind}"
    share = "every request" if rate is None else f"{rate:.0%} of requests"
    case.__doc__ = f"The gateway's {kind} on {share} for the first {seconds:g} s of sending."
    return case


gateway_cut_before = _gateway_fault("cut_before", rate=0.1, seconds=2.0)
gateway_cut_after = _gateway_fault("cut_after", rate=0.1, seconds=2.0)
gateway_error_500 = _gateway_fault("error_500", rate=None, seconds=1.5)
gateway_error_503 = _gateway_fault("error_503", rate=None, seconds=1.5)
gateway_stall_before = _gateway_fault("stall_before", rate=0.2, seconds=2.0, stall=3.0, settle=3.5)
gateway_stall_after = _gateway_fault("stall_after", rate=0.2, seconds=2.0, stall=3.0, settle=3.5)


def kill_during_resolve(stack: Stack) -> CaseResult:
    """SIGKILL the worker while the resolver is asking the gateway about unknown outcomes (the gateway cut
    20% of connections after creating the message); restart it 1 s later."""
    run = Run(stack, "kill_during_resolve")
    stack.inject("cut_after", rate=0.2, seed=7)
    run.send()

    def resolving() -> bool:
        unknown = (stack.message_counts(run.campaign_id) or {}).get("unknown")
        return stack.lock_held("campaigns.unknown_resolve") and bool(unknown)

    hit = stack.wait_until(resolving, timeout=30, interval=0.002)
    stack.kill_workers()
    stack.clear_faults()
    counts = stack.message_counts(run.campaign_id) or {}
    run.notes.append(f"killed with {counts.get('unknown', 0)} unknown outcomes, {run.created()} created")
    time.sleep(1)
    stack.start_workers()
    return run.finish(fault_end=time.monotonic(), fault_hit=hit)


def kill_during_tick(stack: Stack) -> CaseResult:
    """SIGKILL the worker while the beat tick runs (its lock taken: reaping, the stall sweep) a third of the way
    in; restart it 1 s later. The campaign sends slower than the others (25 a second): at 100 a second a loaded
    machine finished it before a tick had taken its lock, and the fault missed."""
    run = Run(stack, "kill_during_tick", rate=25.0)  # ~12 s of sending: ticks get their turn between the sends
    run.send()
    run.wait_created(0.3)
    hit = stack.wait_until(lambda: stack.lock_held("campaigns.sending_tick"), timeout=10, interval=0.001)
    stack.kill_workers()
    at = run.created()
    run.notes.append(f"killed with {at} of {len(run.recipients)} created")
    time.sleep(1)
    stack.start_workers()
    return run.finish(fault_end=time.monotonic(), fault_hit=hit and at < len(run.recipients))


def redis_restart(stack: Stack) -> CaseResult:
    """Restart Redis (nothing on disk: every queued task is lost) a third of the way in."""
    run = Run(stack, "redis_restart")
    run.send()
    run.wait_created(0.3)
    at = run.created()
    stack.restart_redis()
    run.notes.append(f"restarted with {at} of {len(run.recipients)} created")
    return run.finish(fault_end=time.monotonic(), fault_hit=at < len(run.recipients))


def postgres_restart(stack: Stack) -> CaseResult:
    """Restart PostgreSQL (fast mode: every connection dropped) a third of the way in."""
    run = Run(stack, "postgres_restart")
    run.send()
    run.wait_created(0.3)
    at = run.created()
    stack.restart_postgres("fast")
    run.notes.append(f"restarted with {at} of {len(run.recipients)} created")
    return run.finish(fault_end=time.monotonic(), fault_hit=at < len(run.recipients))


def broker_down_at_send(stack: Stack) -> CaseResult:
    """Redis down when ``send`` is called (the campaign commits, its fan-out cannot be queued), back 2 s later."""
    run = Run(stack, "broker_down_at_send")
    stack.stop_redis()
    answer = run.send()
    run.notes.append(f"send with the broker down: {answer.get('outcome')}, campaign {answer.get('status')}")
    time.sleep(2)
    stack.start_redis()
    return run.finish(fault_end=time.monotonic(), fault_hit=answer.get("outcome") is not None)


def beat_stopped(stack: Stack) -> CaseResult:
    """Beat stopped and the worker killed 40% in (so only a sweep can finish the claimed messages);
    the worker comes back at once, beat 10 s later."""
    run = Run(stack, "beat_stopped")
    run.send()
    run.wait_created(0.4)
    stack.stop_beat()
    stack.kill_workers()
    at = run.created()
    run.notes.append(f"killed with {at} of {len(run.recipients)} created")
    time.sleep(1)
    stack.start_workers()
    time.sleep(10)
    stack.start_beat()
    return run.finish(fault_end=time.monotonic(), fault_hit=at < len(run.recipients))


CASES: list[Callable[[Stack], CaseResult]] = [
    baseline,
    kill_during_fanout,
    kill_sends_10pct,
    kill_sends_50pct,
    kill_sends_90pct,
    gateway_cut_before,
    gateway_cut_after,
    gateway_error_500,
    gateway_error_503,
    gateway_stall_before,
    gateway_stall_after,
    kill_during_resolve,
    kill_during_tick,
    redis_restart,
    postgres_restart,
    broker_down_at_send,
    beat_stopped,
]
