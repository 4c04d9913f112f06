"""``python -m devservices``: start, stop or run a command with the embedded PostgreSQL and Redis.

    python -m devservices run --dir var/services --database smscampaigns -- CMD ...
        Starts whatever the environment lacks (a DATABASE_URL or REDIS_URL already set wins and that server is
        not started), exports DATABASE_URL and REDIS_URL, runs CMD in its own process group, and when CMD ends
        or this process gets SIGINT/SIGTERM/SIGHUP (or its parent dies): ends CMD's whole process group, then
        stops the servers it started.
    python -m devservices start --dir var/services [--database NAME]   # prints export lines; servers keep running
    python -m devservices stop --dir var/services
    python -m devservices status --dir var/services

The ports are kept in DIR/ports.json: the preferred ones (--pg-port, --redis-port) the first time, or free
ones when those are taken.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devservices.servers import Postgres, Redis, free_port, port_answers

GROUP_STOP_TIMEOUT = 20.0


def _ports(directory: Path, pg_port: int, redis_port: int) -> dict[str, int]:
    """The ports this directory's servers use, chosen once and kept in ports.json."""
    path = directory / "ports.json"
    try:
        ports = json.loads(path.read_text())
    except (OSError, ValueError):
        ports = {}
    changed = False
    for name, preferred in (("postgres", pg_port), ("redis", redis_port)):
        if not isinstance(ports.get(name), int):
            ports[name] = preferred
            changed = True
    servers = _servers(directory, ports)
    for name, server in servers.items():
        # Taken by something else (not this directory's server): move to a free port.
        if server.pid() is None and port_answers(server.host, ports[name]):
            ports[name] = free_port()
            changed = True
    if changed:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports) + "\n")
    return ports


def _servers(directory: Path, ports: dict[str, int]) -> dict[str, Postgres | Redis]:
    return {
        "postgres": Postgres(directory / "postgres", ports["postgres"]),
        "redis": Redis(directory / "redis", ports["redis"]),
    }


def _start(args: argparse.Namespace, wanted: tuple[str, ...], started: list[Postgres | Redis]) -> dict[str, str]:
    """Start the wanted servers, adding each one this call started to ``started``; return the URLs to export."""
    directory = Path(args.dir).resolve()
    servers = _servers(directory, _ports(directory, args.pg_port, args.redis_port))
    urls: dict[str, str] = {}
    for name in wanted:
        server = servers[name]
        was_running = server.running()
        t0 = time.monotonic()
        if not was_running:
            started.append(server)
        server.start()
        if not was_running:
            print(f"devservices: {name} started in {time.monotonic() - t0:.2f} s ({server.data_dir})", file=sys.stderr)
        if isinstance(server, Postgres):
            server.create_database(args.database)
            urls["DATABASE_URL"] = server.url(args.database)
        else:
            urls["REDIS_URL"] = server.url(args.redis_db)
    return urls


def _stop_all(servers: list[Postgres | Redis]) -> None:
    for server in reversed(servers):
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others, then report
            print(f"devservices: could not stop {server!r}: {exc}", file=sys.stderr)


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent (make) dies, so a killed ``make`` still stops what we started."""
    pr_set_pdeathsig = 1
    _prctl(pr_set_pdeathsig, signal.SIGTERM)


def _adopt_orphans() -> None:
    """Linux: become the subreaper of the command's descendants, so the ones whose parent died are ours to reap
    (a zombie still counts as a member of its process group)."""
    pr_set_child_subreaper = 36
    _prctl(pr_set_child_subreaper, 1)


def _reap(child: subprocess.Popen) -> None:
    """Collect exited children: the command first (its exit status matters), then adopted orphans."""
    if child.poll() is None:
        return
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_group(child: subprocess.Popen) -> None:
    """SIGTERM every process of the command's group, then SIGKILL what is left after GROUP_STOP_TIMEOUT."""
    pgid = child.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(child)
        return
    deadline = time.monotonic() + GROUP_STOP_TIMEOUT
    while True:
        _reap(child)
        if not _group_alive(pgid) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if _group_alive(pgid):
        print(f"devservices: processes of group {pgid} still running; killing them", file=sys.stderr)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.2)
        _reap(child)


def cmd_run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("devservices run: no command given (put it after --)", file=sys.stderr)
        return 2
    _die_with_parent()
    stopping = False

    def on_signal(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    given = {"DATABASE_URL": "postgres", "REDIS_URL": "redis"}
    wanted = tuple(name for var, name in given.items() if not os.environ.get(var))
    started: list[Postgres | Redis] = []
    child: subprocess.Popen | None = None
    try:
        urls = _start(args, wanted, started)
        env = {**os.environ, **urls}
        if args.banner:
            where = f"embedded in {args.dir}"
            print(
                f"{args.banner}: database {env['DATABASE_URL']} ({where if 'DATABASE_URL' in urls else 'given'}), "
                f"Redis {env['REDIS_URL']} ({where if 'REDIS_URL' in urls else 'given'})",
                flush=True,
            )
        _adopt_orphans()  # after the servers started: they are not the command's, they must not be ours either
        child = subprocess.Popen(command, env=env, start_new_session=True)
        returncode = child.wait()
    except KeyboardInterrupt:
        returncode = 130
    finally:
        # Ignore further signals while cleaning up (a second Ctrl-C must not leave servers behind).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if child is not None:
            _end_group(child)
        _stop_all(started)
        if started:
            print("devservices: stopped " + ", ".join(repr(s) for s in started), file=sys.stderr)
    return 130 if stopping else returncode


def cmd_start(args: argparse.Namespace) -> int:
    urls = _start(args, ("postgres", "redis"), [])
    for name, url in urls.items():
        print(f"export {name}={url}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    if not (directory / "ports.json").exists():
        return 0
    servers = _servers(directory, _ports(directory, args.pg_port, args.redis_port))
    _stop_all([s for s in servers.values() if s.pid() is not None])
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    if not (directory / "ports.json").exists():
        print(f"no services in {directory}")
        return 1
    servers = _servers(directory, _ports(directory, args.pg_port, args.redis_port))
    up = True
    for name, server in servers.items():
        running = server.running()
        up = up and running
        url = server.url(args.database) if isinstance(server, Postgres) else server.url(args.redis_db)
        print(f"{name}: {'running' if running else 'stopped'} {url} pid={server.pid()}")
    return 0 if up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservices", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name, func in (("run", cmd_run), ("start", cmd_start), ("stop", cmd_stop), ("status", cmd_status)):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        p.add_argument("--dir", default="var/services", help="where the servers keep their data (default var/services)")
        p.add_argument("--pg-port", type=int, default=54329, help="preferred PostgreSQL port (first start)")
        p.add_argument("--redis-port", type=int, default=63799, help="preferred Redis port (first start)")
        p.add_argument("--database", default="smscampaigns", help="database to create and put in DATABASE_URL")
        p.add_argument("--redis-db", type=int, default=0, help="Redis database number in REDIS_URL")
        if name == "run":
            p.add_argument("--banner", default="", help="print '<banner>: database URL, Redis URL' before CMD")
            p.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
