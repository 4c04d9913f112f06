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
