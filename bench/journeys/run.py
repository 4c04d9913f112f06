"""Journeys benchmark: runs/s through a wait-and-send step (``journeys.engine.runs_advance``), memory per batch.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/journeys/run.py [--runs 100000] [--rounds 3]

Runs against ``<database>_journeys`` (created and migrated here; its tables are truncated). One tenant (quiet
hours always open), ``--runs`` contacts with consent granted, an active journey [wait 1 hour, send "Hi
{{first_name}}"] and one active run per contact parked at the wait step, due now (inserted in bulk by one
``INSERT … SELECT`` over the contacts). The clock runs over two calls of ``runs_advance`` (batches of
``JOURNEY_BATCH_SIZE``, no time budget): at T every run starts its wait (a ``StepRun``, due T + 1 h, on to the
send step); at T + 1 h every run sends (its ``Message`` through the pipeline's ``messages_for_runs``: suppression,
consent, cap, fraud guard, counters; a ``StepRun``) and completes. The send batches the engine enqueues on each
commit are counted, not put on the broker (``common.enqueue.task_send`` is stubbed): this measures the journey
engine, not the workers. Each batch's time and the process's RSS after it are kept, to show memory flat.

The ceiling, in the same run: the send pipeline's own fan-out (``campaigns.sending.fanout.messages_materialise``)
of a 100,000-recipient campaign with the same body to the same contacts, messages/s (the journey's send step does
the same per-row work, plus locking and moving the runs). Each is measured alone in a fresh child process (its
peak RSS its own), alternately ``--rounds`` times; the best of each is compared, every round's own ratio and the
load average printed beside it (the machine is shared). After each journey round it checks: exactly one message
per run (all pending, all handed to the sender), one ``StepRun`` per run and step, no run left due, every run
completed; exit 1 if not. ``--profile`` runs the journey child under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, contacts_copy, django_setup, ensure_database  # noqa: E402

SLUG = "bench-journeys"
BODY = "Hi {{first_name}}"
STEPS = [{"kind": "wait", "hours": 1}, {"kind": "send", "body": BODY}]
WAIT = dt.timedelta(hours=1)


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; not ``ru_maxrss``, which carries a parent's peak across fork+exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


# --- setup (also the smoke test's) -----------------------------------------------------------------------------


def setup(n: int) -> dict:
    """A clean slate, then the tenant, ``n`` consented contacts, the fan-out campaign, the journey (active) and
    its ``n`` runs parked at the wait step. Returns the ids the rounds need."""
    from django.db import connection

    from campaigns.models import Campaign, CampaignStatus
    from journeys.models import TriggerKind
    from journeys.services import journey_create, journey_set_status
    from tenants.models import Tenant

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE journeys_steprun, journeys_journeyrun, journeys_journeystep, journeys_journeyversion, "
            "journeys_journey, campaigns_message, links_shortlink, campaigns_messagestatuscount, "
            "campaigns_campaign, contacts_contact, compliance_suppression CASCADE"
        )
    tenant, _ = Tenant.objects.update_or_create(
        slug=SLUG,
        defaults={"name": "Bench journeys", "twilio_account_sid": "AC" + "j" * 32, "sender": "+14155550000"},
    )
    # Quiet hours always open (as campaigns.tests.conftest.always_open): measure the machine, whatever the hour.
    tenant.quiet_hours_start, tenant.quiet_hours_end = dt.time(0), dt.time(23, 59, 59, 999999)
    tenant.legal_quiet_hours = False
    tenant.save(update_fields=["quiet_hours_start", "quiet_hours_end", "legal_quiet_hours"])
    contacts_copy(tenant.pk, n)
    campaign = Campaign.objects.create(tenant=tenant, name="Bench fan-out", body=BODY, status=CampaignStatus.SENDING)
    journey = journey_create(
        tenant=tenant, name="Wait and send", trigger_kind=TriggerKind.EVENT, trigger_value="bench", steps=STEPS
    )
    journey = journey_set_status(journey=journey, status="active")
    wait, send = list(journey.versions.get().steps.order_by("position"))
    assert wait.kind == "wait" and send.kind == "send" and send.campaign_id
    ids = {
        "tenant": tenant.pk,
        "campaign": campaign.pk,
        "journey": journey.pk,
        "version": wait.version_id,
        "wait": wait.pk,
        "send": send.pk,
        "carrier": send.campaign_id,
        "n": n,
    }
    runs_insert(ids, t0=_t0())
    return ids


def _t0() -> dt.datetime:
    from django.utils import timezone

    return timezone.now().replace(microsecond=0)


def runs_insert(ids: dict, *, t0: dt.datetime) -> None:
    """One active run per contact, at the wait step, entered and due at ``t0``: one INSERT … SELECT."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO journeys_journeyrun (tenant_id, journey_id, version_id, contact_id, status, step_id, due_at, "
            "context, source, entered_at, exit_reason) "
            "SELECT tenant_id, %s, %s, id, 'active', %s, %s, '{}', 'bench:' || id, %s, '' "
            "FROM contacts_contact WHERE tenant_id = %s ORDER BY id",
            [ids["journey"], ids["version"], ids["wait"], t0, t0, ids["tenant"]],
        )
        cur.execute("ANALYZE journeys_journeyrun")
    ids["t0"] = t0.isoformat()


