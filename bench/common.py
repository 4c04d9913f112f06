"""What the benchmarks share: a database of their own beside the one DATABASE_URL names."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse, urlunparse


def bench_database_url(suffix: str) -> str:
    """``BENCH_DATABASE_URL``, else DATABASE_URL's database with ``_<suffix>`` added (PostgreSQL only)."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit(f"Set DATABASE_URL to a PostgreSQL server (the benchmark uses <name>_{suffix} on it).")
    if os.environ.get("BENCH_DATABASE_URL"):
        return url
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=parsed.path.rstrip("/") + f"_{suffix}"))


def ensure_database(url: str) -> None:
    """Create the database ``url`` names unless it exists."""
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(urlunparse(parsed._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def contacts_copy(tenant_id: int, n: int) -> None:
    """``n`` contacts for one tenant by one COPY (distinct US numbers, a few first and last names)."""
    import io

    from django.db import connection

    buf = io.StringIO()
    for i in range(n):
        phone = f"+1{415 + i // 8_000_000}{2_000_000 + i % 8_000_000:07d}"
        buf.write(f"{tenant_id}\t{phone}\tFirst{i % 977}\tLast{i % 613}\t\t\t{{}}\tunknown\t\t\\N\t\tnow\tnow\n")
    buf.seek(0)
    with connection.cursor() as cur:
        cur.copy_expert(
            "COPY contacts_contact (tenant_id, phone_number, first_name, last_name, email, timezone, custom_fields, "
            "consent_status, consent_source, consent_at, consent_text, created_at, updated_at) FROM STDIN",
            buf,
        )
        cur.execute("ANALYZE contacts_contact")
