"""Growth curves (#22): the hot paths timed again once the tables hold 10× the rows.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/smsc_growth REDIS_URL=redis://127.0.0.1:6379/0 \\
      .venv/bin/python bench/growth/run.py --scale 1 --paths webhooks,redirect
    … --scale 10 --paths dashboard,webhooks,redirect

1× is a million messages, a million status events and 200,000 clicks; 10× ten times that. The rows
are topped up to the scale asked (never removed) for a background tenant ("bench-growth"): campaigns
of 100,000 messages each, spread over the last twelve months, delivered, each with its status event
and one message in ten with a link clicked twice. They are made by the server itself (INSERT … SELECT over
generate_series, in batches of 500,000: faster than COPY from Python, nothing crosses the wire),
the months' partitions created first so no row lands in a default partition. SIDs, codes and event
ids grow with the row number: the indexes are as deep as with random keys, denser.

Then each benchmark named in ``--paths`` runs unchanged on the same database (``BENCH_DATABASE_URL``),
its own tenant beside the background one, and its figures are printed as it prints them. The
dashboard benchmark seeds its own million messages (truncating every tenant): run it first, at 1×,
without ``--reuse`` (``--paths dashboard``), then the fills; at 10× it runs with ``--reuse``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, django_setup, ensure_database  # noqa: E402

PER_SCALE = {"messages": 1_000_000, "status_events": 1_000_000, "clicks": 200_000}
BATCH = 500_000
PER_CAMPAIGN = 100_000
TENANT = "bench-growth"
BENCHES = {
    "webhooks": ["bench/webhooks/run.py", "--messages", "1000"],
    "redirect": ["bench/redirect/run.py"],
    "dashboard": ["bench/dashboard/run.py"],
    "fanout": ["bench/fanout/run.py"],
    "send": ["bench/send/run.py"],
}


def _count(cursor, table: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
    return cursor.fetchone()[0]


def _past_months(cursor, now: dt.datetime) -> None:
    """The twelve months before ``now``'s as partitions (the migrations made the current month and later)."""
    from django.db import transaction

    from common.partitions import month_add, month_partition_sql, month_start
    from retention.services import PARTITIONED, partitions_of

    for spec in PARTITIONED:
        existing = set(partitions_of(spec.table))
        if not existing:
            continue
        for n in range(1, 13):
            month = month_add(month_start(now), -n)
            if f"{spec.table}_p{month:%Y%m}" in existing:
                continue
            with transaction.atomic():
                for statement in month_partition_sql(
                    spec.table, spec.column, month, per_partition_unique=spec.per_partition_unique
                ):
                    cursor.execute(statement)


