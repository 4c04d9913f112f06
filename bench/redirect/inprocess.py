#!/usr/bin/env python
"""The CPU one cached tap costs in the web process: the front (``links.front``) against Django's stack.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/redirect/inprocess.py [--taps 5000] [--rounds 5]

One process, no HTTP server and no load generator, so the figure moves less with the machine's load than the
HTTP benchmark's (``run.py`` shares two cores between wrk, gunicorn, Redis, PostgreSQL and the click writer).
Both paths get the same WSGI environ of a GET on a live short link whose code is in the Redis cache, and both
record the click (one Lua call: the lookup and the stream append). Printed, medians of ``--rounds``: the web
process's CPU microseconds per tap (and the wall time, the Redis round trip included) for ``ShortLinkFront``
(the WSGI app in front of Django that gunicorn serves) and for Django's handler with the ``ShortLinkFastPath``
middleware (the path before the front, still taken by the test client), and their ratio (goal: the front at
most 0.75 of Django's stack's CPU, i.e. a quarter off).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, django_setup, ensure_database  # noqa: E402

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=5000, help="taps per round and path")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = bench_database_url("redirect_inprocess")
    ensure_database(url)
    os.environ["DEBUG"] = "0"  # production's handler: no query log, no debug pages
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["LINKS_CLICK_CAPTURE"] = "redis"
    os.environ["LINKS_REDIS_PREFIX"] = f"bench-inprocess-{os.getpid()}:"
    django_setup(url)
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from links.capture import redis_client, stream_key
    from links.services import short_link_create
    from smscampaigns.wsgi import application
    from tenants.tests.factories import TenantFactory

    tenant = TenantFactory(slug=f"bench-inprocess-{os.getpid()}")
    link = short_link_create(tenant=tenant, target_url="https://shop.example/sale")
    environ = Client()._base_environ(
        PATH_INFO=f"/l/{link.code}", REQUEST_METHOD="GET", HTTP_USER_AGENT=IPHONE, HTTP_HOST="127.0.0.1"
    )
    front, django = application, application.app

    def start_response(status, headers, exc_info=None):
        assert status.startswith("302"), status

    def tap(app) -> None:
        body = app(dict(environ), start_response)
        if hasattr(body, "close"):
            body.close()

    client = redis_client()
    figures: dict[str, list[float]] = {"front": [], "django": []}  # CPU µs per tap
    walls: dict[str, list[float]] = {"front": [], "django": []}
    for _ in range(200):  # warm: the cache, the Lua script, imports
        tap(front)
        tap(django)
    for n in range(args.rounds):
        for name, app in (("front", front), ("django", django))[:: 1 if n % 2 == 0 else -1]:
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.taps):
                tap(app)
            figures[name].append((time.process_time() - cpu) / args.taps * 1e6)
            walls[name].append((time.perf_counter() - started) / args.taps * 1e6)
        client.delete(stream_key())  # the clicks are not the subject here: keep the stream short
        print(
            f"round {n + 1}: CPU front {figures['front'][-1]:.0f} µs, django {figures['django'][-1]:.0f} µs; "
            f"wall (with the Redis round trip) {walls['front'][-1]:.0f} / {walls['django'][-1]:.0f} µs",
            flush=True,
        )
    f, d = statistics.median(figures["front"]), statistics.median(figures["django"])
    wf, wd = statistics.median(walls["front"]), statistics.median(walls["django"])
    print(f"\nCPU per cached tap in the web process (the click recorded): front {f:.0f} µs, Django's stack {d:.0f} µs")
    print(f"wall per tap, the Redis round trip included: front {wf:.0f} µs, Django's stack {wd:.0f} µs")
    print(f"  [{'ok' if f / d <= 0.75 else 'MISSED'}] CPU front / Django {f / d:.2f} (goal <= 0.75)")


if __name__ == "__main__":
    main()
