"""Fan-out benchmark: recipients materialised per second (message + its own short link), and peak memory.

    DATABASE_URL=postgres://… python bench/fanout/run.py [--recipients 100000]

Runs against ``<database>_bench`` (created and migrated here; its tables are
truncated), or ``BENCH_DATABASE_URL``: where other tenants have messages there (the growth benchmark's
million rows, ``bench/growth``) they are kept, and only the bench tenant's rows are deleted between rounds.
The fan-out runs in a fresh child process so its peak RSS is its own. The ceiling, in the same run:
PostgreSQL ``COPY FROM`` of exactly the rows the fan-out wrote (messages and short links, same tables and
indexes). The two are measured alternately ``--rounds`` times (3) and the best of each is compared,
with every round's own ratio and the load average printed next to it: the
machine is shared, and one burst of someone else's work should not decide it.
Goal (issue #5): ≥ 50% of COPY's row rate, peak RSS < 300 MB, flat in N.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import bench_database_url, contacts_copy, django_setup, ensure_database  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries the parent's peak across
    fork+exec into it, so a child of a big parent would report the parent's memory."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(campaign_id: int) -> None:
    """The measured fan-out, alone in its process."""
    from campaigns.sending.fanout import messages_materialise

    start = time.perf_counter()
    result = messages_materialise(campaign_id=campaign_id, on_pending=lambda c, ids: None)
    elapsed = time.perf_counter() - start
    print(json.dumps({"created": result.created, "seconds": elapsed, "peak_rss_mb": peak_rss_mb()}))


#: Other tenants' rows are kept (set by ``setup``): the bench's own are deleted instead of truncating the tables.
KEEP_OTHERS = False


def _delete_own(cur, campaign_ids: list[int]) -> None:
    """The bench's messages, links and counters of these campaigns (the links first: they name a message)."""
    for table in ("links_shortlink", "campaigns_messagestatuscount", "campaigns_message"):
        cur.execute(f"DELETE FROM {table} WHERE campaign_id = ANY(%s)", [campaign_ids])  # noqa: S608 - constants


def setup(n: int) -> int:
    from django.core.management import call_command
    from django.db import connection

    from campaigns.models import Campaign, CampaignStatus
    from contacts.models import Contact
    from tenants.models import Tenant

    global KEEP_OTHERS
    call_command("migrate", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "twilio_account_sid": "AC" + "b" * 32, "sender": "+14155550000"}
    )
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM campaigns_message WHERE tenant_id <> %s)", [tenant.pk])
        KEEP_OTHERS = cur.fetchone()[0]
        if KEEP_OTHERS:
            _delete_own(cur, list(Campaign.objects.filter(tenant=tenant).values_list("pk", flat=True)))
            if Contact.objects.filter(tenant=tenant).count() != n:
                cur.execute("DELETE FROM contacts_contact WHERE tenant_id = %s", [tenant.pk])
                contacts_copy(tenant.pk, n)
        else:
            cur.execute(
                "TRUNCATE campaigns_message, links_shortlink, campaigns_messagestatuscount, campaigns_campaign, "
                "contacts_contact, compliance_suppression CASCADE"
            )
            tenant, _ = Tenant.objects.get_or_create(
                slug="bench",
                defaults={"name": "Bench", "twilio_account_sid": "AC" + "b" * 32, "sender": "+14155550000"},
            )
            contacts_copy(tenant.pk, n)
    campaign = Campaign.objects.create(
        tenant=tenant,
        name="Bench",
        body="Hi {{first_name}}, our spring sale starts now: {{link}}",
        link_url="https://shop.example.com/spring",
        status=CampaignStatus.SENDING,
    )
    return campaign.pk


def copy_ceiling(campaign_id: int) -> float:
    """Dump what the fan-out wrote, empty the tables, and time COPY putting it back (one transaction)."""
    from django.db import connection, transaction

    bufs = {}
    with connection.cursor() as cur:
        for table, where in (("campaigns_message", "campaign_id"), ("links_shortlink", "campaign_id")):
            buf = io.StringIO()
            query = f"COPY (SELECT * FROM {table} WHERE {where} = {int(campaign_id)}) TO STDOUT"  # noqa: S608
            cur.copy_expert(query, buf)
            buf.seek(0)
            bufs[table] = buf
        if KEEP_OTHERS:
            _delete_own(cur, [campaign_id])
        else:
            cur.execute("TRUNCATE campaigns_message, links_shortlink CASCADE")
        cur.execute("CHECKPOINT")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.copy_expert("COPY campaigns_message FROM STDIN", bufs["campaigns_message"])
        cur.copy_expert("COPY links_shortlink FROM STDIN", bufs["links_shortlink"])
    return time.perf_counter() - start


def reset(campaign_id: int) -> None:
    """Undo a fan-out (messages, links, counters) so the next round starts from the same contacts."""
    from django.db import connection

    from campaigns.models import Campaign

    with connection.cursor() as cur:
        if KEEP_OTHERS:
            _delete_own(cur, [campaign_id])
        else:
            cur.execute("TRUNCATE campaigns_message, links_shortlink, campaigns_messagestatuscount CASCADE")
    Campaign.objects.filter(pk=campaign_id).update(fanned_out_at=None)


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="fan-out and COPY measured alternately this many times (best of each: the machine is shared)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = bench_database_url("bench")
    if args.child:
        django_setup(url)
        child(args.child)
        return
    ensure_database(url)
    django_setup(url)
    n = args.recipients
    t0 = time.perf_counter()
    campaign_id = setup(n)
    kept = "other tenants' rows kept" if KEEP_OTHERS else "tables truncated"
    print(f"setup: {n:,} contacts in {time.perf_counter() - t0:.1f} s ({kept}); {load()}")
    from django.db import connection

    rounds = []
    for r in range(args.rounds):
        if r:
            reset(campaign_id)
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(campaign_id)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "BENCH_DATABASE_URL": url},
        )
        ours = json.loads(out.stdout.strip().splitlines()[-1])
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")
        copy_seconds = copy_ceiling(campaign_id)
        rounds.append((ours, copy_seconds))
        print(
            f"round {r + 1}: fan-out {ours['created']:,} in {ours['seconds']:.2f} s, "
            f"peak RSS {ours['peak_rss_mb']:.0f} MB; COPY {copy_seconds:.2f} s; "
            f"ratio {copy_seconds / ours['seconds']:.0%}; {load()}"
        )
    best = min(rounds, key=lambda r: r[0]["seconds"])[0]
    copy_seconds = min(c for _o, c in rounds)
    ours_rate = best["created"] / best["seconds"]
    copy_rate = n / copy_seconds
    peak = max(o["peak_rss_mb"] for o, _c in rounds)
    ratios = sorted(c / o["seconds"] for o, c in rounds)
    print(
        f"fan-out, best of {len(rounds)}: {best['created']:,} recipients (message + link) "
        f"in {best['seconds']:.2f} s = {ours_rate:,.0f}/s"
    )
    print(f"fan-out peak RSS (highest round): {peak:.0f} MB")
    print(f"ceiling, COPY of the same rows, best of {len(rounds)}: {copy_seconds:.2f} s = {copy_rate:,.0f}/s")
    print(
        f"ratio: {ours_rate / copy_rate:.0%} of COPY, best against best (goal >= 50%); "
        f"per round {', '.join(f'{x:.0%}' for x in ratios)}; peak RSS goal < 300 MB"
    )


if __name__ == "__main__":
    main()
