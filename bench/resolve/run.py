"""Resolution benchmark: unknown outcomes resolved per second (ask the gateway, then act once).

    DATABASE_URL=postgres://… REDIS_URL=redis://…/N python bench/resolve/run.py [--messages 2000]

A Twilio-compatible server (``gateways.fake_twilio``) runs in its own process,
answering after 200 ms (``--latency``). A campaign of N messages is sent
through the real dispatch (``messages_send_batch``, in this process) while the
server cuts every connection: the first share (``--found``, seeded) after
creating the message, the rest before. So every message ends ``unknown``, as a
real fault leaves them, and about half exist at the gateway. Not timed.

Timed: ``unknown_outcomes_resolve`` runs (``SENDING_RESOLVE_BATCH`` a run, lookups on
``SENDING_RESOLVE_CONCURRENCY`` threads, the settings' defaults) with ``now``
past the grace period, until none is due: found ones take the gateway's SID,
the others go back to ``pending`` and their send batches are enqueued. Each run
is split where the answers are all in (lookups / matching and recording).

The ceiling, in the same run: a pool of as many threads making the same two
``client.messages.list`` calls per message (twilio-python on the gateway's HTTP
client, no gateway code around it) against the same server in the same state,
right before and right after the timed runs; the better of the two counts.
Then a real Celery worker sends the resends, and the bench checks that every
message carries the SID of the one message the gateway created for its number,
and that no number got two. The send rate is quoted from ``bench/send`` (not
run here). Runs on ``<database>_resolve`` (its tables are truncated) and
flushes the Redis db it is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import bench_campaign, bench_database_url, django_setup, ensure_database  # noqa: E402

ACCOUNT_SID = "AC" + "6" * 32
AUTH_TOKEN = "bench-auth-token"  # noqa: S105 - the fake server's made-up account
SENDER = "+14155550000"
#: bench/send's figure at 200 ms (docs/benchmarks.md, table row "send, end to end"), quoted, not measured here.
SEND_RATE_QUOTED = "696 msg/s at 200 ms (bench/send, 3,000 messages, 2 worker processes; docs/benchmarks.md)"

# The server answers one JSON command a line on stdin with one JSON line on stdout.
SERVER = """
import json, sys
sys.path.insert(0, {root!r})
from gateways.fake_twilio import FakeTwilio
fake = FakeTwilio(accounts={{{sid!r}: {token!r}}}, latency={latency}).start()
fake.requests = type("Discard", (list,), {{"append": lambda self, item: None}})()  # keep no history
print(fake.base_url, flush=True)
for line in sys.stdin:
    command, *args = json.loads(line)
    if command == "inject":
        fake.inject(args[0], **args[1])
        answer = "ok"
    elif command == "clear":
        fake.clear_faults()
        answer = "ok"
    elif command == "created":
        answer = [[m["sid"], m["to"]] for m in fake.created()]
    print(json.dumps(answer), flush=True)
"""


class Server:
    def __init__(self, latency: float) -> None:
        code = SERVER.format(root=str(ROOT), sid=ACCOUNT_SID, token=AUTH_TOKEN, latency=latency)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.base_url = self.proc.stdout.readline().strip()

    def ask(self, *command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


def start_worker(env: dict) -> subprocess.Popen:
    log = tempfile.NamedTemporaryFile(prefix="bench-resolve-worker-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool=prefork", "--concurrency=1",
           "--loglevel=WARNING", "--without-gossip", "--without-mingle", "-n", "bench-resolve@%h"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log.name
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def prepare(n: int):
    """Tenant (quiet hours off), contacts, a campaign fanned out: ``n`` pending messages."""
    return bench_campaign(
        n=n, slug="bench-resolve", name="Bench resolve", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, sender=SENDER
    )


def seed_unknown(campaign, server: Server, found_share: float) -> None:
    """Send every message through the dispatch while the server cuts every connection: all end unknown."""
    from django.db.models import Count

    from campaigns.models import Message
    from campaigns.sending.dispatch import messages_send_batch

    server.ask("inject", "cut_after", {"rate": found_share, "seed": 13})
    server.ask("inject", "cut_before", {})  # every request cut_after did not take
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    messages_send_batch(message_ids=ids)
    server.ask("clear")
    statuses = dict(
        Message.objects.filter(campaign=campaign).values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    if statuses != {"unknown": len(ids)}:
        raise SystemExit(f"seeding left {statuses}, not {len(ids)} unknown")


def timed_resolve(now: dt.datetime) -> tuple[float, list[tuple], dict]:
    """``unknown_outcomes_resolve`` until nothing is due; each run's (asked, total s, lookups s), and the totals."""
    from campaigns.sending import resolution

    match = resolution._match
    answers_in: list[float] = []

    def timed_match(answers):  # called once a run, when every answer is in
        answers_in.append(time.perf_counter())
        return match(answers)

    resolution._match = timed_match
    runs: list[tuple] = []
    totals = {"asked": 0, "found": 0, "resent": 0, "waiting": 0, "errors": 0, "gave_up": 0}
    try:
        start = time.perf_counter()
        while True:
            begun = time.perf_counter()
            result = resolution.unknown_outcomes_resolve(now=now)
            if not result.asked:
                break
            runs.append((result.asked, time.perf_counter() - begun, answers_in[-1] - begun))
            for name in totals:
                totals[name] += getattr(result, name)
        elapsed = time.perf_counter() - start
    finally:
        resolution._match = match
    return elapsed, runs, totals


