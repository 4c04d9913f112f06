"""A private stack to break on purpose: PostgreSQL, Redis, Celery workers, beat and a Twilio-compatible server.

Everything runs on free ports in a temporary directory, never on the system's
PostgreSQL or Redis, so a case may kill, stop or restart any piece:

- PostgreSQL and Redis from ``devservices`` (servers from pip packages). A Redis
  restart here loses what Redis held (killed, then started on an empty directory),
  as a crash of a Redis without persistence would: every queued task is gone.
- ``FakeTwilio`` (gateways.fake_twilio) in this process: it counts the messages it
  created per recipient, which is the ground truth of "exactly once", and injects
  the gateway's faults.
- one ``celery worker`` (prefork) and a separate ``celery beat``, each in its own
  process group, so a SIGKILL takes the pool's children too and beat can stop alone.
  Both run supervised, as in production (compose's ``restart: unless-stopped``): a
  worker or beat that exits on its own is started again 1 s later and the case's
  report says so. Celery 5.7's worker can die of a broker cut ("Unrecoverable
  error", an AttributeError in kombu's close of the lost connection); a process
  manager is part of any deployment, so the cases test the app under one. A piece
  a case kills on purpose is the case's to restart.
- ``python -m faults.agent`` for the database work that needs Django (seeding,
  ``campaign_send``): this process may be pytest, whose Django is bound to the
  test database. Polling reads the stack's database directly (psycopg2), to be quick.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from devservices import Postgres, Redis, free_port
from gateways.fake_twilio import FakeTwilio

BASE_DIR = Path(__file__).resolve().parent.parent
DB_NAME = "smsc_h3_faults"

#: Message statuses a finished campaign must have none of.
NOT_FINAL = ("pending", "sending", "unknown")

#: The stack's timings, in seconds, short enough for a suite that runs in minutes (see docs/reliability.md).
TIMINGS = {
    "TWILIO_HTTP_TIMEOUT": "2",
    "SENDING_CLAIM_TIMEOUT": "6",
    "SENDING_UNKNOWN_GRACE_SECONDS": "8",
    "SENDING_STALL_SECONDS": "5",
    "SENDING_TICK_SECONDS": "1",
    "SENDING_PARKED_STALE_SECONDS": "5",
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}

#: Variables of the calling process that must not reach the stack (pytest's, another database's).
_DROPPED_ENV = (
    "PYTEST_VERSION",
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_WORKER",
    "TEST_DATABASE_NAME",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_BROKER_URL",
    "DJANGO_SETTINGS_MODULE",
)


class Proc:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, ready: str | None) -> None:
        self.name = name
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        if ready:
            deadline = time.monotonic() + 60
            while ready not in self.output():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"{name} did not start:\n{self.output()[-3000:]}")
                time.sleep(0.1)

    def output(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the prefork pool's children die with their parent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()


class Stack:
    """Start with ``Stack().start()``; ``close()`` stops everything and removes the temporary directory."""

    def __init__(
        self,
        *,
        concurrency: int = 2,
        latency: float = 0.05,
        keep_dir: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.extra_env = dict(extra_env or {})
        self.latency = latency
        self.keep_dir = keep_dir
        self.workdir = Path(tempfile.mkdtemp(prefix="smsc-faults-"))
        self.pg = Postgres(self.workdir / "pg", free_port(), settings={"fsync": "off", "max_connections": "200"})
        self.redis_port = free_port()
        self._redis_generation = 0
        self.redis = Redis(self.workdir / "redis-0", self.redis_port)
        self.fake = FakeTwilio(latency=latency)
        self.env: dict[str, str] = {}
        self.workers: list[Proc] = []
        self.beat: Proc | None = None
        self._db = None
        #: What the supervisor restarted: one line each, for the case's report.
        self.restarts: list[str] = []
        self._pieces = threading.RLock()  # the supervisor and the case both start and kill workers and beat
        self._stop_supervisor = threading.Event()
        self._supervisor: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Stack:
        from cryptography.fernet import Fernet

        self.pg.start()
        self.pg.create_database(DB_NAME)
        self.redis.start()
        self.fake.start()
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(
            {
                "DATABASE_URL": self.pg.url(DB_NAME),
                "REDIS_URL": self.redis.url(0),
                "CELERY_BROKER_URL": self.redis.url(0),
                "SMS_GATEWAY": "twilio",
                "TWILIO_API_BASE_URL": self.fake.base_url,
                "PUBLIC_BASE_URL": "http://127.0.0.1:9",  # status callbacks are not part of these cases
                "DEBUG": "1",
                "SECRET_KEY": "faults-" + uuid.uuid4().hex,
                "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "SENDING_THROTTLE_ENABLED": "1",
                "FANOUT_CHUNK_SIZE": "50",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                **TIMINGS,
                **self.extra_env,
            }
        )
        self.env = env
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], env=env, cwd=BASE_DIR, capture_output=True, text=True
        )
        if migrate.returncode:
            raise RuntimeError("migrate failed:\n" + migrate.stdout[-2000:] + migrate.stderr[-3000:])
        self.start_workers()
        self.start_beat()
        self._supervisor = threading.Thread(target=self._supervise, name="faults-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def close(self) -> None:
        self._stop_supervisor.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=70)
        with self._pieces:
            for proc in [*self.workers, *([self.beat] if self.beat else [])]:
                proc.kill()
            self.workers, self.beat = [], None
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001, S110 - closing a connection to a server that may be gone
                pass
            self._db = None
        self.fake.stop()
        for service in (self.redis, self.pg):
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                print(f"faults: could not stop {type(service).__name__}: {exc}", file=sys.stderr)
        if not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the pieces, one at a time ------------------------------------------------------

    def _worker(self) -> Proc:
        name = f"faults-{uuid.uuid4().hex[:6]}@%h"
        cmd = [
            sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool=prefork",
            f"--concurrency={self.concurrency}", "--loglevel=INFO", "-n", name, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        return Proc("worker", cmd, self.env, self.workdir / "worker.log", ready="ready.")

    def _beat(self) -> Proc:
        cmd = [
            sys.executable, "-m", "celery", "-A", "smscampaigns", "beat", "--loglevel=INFO",
            "-s", str(self.workdir / "beat-schedule"),
        ]  # fmt: skip
        return Proc("beat", cmd, self.env, self.workdir / "beat.log", ready="Starting...")

    def start_workers(self) -> None:
        with self._pieces:
            self.workers.append(self._worker())

    def kill_workers(self) -> None:
        with self._pieces:
            for worker in self.workers:
                worker.kill()
            self.workers = []

    def start_beat(self) -> None:
        with self._pieces:
            self.beat = self._beat()

    def stop_beat(self) -> None:
        with self._pieces:
            if self.beat:
                self.beat.kill()
            self.beat = None

    def _supervise(self) -> None:
        """Start again, 1 s after it exited, a worker or beat that died on its own (not one a case killed: that
        one has left ``workers``/``beat`` already), as compose's ``restart: unless-stopped`` does."""
        while not self._stop_supervisor.wait(0.5):
            with self._pieces:
                dead = [w for w in self.workers if not w.alive()]
                beat_dead = self.beat is not None and not self.beat.alive()
            if not dead and not beat_dead:
                continue
            if self._stop_supervisor.wait(1.0):
                return
            with self._pieces:
                for worker in dead:
                    if worker in self.workers:
                        self._restart(worker, self._worker, lambda new, old=worker: self._replace_worker(old, new))
                if beat_dead and self.beat is not None and not self.beat.alive():
                    self._restart(self.beat, self._beat, lambda new: setattr(self, "beat", new))

    def _replace_worker(self, old: Proc, new: Proc) -> None:
        self.workers[self.workers.index(old)] = new

    def _restart(self, old: Proc, start: Callable[[], Proc], put: Callable[[Proc], None]) -> None:
        code = old.proc.returncode
        try:  # what the dead one left in its group (a prefork pool's children), as systemd's control group would
            os.killpg(old.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            put(start())
        except RuntimeError as exc:  # it would not start (the broker still down): the next round tries again
            self.restarts.append(f"{old.name} exited (code {code}); restart failed, trying again: {str(exc)[:200]}")
            return
        self.restarts.append(f"{old.name} exited on its own (code {code}); restarted by the supervisor")

    def stop_redis(self) -> None:
        """Kill Redis; ``start_redis`` brings up an empty one on the same port (the queued tasks are gone)."""
        self.redis.stop("immediate")
        self._redis_generation += 1
        self.redis = Redis(self.workdir / f"redis-{self._redis_generation}", self.redis_port)

    def start_redis(self) -> None:
        self.redis.start()

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    def restart_postgres(self, mode: str = "fast") -> None:
        self._drop_db()
        self.pg.stop(mode)
        self.pg.start()

    def ensure_up(self) -> None:
        """Every piece running again (after a case that failed half-way)."""
        if not self.pg.running():
            self.pg.start()
        if not self.redis.running():
            self.redis.start()
        with self._pieces:
            self.workers = [w for w in self.workers if w.alive()]
            if not self.workers:
                self.start_workers()
            if self.beat is None or not self.beat.alive():
                self.start_beat()

    def reset(self) -> None:
        """Between cases: faults off, every piece up, no periodic job's lock left by a worker an earlier case
        killed (its failure is that case's, not the next's). Seeding the next case cancels any campaign an
        earlier one left sending (``seed --cancel-others``: one Django start instead of two)."""
        self.clear_faults()
        self.ensure_up()
        self.drop_locks()

    # --- the gateway ------------------------------------------------------------------

    def add_account(self, sid: str, token: str) -> None:
        self.fake.accounts[sid] = token

    def inject(self, kind: str, **kwargs) -> None:
        self.fake.inject(kind, **kwargs)

    def clear_faults(self) -> None:
        clear = getattr(self.fake, "clear_faults", None)
        if clear is not None:
            clear()

    def created_by_to(self, account_sid: str) -> Counter:
        """Messages the gateway created for this account, per recipient (each is a text on a phone)."""
        created = self.fake.created() if hasattr(self.fake, "created") else list(self.fake.messages.values())
        return Counter(m["to"] for m in created if m.get("account_sid") == account_sid)

    # --- the database -------------------------------------------------------------------

    def agent(self, *args: str, timeout: float = 120) -> dict:
        """``python -m faults.agent <args>`` with the stack's environment; its JSON answer."""
        proc = subprocess.run(
            [sys.executable, "-m", "faults.agent", *args],
            env=self.env,
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode:
            raise RuntimeError(f"faults.agent {args[0]} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def _drop_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001, S110 - the server may be gone already
                pass
        self._db = None

    def query(self, sql: str, params: list | tuple = ()) -> list[tuple] | None:
        """Rows, or None when the database cannot be asked right now (it is being restarted)."""
        import psycopg2

        try:
            if self._db is None or self._db.closed:
                self._db = psycopg2.connect(
                    host="127.0.0.1", port=self.pg.port, user="postgres", dbname=DB_NAME, connect_timeout=2
                )
                self._db.autocommit = True
            with self._db.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except psycopg2.Error:
            self._drop_db()
            return None

    def campaign_status(self, campaign_id: int) -> str | None:
        rows = self.query("SELECT status FROM campaigns_campaign WHERE id = %s", [campaign_id])
        return rows[0][0] if rows else None

    def message_counts(self, campaign_id: int) -> dict[str, int] | None:
        rows = self.query(
            "SELECT status, count(*) FROM campaigns_message WHERE campaign_id = %s GROUP BY status", [campaign_id]
        )
        return None if rows is None else dict(rows)

    def fanned_out(self, campaign_id: int) -> bool | None:
        rows = self.query("SELECT fanned_out_at IS NOT NULL FROM campaigns_campaign WHERE id = %s", [campaign_id])
        return rows[0][0] if rows else None

    def lock_held(self, job: str) -> bool:
        """Whether a periodic job's lock (common.locks: ``lock:<app>.<job>`` in the cache) is taken: it is running."""
        import redis

        try:
            return bool(redis.Redis.from_url(self.redis.url(0), socket_timeout=1).keys(f"*lock:*{job}"))
        except redis.RedisError:
            return False

    def drop_locks(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis.url(0), socket_timeout=2)
        for key in client.scan_iter(match="*lock:*", count=1000):
            client.delete(key)

    def redis_locks(self) -> dict[str, float]:
        """Lock keys in Redis and their seconds to live (what a periodic job waits on), for diagnosis."""
        import redis

        try:
            client = redis.Redis.from_url(self.redis.url(0), socket_timeout=2)
            return {key.decode(): client.ttl(key) for key in client.scan_iter(match="*lock*", count=1000)}
        except redis.RedisError:
            return {}

    # --- waiting ------------------------------------------------------------------------

    @staticmethod
    def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)

    def log_lines(self, *needles: str, limit: int = 20) -> list[str]:
        """Lines of the workers' and beat's logs that carry any of ``needles``: the last ``limit`` of each log (a
        failure report shows what the worker said last, not only beat's complaints)."""
        lines: list[str] = []
        for name in ("worker.log", "beat.log"):
            path = self.workdir / name
            if path.exists():
                text = path.read_text(errors="replace")
                found = [line for line in text.splitlines() if any(n in line for n in needles)]
                lines.extend(f"{name}: {line}" for line in found[-limit:])
        return lines