def fill(scale: int, unit: int = PER_SCALE["messages"]) -> None:
    """Top the tables up to ``scale`` × ``PER_SCALE`` rows (background tenant); ``unit``: messages at 1×."""
    from django.db import connection, transaction

    from campaigns.models import Campaign, CampaignStatus
    from tenants.models import Tenant
    from tenants.tests.factories import TenantFactory

    # Its id only: the secrets were encrypted with an earlier run's throw-away key (bench.common.bench_secrets).
    tenant = Tenant(pk=Tenant.objects.filter(slug=TENANT).values_list("pk", flat=True).first())
    if tenant.pk is None:
        tenant = TenantFactory(slug=TENANT, name="Bench growth")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    span = 365 * 24 * 3600  # a year, in seconds: row i of n is (n - i) / n of a year old
    with connection.cursor() as cursor:
        _past_months(cursor, now)
        target = {k: v * scale * unit // PER_SCALE["messages"] for k, v in PER_SCALE.items()}
        have = {
            "messages": _count(cursor, "campaigns_message"),
            "status_events": _count(cursor, "tracking_statusevent"),
            "clicks": _count(cursor, "links_click"),
        }
        print(f"  rows now: {have}; target: {target}", flush=True)
        cursor.execute("SELECT coalesce(max(id), 0) FROM campaigns_message")
        base = cursor.fetchone()[0]
        total = target["messages"]
        # Messages (and one status event each, while the history is short of its target).
        todo = max(0, target["messages"] - have["messages"])
        events_todo = max(0, target["status_events"] - have["status_events"])
        done = 0
        while done < todo:
            n = min(BATCH, todo - done)
            t = time.perf_counter()
            campaign_ids = []
            for _k in range(0, n, PER_CAMPAIGN):
                campaign_ids.append(
                    Campaign.objects.create(
                        tenant_id=tenant.pk, name=f"Growth {base + done + _k}", body="Hello {{link}}",
                        status=CampaignStatus.SENT, started_at=now,
                    ).pk
                )  # fmt: skip
            cursor.execute("SELECT coalesce(max(id), 0) FROM campaigns_message")
            last_id = cursor.fetchone()[0]
            params = [tenant.pk, campaign_ids, PER_CAMPAIGN, base + done, n]
            params += [total, have["messages"] + done, span, total]
            with transaction.atomic():
                cursor.execute(
                    'INSERT INTO campaigns_message (tenant_id, campaign_id, "to", body, segments, status, sid, '
                    "error_message, created_at, sent_at, delivered_at, updated_at, attempts, checks, resends, "
                    "unresolved_reason, mms, channel) "
                    "SELECT %s, (%s::bigint[])[1 + (g - 1) / %s], '+1555' || lpad((g %% 10000000)::text, 7, '0'), "
                    "'Hello https://s.example/x', 1, 'delivered', 'SMg' || lpad(to_hex(%s + g), 31, '0'), '', "
                    "t, t, t + interval '5 seconds', t, 1, 0, 0, '', false, 'sms' "
                    "FROM generate_series(1, %s) g, "
                    "LATERAL (SELECT now() - make_interval(secs => (%s - (%s + g)) * %s::float / %s) AS t) x",
                    params,
                )
                if events_todo > 0:
                    m = min(n, events_todo)
                    cursor.execute(
                        "INSERT INTO tracking_statusevent (tenant_id, sid, status, error_code, fields, received_at, "
                        "message_id) SELECT tenant_id, sid, 'delivered', NULL, jsonb_build_object('MessageSid', sid, "
                        "'MessageStatus', 'delivered', 'AccountSid', 'ACbench', 'ApiVersion', '2010-04-01'), "
                        "delivered_at, id FROM campaigns_message WHERE tenant_id = %s AND id > %s "
                        "ORDER BY id LIMIT %s",
                        [tenant.pk, last_id, m],
                    )
                    events_todo -= m
            done += n
            print(f"  messages {done:,}/{todo:,} (+ status events) in {time.perf_counter() - t:.1f}s", flush=True)
        # Status events past the messages' (a history longer than the messages kept): more of the same.
        extra, made_events = max(events_todo, 1), 0
        while events_todo > 0:
            m = min(BATCH, events_todo)
            t = time.perf_counter()
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO tracking_statusevent (tenant_id, sid, status, error_code, fields, received_at, "
                    "message_id) SELECT %s, 'SMe' || lpad(to_hex(%s + g), 31, '0'), 'sent', NULL, '{}'::jsonb, "
                    "now() - make_interval(secs => (%s + g) * %s::float / %s), NULL FROM generate_series(1, %s) g",
                    [tenant.pk, have["status_events"] + made_events, made_events, span, extra, m],
                )
            events_todo -= m
            made_events += m
            print(f"  status events +{m:,} in {time.perf_counter() - t:.1f}s", flush=True)
        # Clicks: two on each of the newest messages' links that lack one, until the target.
        clicks_todo = max(0, target["clicks"] - have["clicks"])
        while clicks_todo > 0:
            links = min(BATCH // 2, (clicks_todo + 1) // 2)
            t = time.perf_counter()
            # Fresh statistics before each batch: with stale ones (the tables empty) the planner anti-joined the
            # clicks through the tenant index, each link scanning every click (hours, not seconds).
            cursor.execute("ANALYZE links_shortlink")
            cursor.execute("ANALYZE links_click")
            with transaction.atomic():
                cursor.execute(
                    "WITH m AS (SELECT m.id, m.campaign_id, m.delivered_at FROM campaigns_message m "
                    "WHERE m.tenant_id = %s AND NOT EXISTS (SELECT 1 FROM links_shortlink l WHERE l.message_id = m.id) "
                    "ORDER BY m.id DESC LIMIT %s) "
                    "INSERT INTO links_shortlink (tenant_id, code, target_url, campaign_id, message_id, created_at, "
                    "human_clicks, bot_hits) SELECT %s, 'g' || to_hex(m.id), 'https://shop.example/', m.campaign_id, "
                    "m.id, m.delivered_at, 2, 0 FROM m",
                    [tenant.pk, links, tenant.pk],
                )
                cursor.execute(
                    "INSERT INTO links_click (event_id, tenant_id, link_id, campaign_id, message_id, clicked_at, "
                    "method, user_agent, device_type, os_family, os_version, browser_family, browser_version, "
                    "device_brand, device_model, ip_address, country, is_bot, bot_reason, is_unique) "
                    "SELECT md5(l.id || '-' || k)::uuid, l.tenant_id, l.id, l.campaign_id, l.message_id, "
                    "least(l.created_at + make_interval(secs => 60 + k * 600), now()), 'GET', 'Mozilla/5.0 (iPhone)', "
                    "'mobile', 'iOS', '17', 'Mobile Safari', '17', 'Apple', 'iPhone', '81.2.69.0', 'GB', false, '', "
                    "k = 0 FROM links_shortlink l CROSS JOIN generate_series(0, 1) k "
                    "WHERE l.tenant_id = %s AND l.code LIKE 'g%%' AND NOT EXISTS "
                    "(SELECT 1 FROM links_click c WHERE c.link_id = l.id AND c.tenant_id = l.tenant_id) "
                    "ORDER BY l.id DESC, k LIMIT %s",
                    [tenant.pk, min(clicks_todo, 2 * links)],
                )
                made = cursor.rowcount
            clicks_todo -= made
            print(f"  clicks +{made:,} in {time.perf_counter() - t:.1f}s", flush=True)
            if made == 0:
                break
        t = time.perf_counter()
        cursor.execute("VACUUM ANALYZE campaigns_message")
        for table in ("tracking_statusevent", "links_click", "links_shortlink"):
            cursor.execute(f"ANALYZE {table}")
        print(f"  vacuum/analyze in {time.perf_counter() - t:.1f}s", flush=True)
        have = {
            "messages": _count(cursor, "campaigns_message"),
            "status_events": _count(cursor, "tracking_statusevent"),
            "clicks": _count(cursor, "links_click"),
        }
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  rows: {have}; database {cursor.fetchone()[0]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="1: 1M messages and status events, 200k clicks; 10: ×10")
    parser.add_argument("--paths", default="webhooks,redirect", help=f"comma-separated, of {', '.join(BENCHES)}")
    parser.add_argument("--no-fill", action="store_true", help="time the tables as they are")
    parser.add_argument("--unit", type=int, default=PER_SCALE["messages"], help="messages at 1× (a smaller trial)")
    args = parser.parse_args()
    url = bench_database_url("growth")
    ensure_database(url)
    paths = [p for p in args.paths.split(",") if p]
    first_dashboard = paths[:1] == ["dashboard"] and args.scale == 1
    if not args.no_fill and not first_dashboard:
        django_setup(url)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=1)
        print(f"  migrate: {time.perf_counter() - started:.1f}s", flush=True)
        print(f"growth fill to {args.scale}×", flush=True)
        fill(args.scale, args.unit)
    env = {**os.environ, "BENCH_DATABASE_URL": url, "DATABASE_URL": url}  # with --no-fill too
    for name in paths:
        command = [sys.executable, *BENCHES[name]]
        if name == "dashboard" and not first_dashboard:
            command.append("--reuse")
        print(f"\n=== {name} at {args.scale}× table size: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT, env=env)
        print(f"=== {name}: exit {code} in {time.perf_counter() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