def bare_lookups(base_url: str, tos: list[str], since: dt.datetime, threads: int) -> float:
    """The resolver's two list calls per number with twilio-python alone, ``threads`` at a time: numbers/s."""
    from twilio.rest import Client

    from gateways.twilio import LOOKUP_LIMIT, LOOKUP_NEWEST, BaseUrlHttpClient

    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=BaseUrlHttpClient(base_url, timeout=10, pool_maxsize=threads))
    client.messages  # noqa: B018 - import twilio's REST modules before the clock starts

    def lookup(to: str) -> None:
        client.messages.list(to=to, from_=SENDER, date_sent_after=since, page_size=50, limit=LOOKUP_LIMIT)
        client.messages.list(to=to, from_=SENDER, page_size=LOOKUP_NEWEST, limit=LOOKUP_NEWEST)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter()
        for _ in pool.map(lookup, tos):
            pass
        elapsed = time.perf_counter() - start
    return len(tos) / elapsed


def wait_resends(campaign, timeout: float = 120) -> float:
    from campaigns.models import Message

    start = time.perf_counter()
    while Message.objects.filter(campaign=campaign, status__in=["pending", "sending", "unknown"]).exists():
        if time.perf_counter() - start > timeout:
            raise SystemExit("the resends were not sent in time: see /tmp/bench-resolve-worker-*.log")
        time.sleep(0.1)
    return time.perf_counter() - start


