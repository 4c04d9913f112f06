"""Drain the Redis click stream into the database, batch by batch, until stopped."""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand, CommandError

from links.capture import capture_mode
from links.writer import ClickWriter


class Command(BaseCommand):
    help = "Write queued clicks to the database in batches (runs until SIGTERM/SIGINT; --once drains and exits)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Write what is queued, then exit.")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--block-ms", type=int, default=1000, help="How long one read waits for new clicks.")
        parser.add_argument(
            "--linger-ms",
            type=int,
            default=250,
            help="After a short batch, wait this long so the next one is fuller (fewer, cheaper transactions).",
        )
        parser.add_argument(
            "--claim-idle", type=float, default=None, help="Seconds before a dead writer's batch is taken over."
        )

    def handle(self, *args, once, batch_size, block_ms, linger_ms, claim_idle, **opts):
        if capture_mode() != "redis":
            raise CommandError("Clicks are written directly (no REDIS_URL): there is no queue to drain.")
        writer = ClickWriter(batch_size=batch_size, claim_idle=claim_idle)
        if once:
            total = writer.retry_own() + writer.drain(time_budget=3600)
            self.stdout.write(f"wrote {total} clicks")
            return
        stopping = False

        def stop(_signum, _frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        total = writer.claim_stale()
        last_claim = time.monotonic()
        failed = False
        while not stopping:
            try:
                if failed:
                    total += writer.retry_own()
                    failed = False
                total += writer.run_once(block_ms=block_ms)
                if 0 < writer.last_read < writer.batch_size and linger_ms:
                    time.sleep(linger_ms / 1000)
                if time.monotonic() - last_claim > 30:
                    total += writer.claim_stale()
                    writer.forget_idle_consumers()
                    last_claim = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep running; the batch stays pending and is retried
                self.stderr.write(f"click batch failed ({type(exc).__name__}); retrying in 1 s")
                failed = True
                time.sleep(1)
        self.stdout.write(f"wrote {total} clicks")
