"""Benchmark: signed Twilio status callbacks against gunicorn on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/smsc_bench REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/webhooks/run.py

Makes a tenant and messages in the database named by DATABASE_URL (PostgreSQL;
migrated first), starts gunicorn on a free loopback port, and posts callbacks
signed with twilio's RequestValidator from 32 keep-alive connections (an asyncio
load generator). It alternates rounds of:

* ceiling: a bare Django view doing one UPDATE by SID (same gunicorn, same settings);
* webhook: ``POST /webhooks/twilio/status/`` (signature, history, forward-only move).

Each webhook round is a storm over fresh messages: every message gets ``sending``,
``sent`` and a final ``delivered`` (or ``undelivered`` with an error code), in a
shuffled order (late ``sent`` after ``delivered`` happens), plus some repeats.
Then it checks that every accepted callback is in the history, every message has
its final status and the campaign's counters equal a recount. It prints req/s,
p50 and p99 for both, and the ratio. Only 127.0.0.1 is targeted; every round is
bounded in requests and seconds. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402

PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # what Twilio would have signed (never called)
WEBHOOK_PATH = "/webhooks/twilio/status/"
CEILING_PATH = "/bench/ceiling/"


def _env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    env.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
    env.update(
        DEBUG="0",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="webhooks_bench_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
        LOG_LEVEL="WARNING",
        # Production settings, but the bench speaks plain HTTP to gunicorn (no TLS proxy in front).
        SECURE_SSL_REDIRECT="0",
    )
    # Every callback comes from 127.0.0.1: counted per address as in production, never refused.
    env.setdefault("WEBHOOK_THROTTLE", "100000000/min")
    # REDIS_URL is kept: the settings require it (the cache and the broker, as in production).
    env.pop("CELERY_BROKER_URL", None)
    env.pop("PYTEST_VERSION", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- data


def setup_data(*, messages_per_round: int, rounds: int):
    """A bench tenant with ``rounds + 1`` campaigns of fresh queued messages (the last one warms up)."""
    from campaigns.counters import counts_add
    from campaigns.models import Campaign, Message
    from tenants.models import Tenant

    tag = uuid.uuid4().hex[:8]
    tenant = Tenant.objects.create(
        name=f"Bench {tag}",
        slug=f"bench-webhooks-{tag}",
        twilio_account_sid="AC" + uuid.uuid4().hex,
        twilio_auth_token=uuid.uuid4().hex,
        sender="+14155550000",
    )
    campaigns = []
    for _ in range(rounds + 1):
        campaign = Campaign.objects.create(tenant=tenant, name=f"Bench {tag}", body="Bench", status="sent")
        Message.objects.bulk_create(
            [
                Message(
                    tenant=tenant,
                    campaign=campaign,
                    to=f"+1415{i:07d}",
                    body="Bench",
                    status="queued",
                    sid="SM" + uuid.uuid4().hex,
                )
                for i in range(messages_per_round)
            ],
            batch_size=2000,
        )
        counts_add(campaign_id=campaign.pk, deltas={"queued": messages_per_round})
        campaigns.append(campaign)
    return tenant, campaigns


def storm(tenant, campaign, rng: random.Random, window: int = 64) -> tuple[list[dict], dict[str, str]]:
    """Callbacks for every message of ``campaign`` (shuffled, some repeated) and each one's final status."""
    from campaigns.models import Message
    from tracking.services import status_callback_params

    callbacks: list[dict] = []
    finals: dict[str, str] = {}
    for sid, to in Message.objects.filter(campaign=campaign).values_list("sid", "to"):
        final = "undelivered" if rng.random() < 0.1 else "delivered"
        finals[sid] = final
        for status in ("sending", "sent", final):
            params = status_callback_params(
                sid=sid,
                status=status,
                account_sid=tenant.twilio_account_sid,
                to=to,
                error_code=30003 if status == "undelivered" else None,
                From="+14155550000",
            )
            if status == final:
                params["RawDlrDoneDate"] = "2611270830"
            callbacks.append(params)
    callbacks += rng.sample(callbacks, len(callbacks) // 20)  # Twilio repeats itself
    # Shuffle within windows: callbacks for one message arrive close together, in any order.
    for start in range(0, len(callbacks), window):
        chunk = callbacks[start : start + window]
        rng.shuffle(chunk)
        callbacks[start : start + window] = chunk
    return callbacks, finals


def encode(path: str, params: dict, token: str) -> bytes:
    from twilio.request_validator import RequestValidator

    body = urlencode(params).encode()
    signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\nUser-Agent: TwilioProxy/1.1\r\n\r\n"
    )
    return head.encode() + body


