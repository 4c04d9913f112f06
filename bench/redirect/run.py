#!/usr/bin/env python
"""Benchmark the short-link redirect with click capture against two ceilings, in one run.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/redirect/run.py

What it does (everything on 127.0.0.1, every server it starts is stopped at the end):

1. Migrates the given PostgreSQL database, creates a bench tenant, a campaign and
   ``--links`` messages, and creates their short links with the bulk service
   (timed: this is the fan-out's cost), which also warms the lookup cache.
2. Starts gunicorn (same worker class, workers and threads for all) serving:
   a bare WSGI app answering 302 (ceiling 1), and the project with an extra view
   doing one indexed PostgreSQL lookup and a 302 (ceiling 2), and the real
   redirect ``/l/<code>`` with click capture; plus ``manage.py links_click_writer``.
3. Drives each with wrk (Debian's ``wrk``; installed with ``apt-get install -y wrk``
   when missing and running as root) at ``--connections`` (32) for ``--duration``
   seconds per round, random codes, a real iPhone user agent; reports req/s, p50, p99.
4. Waits for the writer to drain, then checks the clicks table holds exactly as
   many clicks as redirects gunicorn answered (its access log), and prints the
   ratios against the goals: ≥ 1.0 × the lookup ceiling, ≥ 25% of bare WSGI (and #22's ≥ 50%), p99 ≤ 50 ms.

``--writer-apart`` stops the click writer while the redirect is measured (it drains after each round), as on
a deployment whose writer has a host of its own; without it the writer shares the cores (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_secrets, ensure_database  # noqa: E402

PY = sys.executable
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {HOST}:{port} after {timeout}s")


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (as root)")
    print("wrk is missing: installing Debian's package (apt-get install -y wrk)", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("could not install wrk")
    return path


def bench_env(port: int, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench_settings",
        PYTHONPATH=f"{ROOT}{os.pathsep}{HERE}",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        SECRET_KEY=env["SECRET_KEY"],
        FIELD_ENCRYPTION_KEY=env["FIELD_ENCRYPTION_KEY"],
        PUBLIC_BASE_URL=f"http://{HOST}:{port}",
        SHORT_LINK_BASE_URL=f"http://{HOST}:{port}/l",
        LINKS_REDIS_PREFIX=prefix,
        LINKS_CLICK_CAPTURE="redis",
        ALLOWED_HOSTS=HOST,
        # Plain http on loopback: without this, production settings answer every request that reaches the
        # middleware stack (the lookup ceiling) with SecurityMiddleware's 301 to https, and the ceiling measured
        # that redirect instead of the lookup.
        SECURE_SSL_REDIRECT="0",
    )
    env.pop("PYTEST_VERSION", None)
    return env


def parse_wrk(out: str) -> dict:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    lat = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s))\s*$", out, re.M))
    if "50" not in lat or "99" not in lat:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": ms(lat["50"]),
        "p99_ms": ms(lat["99"]),
        "non_3xx": int(non_3xx.group(1)) if non_3xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def run_wrk(
    wrk: str, url: str, *, prefix: str, codes_file: Path, duration: int, connections: int, host: str = ""
) -> dict:
    env = dict(os.environ, CODES_FILE=str(codes_file), PATH_PREFIX=prefix)
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "2s"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    cmd += ["-s", str(HERE / "codes.lua"), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    return parse_wrk(out)


class Server:
    def __init__(self, app: str, port: int, env: dict, log: Path, args) -> None:
        cmd = [PY, "-m", "gunicorn", app, "--bind", f"{HOST}:{port}", "--workers", str(args.workers)]
        cmd += ["--worker-class", "gthread", "--threads", str(args.threads), "--keep-alive", "5"]
        cmd += ["--access-logfile", str(log), "--access-logformat", "%(s)s %(U)s", "--log-level", "warning"]
        cmd += ["--pythonpath", f"{ROOT},{HERE}", "--chdir", str(ROOT)]
        if args.switch_interval:
            conf = log.with_suffix(".conf.py")
            conf.write_text(
                "import sys\n\n\ndef post_fork(server, worker):\n"
                f"    sys.setswitchinterval({args.switch_interval / 1000!r})\n"
            )
            cmd += ["--config", str(conf)]
        self.proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        wait_port(port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def main() -> int:
    bench_secrets()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; figures are medians")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--writer-nice", type=int, default=10, help="niceness of the click writer (it catches up after bursts)"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0,
        help="ms; set the workers' GIL switch interval (Python's default is 5 ms), the same for all three servers",
    )
    parser.add_argument(
        "--writer-apart",
        action="store_true",
        help="stop the click writer (SIGSTOP) while the redirect is measured and let it drain after each round: "
        "the clicks wait in the Redis stream, as on a deployment whose writer runs on a host of its own",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--branded-host",
        default="",
        help="serve the redirect on this verified tenant domain (https://<host>/<code>, the Host header) instead of "
        "the shared /l/<code>",
    )
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at PostgreSQL (the ceiling is a PostgreSQL lookup)")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("REDIS_URL must point at Redis (the click queue)")
    ensure_database(os.environ["DATABASE_URL"])
    wrk = ensure_wrk()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    app_port, bare_port = free_port(), free_port()
    prefix = f"bench-redirect-{os.getpid()}:"
    env = bench_env(app_port, prefix)
    os.environ.update(env)
    sys.path[:0] = [str(ROOT), str(HERE)]

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Campaign, Message
    from links.capture import redis_client
    from links.models import Click
    from links.services import short_links_create_for_messages
    from tenants.models import Tenant

    client = redis_client()
    tmp = Path(tempfile.mkdtemp(prefix="bench-redirect-"))

    def forget() -> None:  # however the run ends: no keys, no files left behind
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(key)
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(forget)
    call_command("migrate", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(slug="bench-redirect", defaults={"name": "Bench redirect"})
    Campaign.objects.filter(tenant=tenant).delete()
    campaign = Campaign.objects.create(
        tenant=tenant, name="Bench Sale", body="Hi {{link}}", link_url="https://shop.example.com/sale?src=bench"
    )
    Message.objects.bulk_create(
        [Message(tenant=tenant, campaign=campaign, to=f"+1415{i:07d}", body="x") for i in range(args.links)],
        batch_size=10_000,
    )
    ids = list(Message.objects.filter(campaign=campaign).values_list("id", flat=True))
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        codes = short_links_create_for_messages(
            tenant=tenant, campaign_id=campaign.pk, target_url=campaign.link_url, message_ids=ids
        )
    bulk_seconds = time.perf_counter() - t0
    print(
        f"bulk links: {len(codes):,} created in {bulk_seconds:.2f} s "
        f"({len(queries.captured_queries)} SQL round trips, cache warmed)",
        flush=True,
    )

    from links.capture import link_key

    if args.branded_host:
        from django.utils import timezone

        from links.domains import domains_forget
        from links.models import LinkDomain

        LinkDomain.objects.filter(host=args.branded_host).delete()
        LinkDomain.objects.create(tenant=tenant, host=args.branded_host, verified_at=timezone.now())
        domains_forget()
        print(f"redirect on the tenant's own domain {args.branded_host} (Host header, /<code>)", flush=True)
    warm = sum(1 for code in list(codes.values())[:200] if client.exists(link_key(code)))
    print(f"lookup cache: {warm}/200 sampled codes warm", flush=True)
    codes_file = tmp / "codes.txt"
    codes_file.write_text("\n".join(codes.values()) + "\n")
    app_log, bare_log = tmp / "app-access.log", tmp / "bare-access.log"
    servers: list[Server] = []
    writer = None
    results: dict[str, list[dict]] = {"bare_wsgi": [], "django_lookup": [], "redirect": []}
    drain_seconds: list[float] = []
    try:
        servers.append(Server("bare_wsgi:application", bare_port, env, bare_log, args))
        servers.append(Server("smscampaigns.wsgi:application", app_port, env, app_log, args))
        writer = subprocess.Popen(
            [
                "nice",
                "-n",
                str(args.writer_nice),
                PY,
                str(ROOT / "manage.py"),
                "links_click_writer",
                "--batch-size",
                "1000",
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        targets = {
            "bare_wsgi": (f"http://{HOST}:{bare_port}", "/l/"),
            "django_lookup": (f"http://{HOST}:{app_port}", "/bench/lookup/"),
            "redirect": (f"http://{HOST}:{app_port}", "/" if args.branded_host else "/l/"),
        }
        hosts = {"redirect": args.branded_host}
        stream = f"{prefix}clicks"

        def drained(timeout: float = 90.0) -> float:
            t = time.monotonic()
            while client.xlen(stream) and time.monotonic() - t < timeout:
                time.sleep(0.1)
            if client.xlen(stream):
                raise SystemExit(f"the click writer did not drain the queue in {timeout}s")
            return time.monotonic() - t

        for name, (url, path) in targets.items():  # warm-up: imports, connections, caches
            run_wrk(
                wrk,
                url,
                prefix=path,
                codes_file=codes_file,
                duration=2,
                connections=args.connections,
                host=hosts.get(name, ""),
            )
        drained()
        names = list(targets)
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(names)  # rotate the order: no target always runs after the same one
            for name in names[shift:] + names[:shift]:
                url, path = targets[name]
                apart = args.writer_apart and name == "redirect"
                if apart:
                    os.killpg(writer.pid, signal.SIGSTOP)
                r = run_wrk(
                    wrk,
                    url,
                    prefix=path,
                    codes_file=codes_file,
                    duration=args.duration,
                    connections=args.connections,
                    host=hosts.get(name, ""),
                )
                results[name].append(r)
                print(
                    f"round {round_no} {name:14s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                    f"p99 {r['p99_ms']:6.2f} ms  ({r['requests']:,} requests, non-3xx {r['non_3xx']}"
                    f"{', socket errors ' + r['socket_errors'] if r['socket_errors'] else ''})",
                    flush=True,
                )
                if apart:
                    os.killpg(writer.pid, signal.SIGCONT)
                if name == "redirect":
                    drain_seconds.append(drained())  # the ceilings never run while the writer catches up
    finally:
        if writer is not None and writer.poll() is None:
            os.killpg(writer.pid, signal.SIGCONT)  # a stopped process would never see the SIGTERM
            os.killpg(writer.pid, signal.SIGTERM)
            try:
                writer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(writer.pid, signal.SIGKILL)
        for server in servers:
            server.stop()

    # Redirects gunicorn answered (warm-up included). Its access log is a JSON line per request in production
    # (LOG_FORMAT, common/logging.py): the "%(s)s %(U)s" text is the message.
    redirect_line = re.compile(r"(?:^|\s)302 /(?:l/)?[0-9A-Za-z]+$")

    def message(line: str) -> str:
        return json.loads(line).get("message", "") if line.startswith("{") else line.strip()

    answered = sum(1 for line in app_log.read_text().splitlines() if redirect_line.search(message(line)))
    wrk_counted = sum(r["requests"] - r["non_3xx"] for r in results["redirect"])
    clicks = Click.objects.filter(campaign=campaign).count()
    humans = Click.objects.filter(campaign=campaign, is_bot=False).count()

    def mean(name: str, key: str) -> float:  # the median of the rounds (robust to a noisy neighbour)
        return statistics.median(r[key] for r in results[name])

    redirect_rps, lookup_rps, bare_rps = mean("redirect", "rps"), mean("django_lookup", "rps"), mean("bare_wsgi", "rps")
    p50 = mean("redirect", "p50_ms")
    p99 = mean("redirect", "p99_ms")
    vs_lookup, vs_bare = redirect_rps / lookup_rps, redirect_rps / bare_rps
    paired_lookup = statistics.median(
        r["rps"] / c["rps"] for r, c in zip(results["redirect"], results["django_lookup"], strict=True)
    )
    paired_bare = statistics.median(
        r["rps"] / c["rps"] for r, c in zip(results["redirect"], results["bare_wsgi"], strict=True)
    )
    lost = answered - clicks
    summary = {
        "connections": args.connections,
        "gunicorn": f"gthread, {args.workers} workers x {args.threads} threads"
        + (f", GIL switch interval {args.switch_interval} ms" if args.switch_interval else ""),
        "links": len(codes),
        "branded_host": args.branded_host,
        "bulk_create_seconds": round(bulk_seconds, 3),
        "bulk_create_queries": len(queries.captured_queries),
        "redirect_rps": round(redirect_rps),
        "redirect_p50_ms": round(p50, 2),
        "redirect_p99_ms": round(p99, 2),
        "django_lookup_rps": round(lookup_rps),
        "django_lookup_p99_ms": round(mean("django_lookup", "p99_ms"), 2),
        "bare_wsgi_rps": round(bare_rps),
        "bare_wsgi_p99_ms": round(mean("bare_wsgi", "p99_ms"), 2),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "ratio_vs_django_lookup": round(vs_lookup, 2),
        "ratio_vs_bare_wsgi": round(vs_bare, 3),
        "ratio_vs_django_lookup_round_by_round_median": round(paired_lookup, 2),
        "ratio_vs_bare_wsgi_round_by_round_median": round(paired_bare, 3),
        "redirects_answered": answered,
        "redirects_counted_by_wrk_in_measured_runs": wrk_counted,
        "clicks_written": clicks,
        "human_clicks": humans,
        "writer_apart": args.writer_apart,
        "writer_drain_seconds_after_each_run": [round(s, 1) for s in drain_seconds],
        "rounds": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    print()
    print(f"redirect with click capture: {redirect_rps:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"ceilings: Django + one PostgreSQL lookup {lookup_rps:.0f} req/s; bare WSGI {bare_rps:.0f} req/s")
    goals = [
        (f"ratio vs Django lookup {vs_lookup:.2f}, round by round {paired_lookup:.2f} (goal >= 1.0)", vs_lookup >= 1.0),
        (f"ratio vs bare WSGI {vs_bare:.1%}, round by round {paired_bare:.1%} (goal >= 25%)", vs_bare >= 0.25),
        (f"ratio vs bare WSGI {vs_bare:.1%} (#22's aim >= 50%)", vs_bare >= 0.5),
        (f"p99 {p99:.2f} ms at {args.connections} connections (goal <= 50 ms)", p99 <= 50),
        (f"clicks written {clicks:,} = redirects answered {answered:,} (lost {lost})", lost == 0),
    ]
    for text, ok in goals:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    load = summary["load_average_before_after"]
    apart = ", the click writer stopped while the redirect ran" if args.writer_apart else ""
    print(f"medians of {args.rounds} interleaved rounds of {args.duration} s{apart}; load average {load}")
    print(f"total {summary['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
