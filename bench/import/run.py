"""Import benchmark: 100,000 generated CSV rows through the real import service on PostgreSQL.

    DATABASE_URL=postgres://…/smscampaigns REDIS_URL=redis://… python bench/import/run.py [--rows 100000]

It creates (and drops first) the database ``<database>_import`` beside the one
``DATABASE_URL`` names (``BENCH_DATABASE_URL`` names it outright), migrates
it, writes a CSV to a temporary file (streamed, never held in memory), then
times, in one process:

1. ``contacts.importing.contacts_import`` over the file: every row parsed,
   normalized to E.164, time zone derived, upserted with its tags (all new rows);
2. the same file again (every row an update, tags already there);
3. the ceiling: PostgreSQL ``COPY … FROM STDIN (FORMAT csv)`` of the same file
   into an unindexed staging table of text columns;
4. a reference: the same rows ``INSERT … VALUES``-ed (psycopg2 ``execute_values``) in
   batches of 2,000 into the real contacts table, without parsing, checks or tags.

It prints rows/s for each, the import's ratio to COPY, and the process's peak
resident memory (``ru_maxrss``, which includes Django and the migrations).
Goal: at least 5,000 rows/s and under 250 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
AREA_CODES = [201, 202, 206, 212, 213, 214, 305, 310, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713, 718, 917]
FIRST = ["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lu", "Mo", "Ned", "Ona", "Zoë"]
LAST = ["Lovelace", "Hopper", "Turing", "Noether", "Curie", "Knuth", "Ritchie", "Liskov", "Dijkstra", "Müller"]
TAGS = ["vip", "nyc", "spring", "newsletter", "store-12", "online"]
CITIES = ["Boston", "Austin", "Denver", "Seattle", "Miami", ""]


def recreate_database(db_url: str) -> None:
    """Drop and create the bench's own database (``<database>_import``: never the one DATABASE_URL names)."""
    import psycopg2

    parts = urlsplit(db_url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def write_csv(path: Path, rows: int, bad_every: int = 200) -> int:
    """``rows`` data rows, unique valid US numbers, every ``bad_every``-th an invalid number. Returns bad rows."""
    import phonenumbers

    rnd = random.Random(42)
    seen: set[int] = set()
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone_number,first_name,last_name,email,tags,city,consent_status\n")
        for i in range(rows):
            if bad_every and i % bad_every == bad_every - 1:
                f.write(f"555-01{i % 100:02d}x,Bad,Row,,,,\n")
                bad += 1
                continue
            while True:
                number = rnd.choice(AREA_CODES) * 10_000_000 + rnd.randint(2_000_000, 9_999_999)
                if number not in seen and phonenumbers.is_valid_number(phonenumbers.parse(f"+1{number}")):
                    seen.add(number)
                    break
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            tags = ";".join(rnd.sample(TAGS, rnd.randint(0, 2)))
            consent = rnd.choice(["granted", "granted", "unknown", ""])
            f.write(f"+1{number},{first},{last},contact.{i}@example.com,{tags},{rnd.choice(CITIES)},{consent}\n")
    return bad


def insert_ceiling(path: Path, rows: int, batch: int = 2000) -> float:
    import csv

    from django.db import connection, transaction
    from django.utils import timezone
    from psycopg2.extras import execute_values

    from tenants.models import Tenant

    tenant = Tenant.objects.create(name="Bench insert", slug="bench-insert")
    now = timezone.now()
    sql = (
        "INSERT INTO contacts_contact (tenant_id, phone_number, first_name, last_name, email, timezone, "
        "custom_fields, consent_status, consent_source, consent_at, consent_text, created_at, updated_at) "
        "VALUES %s ON CONFLICT (tenant_id, phone_number) DO NOTHING"
    )
    template = "(%s, %s, %s, %s, %s, '', '{}'::jsonb, 'unknown', '', NULL, '', %s, %s)"
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        chunk: list[tuple] = []
        for row in reader:
            chunk.append((tenant.pk, row[0][:16], row[1], row[2], row[3], now, now))
            if len(chunk) >= batch:
                with transaction.atomic(), connection.cursor() as cur:
                    execute_values(cur.cursor, sql, chunk, template=template, page_size=batch)
                chunk = []
        if chunk:
            with transaction.atomic(), connection.cursor() as cur:
                execute_values(cur.cursor, sql, chunk, template=template, page_size=batch)
    return rows / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (the bench creates its own database there).", file=sys.stderr)
        return 2
    from bench.common import bench_database_url

    db_url = bench_database_url("import")
    recreate_database(db_url)
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
    os.environ.setdefault("DEBUG", "1")
    if not os.environ.get("REDIS_URL"):
        print("Set REDIS_URL (the settings require Redis).", file=sys.stderr)
        return 2

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from contacts.importing import contacts_import
    from contacts.models import Contact
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        bad = write_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.rows:,} rows ({bad:,} with a bad number), {size_mb:.1f} MB CSV, machine shared with other work")

        runs = []
        for label in ("import (all new)", "re-import (all updates)"):
            started, cpu = time.perf_counter(), time.process_time()
            with path.open("rb") as f:
                result = contacts_import(tenant=tenant, fileobj=f, max_errors=10)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            runs.append((label, result, elapsed))
            print(
                f"{label:<26} {result.rows / elapsed:>9,.0f} rows/s  {elapsed:6.1f} s  "
                f"(Python CPU {cpu:5.1f} s = {result.rows / cpu:,.0f} rows per CPU-second)  "
                f"created {result.created:,} updated {result.updated:,} errors {result.error_count:,}"
            )
        assert Contact.objects.filter(tenant=tenant).count() == args.rows - bad

        with connection.cursor() as cur:
            cur.execute(
                "CREATE UNLOGGED TABLE IF NOT EXISTS bench_copy (phone_number text, first_name text, "
                "last_name text, email text, tags text, city text, consent_status text)"
            )
            cur.execute("TRUNCATE bench_copy")
        started = time.perf_counter()
        with path.open("rb") as f, connection.cursor() as cur:
            cur.copy_expert("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)", f)
        copy_elapsed = time.perf_counter() - started
        copy_rate = args.rows / copy_elapsed
        print(f"{'PostgreSQL COPY (ceiling)':<26} {copy_rate:>9,.0f} rows/s  {copy_elapsed:6.1f} s")

        # A reference: the same rows INSERTed (multi-row VALUES) in batches into the real contacts table (its
        # indexes and foreign key), no parsing, checks or tags: the usual way to bulk-write from Python.
        insert_rate = insert_ceiling(path, args.rows)
        print(f"{'multi-row insert reference':<26} {insert_rate:>9,.0f} rows/s  (into contacts; no parsing, no tags)")

    first_rate = runs[0][1].rows / runs[0][2]
    print(f"import / multi-row insert ratio: {first_rate / insert_rate:.2f}")
    print(f"load average while it ran: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    peak = peak_rss_mb()
    print(f"import / COPY ratio: {first_rate / copy_rate:.3f} ({copy_rate / first_rate:.0f}x slower than COPY)")
    print(f"peak resident memory: {peak:.0f} MB (whole process, Django and migrations included)")
    ok = first_rate >= 5000 and peak < 250
    print(f"goal (>= 5,000 rows/s, < 250 MB): {'met' if ok else 'NOT met'}")
    connection.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