# --------------------------------------------------------------------------- load


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _load(port: int, requests: list[bytes], *, connections: int, deadline: float):
    """Send every request once over ``connections`` keep-alive connections. Returns (statuses, latencies)."""
    statuses: list[int | None] = [None] * len(requests)
    latencies: list[float] = []
    queue = iter(range(len(requests)))

    async def client() -> None:
        reader = writer = None
        for i in queue:
            if time.monotonic() > deadline:
                return
            for attempt in range(3):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    t0 = time.perf_counter()
                    writer.write(requests[i])
                    status, close = await _read_response(reader)
                    latencies.append(time.perf_counter() - t0)
                    statuses[i] = status
                    if close:
                        writer.close()
                        reader = writer = None
                    break
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if attempt == 2:
                        statuses[i] = -1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return statuses, latencies


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _server_pids(gunicorn_pid: int) -> tuple[list[int], list[int]]:
    """(gunicorn master and workers, PostgreSQL backends serving this database but not us)."""
    from django.db import connection

    workers = [gunicorn_pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == gunicorn_pid:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
    return workers, backends


def run_round(
    name: str, port: int, requests: list[bytes], *, connections: int, max_seconds: float, gunicorn_pid: int = 0
) -> dict:
    pids = _server_pids(gunicorn_pid) if gunicorn_pid else ([], [])
    cpu0 = [_cpu_seconds(p) for p in pids]
    t0 = time.perf_counter()
    statuses, latencies = asyncio.run(
        _load(port, requests, connections=connections, deadline=time.monotonic() + max_seconds)
    )
    elapsed = time.perf_counter() - t0
    pids = _server_pids(gunicorn_pid) if gunicorn_pid else ([], [])  # backends opened during the round too
    cpu = [_cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    done = [s for s in statuses if s is not None]
    latencies.sort()
    result = {
        "name": name,
        "requests": len(done),
        "seconds": elapsed,
        "rps": len(done) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "non_2xx": sum(1 for s in done if not 200 <= s < 300),
        "unsent": len(statuses) - len(done),
        "statuses": statuses,
        "latencies": latencies,
        "app_cpu_ms": 1000 * cpu[0] / max(1, len(done)),
        "db_cpu_ms": 1000 * cpu[1] / max(1, len(done)),
    }
    print(
        f"  {name:8s} {result['requests']:6d} req in {elapsed:5.1f}s  {result['rps']:7.1f} req/s  "
        f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  non-2xx {result['non_2xx']}  "
        f"CPU/req: gunicorn {result['app_cpu_ms']:.2f} ms, postgres {result['db_cpu_ms']:.2f} ms",
        flush=True,
    )
    return result


# --------------------------------------------------------------------------- checks


def check_round(tenant, campaign, callbacks: list[dict], statuses: list, finals: dict[str, str]) -> list[str]:
    from collections import Counter

    from campaigns.counters import campaign_status_counts
    from campaigns.models import Message
    from tracking.models import StatusEvent

    problems = []
    history = set(StatusEvent.objects.filter(tenant=tenant).values_list("sid", "status"))
    accepted = {
        (c["MessageSid"], c["MessageStatus"]) for c, s in zip(callbacks, statuses, strict=True) if s and 200 <= s < 300
    }
    missing = accepted - history
    if missing:
        problems.append(f"{len(missing)} accepted callbacks are not in the history, e.g. {sorted(missing)[:3]}")
    unanswered = sum(1 for s in statuses if s is None or not 200 <= s < 300)
    if unanswered:
        problems.append(f"{unanswered} callbacks were not accepted (non-2xx or not sent in time)")
    actual = dict(Message.objects.filter(campaign=campaign).values_list("sid", "status"))
    wrong = {sid: (actual.get(sid), final) for sid, final in finals.items() if actual.get(sid) != final}
    if wrong:
        problems.append(f"{len(wrong)} messages lack their final status, e.g. {list(wrong.items())[:3]}")
    undelivered_codes = set(
        Message.objects.filter(campaign=campaign, status="undelivered").values_list("error_code", flat=True)
    )
    if undelivered_codes - {30003}:
        problems.append(f"undelivered messages with error codes {undelivered_codes}")
    counts = {k: v for k, v in campaign_status_counts(campaign.pk).items() if v}
    recount = dict(Counter(actual.values()))
    if counts != recount:
        problems.append(f"counters {counts} differ from a recount {recount}")
    return problems


# --------------------------------------------------------------------------- main


def start_gunicorn(env: dict, port: int, args) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "webhooks_bench_wsgi",  # smscampaigns.wsgi, its URLconf imported before the fork
        "--preload",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        "--worker-class=gthread",
        f"--threads={args.threads}",
        "--keep-alive=30",
        "--backlog=256",
        "--log-level=warning",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    for _ in range(150):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("gunicorn did not start") from None
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("gunicorn did not listen in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="fresh messages per round (3+ callbacks each)")
    parser.add_argument("--pairs", type=int, default=3, help="pairs of (ceiling, webhook) rounds, order alternating")
    parser.add_argument(
        "--window",
        type=int,
        default=64,
        help="callbacks are shuffled within windows of this many (a message's callbacks race each other)",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="cap per round")
    args = parser.parse_args()

    env = _env()
    if "postgres" not in env.get("DATABASE_URL", ""):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is migrated, and bench rows are added)")
    if not env.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL (the settings require Redis: cache and broker)")
    ensure_database(env["DATABASE_URL"])
    os.environ.update({k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "smscampaigns.settings"
    sys.path[:0] = [str(ROOT), str(HERE)]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rng = random.Random(6)
    # Every round, ceiling or webhook, works on fresh messages; one more set warms up.
    tenant, campaigns = setup_data(messages_per_round=args.messages, rounds=2 * args.pairs)
    token = tenant.twilio_auth_token
    print(
        f"webhook benchmark: {args.connections} connections, gunicorn gthread {args.workers}x{args.threads}, "
        f"{args.pairs} pairs of rounds, {args.messages} fresh messages per round",
        flush=True,
    )
    plan = []  # (kind, campaign, callbacks, finals, requests)
    for i, campaign in enumerate(campaigns[:-1]):
        pair, second = divmod(i, 2)
        kind = ("ceiling", "webhook")[(second + pair) % 2]  # C W, W C, C W, …
        callbacks, finals = storm(tenant, campaign, rng, args.window)
        path = CEILING_PATH if kind == "ceiling" else WEBHOOK_PATH
        plan.append((kind, campaign, callbacks, finals, [encode(path, c, token) for c in callbacks]))
    warm_callbacks, _ = storm(tenant, campaigns[-1], rng)
    warm = [encode(CEILING_PATH, c, token) for c in warm_callbacks[:300]]
    warm += [encode(WEBHOOK_PATH, c, token) for c in warm_callbacks[300:600]]

    port = _free_port()
    proc = start_gunicorn(env, port, args)
    results: dict[str, list[dict]] = {"ceiling": [], "webhook": []}
    problems: list[str] = []
    try:
        run_round("warm-up", port, warm, connections=args.connections, max_seconds=20)
        for kind, campaign, callbacks, finals, requests in plan:
            result = run_round(
                kind,
                port,
                requests,
                connections=args.connections,
                max_seconds=args.max_seconds,
                gunicorn_pid=proc.pid,
            )
            results[kind].append(result)
            if kind == "webhook":
                problems += check_round(tenant, campaign, callbacks, result["statuses"], finals)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

    def total(kind: str) -> dict:
        rs = results[kind]
        latencies = sorted(x for r in rs for x in r["latencies"])
        done = sum(r["requests"] for r in rs)
        return {
            "rps": done / sum(r["seconds"] for r in rs),
            "p50": 1000 * latencies[len(latencies) // 2],
            "p90": 1000 * latencies[int(len(latencies) * 0.90)],
            "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "max": 1000 * latencies[-1],
            "app_cpu": sum(r["app_cpu_ms"] * r["requests"] for r in rs) / done,
            "db_cpu": sum(r["db_cpu_ms"] * r["requests"] for r in rs) / done,
        }

    c, w = total("ceiling"), total("webhook")
    pair_ratios = [wr["rps"] / cr["rps"] for cr, wr in zip(results["ceiling"], results["webhook"], strict=True)]
    accepted = sum(r["requests"] - r["non_2xx"] for r in results["webhook"])
    print()
    for name, t in (("ceiling (one UPDATE by SID)", c), ("status webhook", w)):
        print(
            f"{name:28s} {t['rps']:7.1f} req/s  p50 {t['p50']:5.1f} ms  p90 {t['p90']:5.1f} ms  "
            f"p99 {t['p99']:6.1f} ms  max {t['max']:6.1f} ms  "
            f"CPU/req gunicorn {t['app_cpu']:.2f} ms + postgres {t['db_cpu']:.2f} ms"
        )
    print(
        f"ratio: {w['rps'] / c['rps']:.0%} of the ceiling overall, pairs "
        f"{', '.join(f'{r:.0%}' for r in pair_ratios)} (median {statistics.median(pair_ratios):.0%}); "
        f"goal >= 70%"
    )
    print(f"webhook p99 {w['p99']:.1f} ms (goal <= 100 ms; the ceiling's own p99 here: {c['p99']:.1f} ms)")
    print(f"accepted callbacks: {accepted}; checks: {'all passed' if not problems else 'FAILED'}")
    for problem in problems:
        print("  -", problem)
    _cleanup(tenant)
    return 1 if problems else 0


def _cleanup(tenant) -> None:
    """Remove the bench tenant's rows (messages, history and counters go with it)."""
    from campaigns.models import Campaign, MessageStatusCount
    from tracking.models import StatusEvent

    StatusEvent.objects.filter(tenant=tenant).delete()
    MessageStatusCount.objects.filter(campaign__tenant=tenant).delete()
    Campaign.objects.filter(tenant=tenant).delete()
    tenant.delete()


if __name__ == "__main__":
    sys.exit(main())
