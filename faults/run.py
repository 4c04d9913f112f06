"""``python -m faults``: run every fault case once and write the figures into docs/reliability.md.

    python -m faults                      # every case; rewrites the table between the markers
    python -m faults --cases baseline,redis_restart --no-write

Exits non-zero when any case lost or doubled a message or did not finish.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from .cases import CASES, FINISH_TIMEOUT, CaseResult
from .harness import TIMINGS, Stack

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


def _revision() -> str:
    """The commit the run measured (``-dirty``: with uncommitted changes)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=DOC.parent.parent, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def table(results: list[CaseResult], *, command: str, seconds: float, env: dict[str, str] | None = None) -> str:
    rows = [
        "| case | recipients | created once | doubles | missing | finished after the fault (s) | left unresolved |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if r.error:
            rows.append(f"| {r.name} | | | | | harness error | {r.error.splitlines()[0][:120]} |")
            continue
        finish = f"{r.seconds_to_finish:.1f}" if r.seconds_to_finish is not None else f"not in {FINISH_TIMEOUT:g} s"
        left = ", ".join(f"{n} {s}" for s, n in r.leftover.items()) or "none"
        if r.status != "sent":
            left += f" (campaign {r.status})"
        name = r.name if r.fault_hit else f"{r.name} (fault missed)"
        rows.append(f"| {name} | {r.recipients} | {r.created_once} | {r.doubles} | {r.missing} | {finish} | {left} |")
    passed = sum(r.ok for r in results)
    settings = {**TIMINGS, **(env or {})}
    timings = ", ".join(f"{k}={v}" for k, v in settings.items() if k.startswith(("SENDING_", "TWILIO_")))
    rows += [
        "",
        f"{passed} of {len(results)} cases exactly once. Run on {dt.date.today().isoformat()} at {_revision()} "
        f"with `{command}` in {seconds:.0f} s (2 cores; PostgreSQL 16 and Valkey 8.1 from devservices; {timings}).",
    ]
    return "\n".join(rows)


def write_table(text: str, doc: Path = DOC) -> None:
    content = doc.read_text()
    start, end = content.find(BEGIN), content.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{doc} has no {BEGIN} … {END} markers")
    doc.write_text(content[: start + len(BEGIN)] + "\n" + text + "\n" + content[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: every case)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/reliability.md alone")
    parser.add_argument("--keep-dir", action="store_true", help="keep the stack's directory (logs) afterwards")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="another setting for the stack (repeatable)"
    )
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)

    chosen = [c for c in CASES if not args.cases or c.__name__ in args.cases.split(",")]
    if not chosen:
        raise SystemExit(f"no such case; cases: {', '.join(c.__name__ for c in CASES)}")
    started = time.monotonic()
    results: list[CaseResult] = []
    stack = Stack(keep_dir=args.keep_dir, extra_env=extra_env)
    try:
        stack.start()
        print(f"stack up in {time.monotonic() - started:.0f} s (logs in {stack.workdir})")
        for case in chosen:
            t0 = time.monotonic()
            try:
                stack.reset()
                result = case(stack)
            except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others' figures
                result = CaseResult.failed(case.__name__, exc)
            results.append(result)
            print(f"[{time.monotonic() - t0:5.1f} s] {'ok  ' if result.ok else 'FAIL'} {result.summary()}", flush=True)
    finally:
        stack.close()
    seconds = time.monotonic() - started
    command = "python -m faults" + (f" --cases {args.cases}" if args.cases else "")
    command += "".join(f" --env {item}" for item in args.env)
    text = table(results, command=command, seconds=seconds, env=extra_env)
    print("\n" + text)
    if not args.no_write:
        write_table(text)
        print(f"\nwritten to {DOC}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