def verify(campaign, created: list[list[str]], found_at_seed: set[str]) -> list[str]:
    """Every number got exactly one message at the gateway, and its message carries that message's SID."""
    from collections import Counter

    from django.db.models import Count

    from campaigns.models import Message, MessageCheck

    problems = []
    per_to = Counter(to for _sid, to in created)
    sid_of = {to: sid for sid, to in created}
    rows = list(Message.objects.filter(campaign=campaign).values_list("id", "to", "sid", "status", "resends"))
    doubles = sum(1 for n in per_to.values() if n > 1)
    if doubles:
        problems.append(f"{doubles} number(s) got more than one message")
    if set(per_to) != {to for _id, to, *_ in rows}:
        problems.append(f"{len(set(per_to) ^ {to for _id, to, *_ in rows})} number(s) got no message, or a stranger")
    wrong = sum(1 for _id, to, sid, _st, _r in rows if sid != sid_of.get(to))
    if wrong:
        problems.append(f"{wrong} message(s) carry a SID other than their number's gateway message")
    not_queued = sum(1 for *_, status, _r in rows if status != "queued")
    if not_queued:
        problems.append(f"{not_queued} message(s) not queued")
    resent_wrongly = sum(1 for _id, to, _sid, _st, resends in rows if (to in found_at_seed) == bool(resends))
    if resent_wrongly:
        problems.append(f"{resent_wrongly} message(s) resent although found, or found although never created")
    checks = dict(MessageCheck.objects.values("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
    if checks != {"found": len(found_at_seed), "not_found": len(rows) - len(found_at_seed)}:
        problems.append(f"the check history {checks} does not match the seeded faults")
    return problems


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Unknown outcomes resolved per second against the local server.")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="the server's answer delay, seconds")
    parser.add_argument("--found", type=float, default=0.5, help="share of sends cut after the message was created")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        sys.exit("Set REDIS_URL (cache, resolver lock and Celery broker; this db is flushed).")
    url = bench_database_url("resolve")
    ensure_database(url)
    server = Server(args.latency)
    settings_env = {
        "SMS_GATEWAY": "twilio",
        "TWILIO_API_BASE_URL": server.base_url,
        "SENDING_THROTTLE_ENABLED": "0",
        "CELERY_BROKER_URL": redis_url,
        "LOG_LEVEL": "ERROR",  # the seeding's cut connections are expected
    }
    os.environ.update(settings_env)
    django_setup(url)
    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Min

    from campaigns.models import Message

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        **settings_env,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
    threads = settings.SENDING_RESOLVE_CONCURRENCY
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the finally blocks stop the children
    worker = None
    try:
        campaign = prepare(args.messages)
        seed_unknown(campaign, server, args.found)
        created_at_seed = server.ask("created")
        found_at_seed = {to for _sid, to in created_at_seed}
        tos = list(Message.objects.filter(campaign=campaign).order_by("id").values_list("to", flat=True))
        first_claim = Message.objects.filter(campaign=campaign).aggregate(at=Min("claimed_at"))["at"]
        since = first_claim - dt.timedelta(seconds=settings.SENDING_UNKNOWN_CLOCK_SKEW)
        ceilings = [bare_lookups(server.base_url, tos, since, threads)]
        before = load()
        # Past the grace period of the last claim: a message not found is resent, none waits.
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.SENDING_UNKNOWN_GRACE_SECONDS + 1)
        elapsed, runs, totals = timed_resolve(now)
        loads = f"{before} → {load()}"
        ceilings.append(bare_lookups(server.base_url, tos, since, threads))
        worker = start_worker(env)
        resend_wait = wait_resends(campaign)
        problems = verify(campaign, server.ask("created"), found_at_seed)
    finally:
        if worker is not None:
            stop(worker)
        stop(server.proc)

    rate = totals["asked"] / elapsed
    bare = max(ceilings)
    bound = threads / (2 * args.latency)
    lookups_s = sum(r[2] for r in runs)
    print(
        f"resolution, {args.latency * 1000:.0f} ms gateway latency: {rate:,.1f} messages/s "
        f"({totals['asked']:,} unknown in {elapsed:.1f} s: {totals['found']:,} found, {totals['resent']:,} not found "
        f"and resent, {totals['waiting']} waiting, {totals['errors']} errors, {totals['gave_up']} given up; "
        f"{len(runs)} runs of <= {settings.SENDING_RESOLVE_BATCH}, {threads} lookup threads; {loads})"
    )
    for i, (asked, total, lookups) in enumerate(runs, 1):
        print(
            f"  run {i}: {asked:,} messages in {total:.2f} s: lookups {lookups:.2f} s "
            f"({asked / lookups:,.1f}/s), matching and recording {total - lookups:.2f} s "
            f"({(total - lookups) / asked * 1000:.2f} ms per message)"
        )
    print(
        f"ceiling, bare twilio-python lookups (2 list calls per number, {threads} threads): {bare:,.1f} numbers/s "
        f"(before and after the timed runs: {ceilings[0]:,.1f}, {ceilings[1]:,.1f}; the better counts; "
        f"{threads} threads / (2 x {args.latency * 1000:.0f} ms) = {bound:,.0f}/s at most)"
    )
    print(f"ratio: {rate / bare:.0%} of the bare lookups (lookups alone in the resolver: "
          f"{totals['asked'] / lookups_s / bare:.0%})")  # fmt: skip
    print(f"send rate, for comparison: {SEND_RATE_QUOTED}, quoted, not measured in this run")
    print(f"resends sent by a Celery worker in {resend_wait:.1f} s after it was started (boot included)")
    if problems:
        print("CHECK FAILED: " + "; ".join(problems))
        sys.exit(1)
    print(
        f"check: {len(found_at_seed):,} found with the gateway's SID, {args.messages - len(found_at_seed):,} resent "
        f"and sent once; {args.messages:,} numbers, each with exactly one message at the gateway, carrying its SID"
    )


if __name__ == "__main__":
    main()
