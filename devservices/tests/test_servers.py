"""A private PostgreSQL and Redis on free ports: start, query, stop, crash, restart; nothing left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import redis

from devservices import Postgres, Redis, ServiceError, free_port
from devservices.servers import _pid_alive, port_answers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres(tmp_path):
    server = Postgres(tmp_path / "pg", free_port())
    yield server
    server.stop("immediate")
    assert not server.running()


@pytest.fixture
def redis_server(tmp_path):
    server = Redis(tmp_path / "redis", free_port())
    yield server
    server.stop("immediate")
    assert not server.running()


def _query(url: str, sql: str, params=()):
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_postgres_lifecycle(postgres):
    assert not postgres.running()
    postgres.start()
    postgres.start()  # idempotent
    assert postgres.running()
    pid = postgres.pid()
    assert postgres.url("x") == f"postgres://postgres@127.0.0.1:{postgres.port}/x"
    version = _query(postgres.url(), "SHOW server_version_num")[0][0]
    assert version.startswith("16")  # the major version production runs

    postgres.create_database("app")
    postgres.create_database("app")  # if missing: a second call is a no-op
    _query(postgres.url("app"), "CREATE TABLE t (n int)")
    _query(postgres.url("app"), "INSERT INTO t VALUES (1), (2)")

    postgres.stop()
    assert not postgres.running()
    assert not _pid_alive(pid)
    assert not port_answers("127.0.0.1", postgres.port)
    postgres.stop()  # stopping a stopped server is fine

    postgres.start()  # the same cluster again: the data is there
    assert _query(postgres.url("app"), "SELECT sum(n) FROM t") == [(3,)]


def test_postgres_immediate_stop_recovers_committed_rows(postgres):
    postgres.start()
    postgres.create_database("app")
    _query(postgres.url("app"), "CREATE TABLE t (n int)")
    _query(postgres.url("app"), "INSERT INTO t SELECT generate_series(1, 1000)")
    pid = postgres.pid()
    postgres.stop("immediate")  # like a crash: no checkpoint
    assert not _pid_alive(pid)
    postgres.start()
    assert _query(postgres.url("app"), "SELECT count(*) FROM t") == [(1000,)]
    assert "database system was interrupted" in postgres.log.read_text() or "redo" in postgres.log.read_text()


def test_postgres_restart_breaks_open_connections(postgres):
    postgres.start()
    conn = psycopg2.connect(postgres.url(), connect_timeout=5)
    old = postgres.pid()
    postgres.restart()
    assert postgres.running() and postgres.pid() != old
    with pytest.raises(psycopg2.Error):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    conn.close()
    assert _query(postgres.url(), "SELECT 1") == [(1,)]


def test_two_postgres_side_by_side(tmp_path, postgres):
    other = Postgres(tmp_path / "other", free_port())
    try:
        postgres.start()
        other.start()
        postgres.create_database("only_here")
        names = {r[0] for r in _query(other.url(), "SELECT datname FROM pg_database")}
        assert "only_here" not in names
        other.stop()
        assert postgres.running() and not other.running()
    finally:
        other.stop("immediate")


def test_postgres_port_taken_is_an_error(tmp_path, postgres):
    postgres.start()
    clash = Postgres(tmp_path / "clash", postgres.port)
    try:
        with pytest.raises(ServiceError):
            clash.start()
    finally:
        clash.stop("immediate")
    assert postgres.running()


def test_stop_mode_is_checked(postgres, redis_server):
    with pytest.raises(ValueError):
        postgres.stop("gently")
    with pytest.raises(ValueError):
        redis_server.stop("gently")


def test_redis_lifecycle_keeps_data_across_restart(redis_server):
    redis_server.start()
    redis_server.start()
    assert redis_server.running()
    assert redis_server.url(3) == f"redis://127.0.0.1:{redis_server.port}/3"
    client = redis.Redis.from_url(redis_server.url(3))
    client.set("k", "v")
    client.xadd("s", {"d": "1"})
    old = redis_server.pid()
    redis_server.restart()  # SIGTERM flushes the append-only file
    assert redis_server.pid() != old
    assert client.get("k") == b"v"
    assert client.xlen("s") == 1
    client.close()
    redis_server.stop()
    assert not redis_server.running() and not _pid_alive(old)
    assert not port_answers("127.0.0.1", redis_server.port)


def test_redis_immediate_stop(redis_server):
    redis_server.start()
    pid = redis_server.pid()
    redis_server.stop("immediate")
    assert not _pid_alive(pid)
    redis_server.start()
    assert redis.Redis.from_url(redis_server.url()).ping()


def test_servers_outlive_the_callers_process_group(tmp_path):
    """Started from a child in its own process group: killing that group leaves the servers to stop()."""
    pg, rs = Postgres(tmp_path / "pg", free_port()), Redis(tmp_path / "redis", free_port())
    code = (
        "import sys; from pathlib import Path; from devservices import Postgres, Redis;"
        f"Postgres(Path({str(pg.data_dir)!r}), {pg.port}).start(); Redis(Path({str(rs.data_dir)!r}), {rs.port}).start()"
    )
    try:
        child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True)
        assert child.wait(timeout=120) == 0
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.2)
        assert pg.running() and rs.running()
    finally:
        pg.stop()
        rs.stop()
    assert not pg.running() and not rs.running()


def test_free_port_is_free():
    port = free_port()
    assert 1024 < port < 65536
    assert not port_answers("127.0.0.1", port)