def reset(ids: dict) -> None:
    """Undo a round (messages, links, counters, step records, runs) so the next starts from the same contacts."""
    from django.db import connection

    from campaigns.models import Campaign
    from journeys.models import JourneyStep

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE journeys_steprun, journeys_journeyrun, campaigns_message, links_shortlink, "
            "campaigns_messagestatuscount CASCADE"
        )
    Campaign.objects.filter(pk=ids["campaign"]).update(fanned_out_at=None)
    JourneyStep.objects.filter(pk__in=[ids["wait"], ids["send"]]).update(entered=0, exited=0)
    runs_insert(ids, t0=_t0())


# --- the two measured things, each alone in its process ----------------------------------------------------------


def fanout_measure(ids: dict) -> dict:
    """The ceiling: the send pipeline's fan-out of the campaign (same body, same contacts)."""
    from campaigns.sending.fanout import messages_materialise

    start = time.perf_counter()
    result = messages_materialise(campaign_id=ids["campaign"], on_pending=lambda c, pending: None)
    return {"created": result.created, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


class _Batches:
    """Wraps ``journeys.engine._advance_batch`` (the engine is not edited): each batch's runs, seconds and the
    RSS after it; with ``trace``, tracemalloc's peak within the batch too."""

    def __init__(self, trace: bool) -> None:
        import journeys.engine as engine

        self.engine, self.original, self.trace, self.rows = engine, engine._advance_batch, trace, []

    def __enter__(self):
        def timed(now, size, result):
            if self.trace:
                import tracemalloc

                tracemalloc.reset_peak()
            start = time.perf_counter()
            n = self.original(now, size, result)
            seconds = time.perf_counter() - start
            if n:
                row = {"runs": n, "seconds": seconds, "rss_mb": rss_mb()}
                if self.trace:
                    import tracemalloc

                    current, peak = tracemalloc.get_traced_memory()
                    row |= {"traced_mb": current / 2**20, "traced_peak_mb": peak / 2**20}
                self.rows.append(row)
            return n

        self.engine._advance_batch = timed
        return self

    def __exit__(self, *exc) -> None:
        self.engine._advance_batch = self.original


class _Sender:
    """Stands in for the broker (``common.enqueue.task_send``): counts the send batches and their message ids."""

    def __init__(self) -> None:
        import common.enqueue as enqueue

        self.enqueue, self.original, self.tasks, self.ids = enqueue, enqueue.task_send, 0, set()

    def __enter__(self):
        def count(name, *, args=(), kwargs=None, **options):
            self.tasks += 1
            self.ids.update((kwargs or {}).get("message_ids", ()))

        self.enqueue.task_send = count
        return self

    def __exit__(self, *exc) -> None:
        self.enqueue.task_send = self.original


def journey_measure(ids: dict, *, batch_size: int | None = None, trace: bool = False, sender=None) -> dict:
    """The measured thing: ``runs_advance`` at T (every run starts its wait) and at T + 1 h (every run sends).
    ``sender``: a ``_Sender`` the caller has entered (a test whose commits come after this returns)."""
    import contextlib

    from django.conf import settings

    from journeys.engine import runs_advance

    t0 = dt.datetime.fromisoformat(ids["t0"])
    size = batch_size or settings.JOURNEY_BATCH_SIZE
    out: dict = {"batch_size": size, "rss_start_mb": rss_mb()}
    if trace:
        import tracemalloc

        tracemalloc.start()
    own = sender is None
    sender = sender or _Sender()
    with sender if own else contextlib.nullcontext(), _Batches(trace) as batches:
        start = time.perf_counter()
        waited = runs_advance(now=t0, batch_size=size, budget=1e9)
        mid = time.perf_counter()
        sent = runs_advance(now=t0 + WAIT, batch_size=size, budget=1e9)
        end = time.perf_counter()
    if trace:
        import tracemalloc

        tracemalloc.stop()
    split = waited.batches
    out |= {
        "wait_seconds": mid - start,
        "send_seconds": end - mid,
        "seconds": end - start,
        "wait_steps": waited.steps,
        "send_steps": sent.steps,
        "messages": sent.messages,
        "completed": sent.completed,
        "exited": waited.exited + sent.exited,
        "enqueued_tasks": sender.tasks,
        "enqueued_ids": len(sender.ids),
        "wait_batches": batches.rows[:split],
        "send_batches": batches.rows[split:],
        "peak_rss_mb": peak_rss_mb(),
    }
    return out


def counts_check(ids: dict, *, enqueued_ids: int) -> list[str]:
    """What must hold after a journey round; the failures, worded (empty when all hold)."""
    from campaigns.models import Message, MessageStatus
    from journeys.models import JourneyRun, JourneyStep, RunStatus, StepRun

    n = ids["n"]
    later = dt.datetime.fromisoformat(ids["t0"]) + WAIT
    messages = Message.objects.filter(campaign_id=ids["carrier"])
    got = {
        "messages": messages.count(),
        "pending messages": messages.filter(status=MessageStatus.PENDING).count(),
        "runs with a message": messages.values("run_id").distinct().count(),
        "messages handed to the sender": enqueued_ids,
        "wait step records": StepRun.objects.filter(step_id=ids["wait"]).count(),
        "send step records (sent)": StepRun.objects.filter(step_id=ids["send"], outcome="sent").count(),
        "send step records with their message": StepRun.objects.filter(
            step_id=ids["send"], message_id__isnull=False
        ).count(),
        "runs completed": JourneyRun.objects.filter(journey_id=ids["journey"], status=RunStatus.COMPLETED).count(),
        "wait step entered": JourneyStep.objects.get(pk=ids["wait"]).entered,
        "send step entered": JourneyStep.objects.get(pk=ids["send"]).entered,
    }
    failures = [f"{name}: {value:,}, not {n:,}" for name, value in got.items() if value != n]
    due = JourneyRun.objects.filter(journey_id=ids["journey"], status=RunStatus.ACTIVE, due_at__lte=later).count()
    if due:
        failures.append(f"runs still due: {due:,}, not 0")
    return failures


# --- the report --------------------------------------------------------------------------------------------------


def memory_summary(rows: list[dict], key: str = "rss_mb") -> str:
    """The batches' memory, first 10 against last 10 (mean and max), and the largest step up between batches."""
    if not rows:
        return "no batches"
    first, last = [r[key] for r in rows[:10]], [r[key] for r in rows[-10:]]
    growth = [b[key] - a[key] for a, b in zip(rows, rows[1:], strict=False)]
    return (
        f"first 10 batches mean {sum(first) / len(first):.1f} MB (max {max(first):.1f}), "
        f"last 10 mean {sum(last) / len(last):.1f} MB (max {max(last):.1f}), "
        f"largest step up between two batches {max(growth, default=0):.1f} MB, over {len(rows)} batches"
    )


def memory_trail(rows: list[dict], key: str = "rss_mb") -> str:
    """The memory after the first batch, at each quarter of the pass, and after the last."""
    if not rows:
        return "no batches"
    marks = sorted({0, len(rows) // 4, len(rows) // 2, 3 * len(rows) // 4, len(rows) - 1})
    return ", ".join(f"#{i + 1} {rows[i][key]:.1f}" for i in marks) + " MB"


def batch_rates(rows: list[dict]) -> str:
    if not rows:
        return "-"
    first, last = rows[:10], rows[-10:]

    def rate(rs):
        return sum(r["runs"] for r in rs) / sum(r["seconds"] for r in rs)

    return f"first 10 batches {rate(first):,.0f} runs/s, last 10 {rate(last):,.0f} runs/s"


def child(kind: str, ids: dict, batch_size: int | None, trace: bool, profile: bool) -> None:
    if kind == "fanout":
        print(json.dumps(fanout_measure(ids)))
        return
    if not profile:
        print(json.dumps(journey_measure(ids, batch_size=batch_size, trace=trace)))
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    measured = profiler.runcall(journey_measure, ids, batch_size=batch_size, trace=trace)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    print(text.getvalue(), file=sys.stderr)
    print(json.dumps(measured))


def run_child(kind: str, ids: dict, url: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--ids", json.dumps(ids)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    cmd += ["--tracemalloc"] * args.tracemalloc + ["--profile"] * args.profile
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "BENCH_DATABASE_URL": url})
    if kind == "journey" and args.profile:
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="fan-out and journey alternately (best of each)")
    parser.add_argument("--batch-size", type=int, help="runs per batch (default: the JOURNEY_BATCH_SIZE setting)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations per batch (slow)")
    parser.add_argument("--profile", action="store_true", help="the journey child under cProfile (slow)")
    parser.add_argument("--json", help="write every round's figures, batch by batch, to this file")
    parser.add_argument("--child", choices=["fanout", "journey"], help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = bench_database_url("journeys")
    if args.child:
        django_setup(url)
        child(args.child, json.loads(args.ids), args.batch_size, args.tracemalloc, args.profile)
        return
    ensure_database(url)
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    n = args.runs
    start = time.perf_counter()
    ids = setup(n)
    print(f"setup: {n:,} contacts and {n:,} runs at the wait step in {time.perf_counter() - start:.1f} s; {load()}")
    if args.tracemalloc or args.profile:
        print("(tracemalloc / cProfile on: the rates below are slowed by them, not the ones to quote)")
    rounds, failed = [], False
    for r in range(args.rounds):
        if r:
            reset(ids)
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")
        fan = run_child("fanout", ids, url, args)
        with connection.cursor() as cur:
            cur.execute("TRUNCATE campaigns_message, links_shortlink, campaigns_messagestatuscount CASCADE")
            cur.execute("CHECKPOINT")
        jour = run_child("journey", ids, url, args)
        failures = counts_check(ids, enqueued_ids=jour["enqueued_ids"])
        failed |= bool(failures)
        rounds.append((fan, jour))
        fan_rate, jour_rate = fan["created"] / fan["seconds"], n / jour["seconds"]
        print(
            f"round {r + 1}: fan-out {fan['created']:,} in {fan['seconds']:.2f} s = {fan_rate:,.0f} msg/s, "
            f"peak RSS {fan['peak_rss_mb']:.0f} MB; journey {n:,} runs in {jour['seconds']:.2f} s "
            f"(wait {jour['wait_seconds']:.2f} s, send {jour['send_seconds']:.2f} s) = {jour_rate:,.0f} runs/s, "
            f"peak RSS {jour['peak_rss_mb']:.0f} MB; ratio {jour_rate / fan_rate:.0%}; {load()}"
        )
        print(f"  checks: {'; '.join(failures) if failures else 'passed'}")
        rows = jour["wait_batches"] + jour["send_batches"]
        print(f"  RSS per batch: {memory_summary(rows)}")
        print(
            f"  RSS after batch: wait pass {memory_trail(jour['wait_batches'])}; "
            f"send pass {memory_trail(jour['send_batches'])}"
        )
        if args.tracemalloc:
            print(f"  traced peak per batch: {memory_summary(rows, 'traced_peak_mb')}")
            print(f"  traced after each batch: {memory_summary(rows, 'traced_mb')}")
            print(
                f"  traced peak by pass: wait {memory_trail(jour['wait_batches'], 'traced_peak_mb')}; "
                f"send {memory_trail(jour['send_batches'], 'traced_peak_mb')}"
            )
        print(f"  wait pass: {batch_rates(jour['wait_batches'])}; send pass: {batch_rates(jour['send_batches'])}")
    if args.json:
        Path(args.json).write_text(json.dumps([{"fanout": f, "journey": j} for f, j in rounds], indent=1))
    best_fan = min((f for f, _j in rounds), key=lambda f: f["seconds"])
    best = min((j for _f, j in rounds), key=lambda j: j["seconds"])
    fan_rate = best_fan["created"] / best_fan["seconds"]
    rate = n / best["seconds"]
    send_rate = n / min(j["send_seconds"] for _f, j in rounds)
    wait_rate = n / min(j["wait_seconds"] for _f, j in rounds)
    ratios = sorted((n / j["seconds"]) / (f["created"] / f["seconds"]) for f, j in rounds)
    print(
        f"journey, best of {len(rounds)}: {n:,} runs through wait and send in {best['seconds']:.2f} s = "
        f"{rate:,.0f} runs/s (batches of {best['batch_size']}; wait pass alone {wait_rate:,.0f} runs/s, "
        f"send pass alone {send_rate:,.0f} runs/s, best rounds)"
    )
    print(
        f"journey memory: peak RSS {max(j['peak_rss_mb'] for _f, j in rounds):.0f} MB (highest round); "
        f"{memory_summary(best['wait_batches'] + best['send_batches'])}"
    )
    print(f"ceiling, fan-out of {best_fan['created']:,} recipients, best of {len(rounds)}: {fan_rate:,.0f} msg/s")
    print(
        f"ratio: {rate / fan_rate:.0%} of the fan-out's msg/s, best against best (send pass alone "
        f"{send_rate / fan_rate:.0%}); per round {', '.join(f'{x:.0%}' for x in ratios)}"
    )
    if failed:
        sys.exit("checks failed (see the rounds above)")


if __name__ == "__main__":
    main()
