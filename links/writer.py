"""The click writer: drains the Redis click stream into the database in batches.

Reliable by construction: entries are read through a consumer group, written
(idempotently, see ``clicks_record``), and acknowledged and deleted only after
the database commit. Entries a dead writer had read but not acknowledged stay
pending and are claimed by the next writer once idle for ``LINKS_CLICK_CLAIM_IDLE``
seconds. Entries never read simply wait in the stream.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

from django.conf import settings
from django.db import DataError, IntegrityError

from .capture import redis_client, stream_key
from .services import clicks_record

logger = logging.getLogger(__name__)

GROUP = "writers"


def consumer_name(kind: str = "writer") -> str:
    return f"{kind}-{socket.gethostname()}-{os.getpid()}"


def _ensure_group(client) -> None:
    import redis

    try:
        client.xgroup_create(stream_key(), GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class ClickWriter:
    def __init__(self, *, consumer: str | None = None, batch_size: int | None = None, claim_idle: float | None = None):
        self.client = redis_client()
        self.consumer = consumer or consumer_name()
        self.batch_size = batch_size or settings.LINKS_CLICK_BATCH
        self.claim_idle_ms = int(1000 * (settings.LINKS_CLICK_CLAIM_IDLE if claim_idle is None else claim_idle))
        self.last_read = 0
        _ensure_group(self.client)

    def _write(self, entries) -> int:
        if not entries:
            return 0
        events = []
        for _entry_id, fields in entries:
            try:
                events.append(json.loads(fields["d"]))
            except (KeyError, TypeError, ValueError):
                logger.warning("links: dropped an unreadable click entry")
        written = self._record(events)
        ids = [entry_id for entry_id, _ in entries]
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(stream_key(), GROUP, *ids)
        pipe.xdel(stream_key(), *ids)
        pipe.execute()
        return written

    def _record(self, events: list[dict]) -> int:
        """Write a batch; a batch the database refuses for its data is written one by one, and the
        events it still refuses go to the dead-letter list (``<prefix>clicks:dead``) instead of
        blocking the queue. A database that is down raises: the batch stays pending."""
        try:
            return clicks_record(events=events)
        except (DataError, IntegrityError):
            logger.exception("links: a click batch was refused; writing it one by one")
        written = 0
        for event in events:
            try:
                written += clicks_record(events=[event])
            except (DataError, IntegrityError):
                logger.exception("links: a click event was refused; moved to the dead-letter list")
                self.client.rpush(f"{stream_key()}:dead", json.dumps(event))
        return written

    def claim_stale(self) -> int:
        """Write the entries other (dead) writers read but never acknowledged."""
        written = 0
        start = "0-0"
        while True:
            reply = self.client.xautoclaim(
                stream_key(), GROUP, self.consumer, self.claim_idle_ms, start_id=start, count=self.batch_size
            )
            start, entries = reply[0], [e for e in reply[1] if e and e[1] is not None]
            written += self._write(entries)
            if start in ("0-0", b"0-0"):
                return written

    def retry_own(self) -> int:
        """Write the entries this writer read but did not acknowledge (after a failed batch)."""
        written = 0
        while True:
            reply = self.client.xreadgroup(GROUP, self.consumer, {stream_key(): "0"}, count=self.batch_size)
            entries = [e for e in (reply[0][1] if reply else []) if e and e[1]]
            if not entries:
                return written
            written += self._write(entries)

    def run_once(self, *, block_ms: int | None = None) -> int:
        """Read and write one batch of new entries; returns clicks written."""
        reply = self.client.xreadgroup(GROUP, self.consumer, {stream_key(): ">"}, count=self.batch_size, block=block_ms)
        entries = reply[0][1] if reply else []
        self.last_read = len(entries)
        return self._write(entries)

    def drain(self, *, time_budget: float = 5.0) -> int:
        """Claim stale entries, then write batches until the stream is empty or the budget is spent."""
        deadline = time.monotonic() + time_budget
        written = self.claim_stale()
        while time.monotonic() < deadline:
            reply = self.client.xreadgroup(GROUP, self.consumer, {stream_key(): ">"}, count=self.batch_size)
            entries = reply[0][1] if reply else []
            if not entries:
                break
            written += self._write(entries)
        return written

    def backlog(self) -> int:
        """Entries in the stream (unread plus read-but-unacknowledged)."""
        return int(self.client.xlen(stream_key()))

    def forget_idle_consumers(self, *, idle_seconds: int = 3600) -> None:
        """Drop consumer names of writers long gone (only those holding nothing)."""
        for info in self.client.xinfo_consumers(stream_key(), GROUP):
            if info.get("pending", 0) == 0 and info.get("idle", 0) > idle_seconds * 1000:
                if info.get("name") != self.consumer:
                    self.client.xgroup_delconsumer(stream_key(), GROUP, info["name"])
