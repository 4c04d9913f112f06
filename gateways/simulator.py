"""A fake gateway for demos and load tests.

It accepts every message, assigns a Twilio-shaped SID and reports the outcome
back through the same code path a Twilio status callback takes: ``sent`` after
``SIMULATOR_REPORT_DELAY`` seconds, then the final status one delay later.
Outcomes are decided by the number, so demos are repeatable:

- ending in 13: undelivered (30003); ending in 66: failed (30006);
- ending in 99: refused at send (21211, invalid number);
- ending in 98: refused at send (21610, the recipient opted out at the carrier);
- everything else is delivered, and when the body carries a short link and the
  number's last digit is even, the recipient "taps" it: a GET with a phone's
  User-Agent on the link, through the real redirect view (when the web server
  is up), a few seconds after delivery;
- through a Messaging Service sender (``MG…``, where Twilio tries RCS first), a
  number ending in 77 is an RCS handset: its reports name the channel (``ChannelPrefix=rcs``,
  ``rcs:`` addresses) and a ``read`` receipt follows ``delivered`` one delay later.
  A phone-number sender never gets RCS, so existing demos and tests are unchanged.

Every message it creates is remembered for two days in Django's cache (Redis
when ``REDIS_URL`` is set, so every worker sees it), so ``fetch`` and ``lookup``
answer truthfully, with the status the callbacks report by then. With
``SIMULATOR_CUT_RATE`` (a fraction, default 0) that share of sends ends in an
unknown outcome (``GatewayError(outcome_unknown=True)``): half before the
message was created, half after (it went out, and its reports follow).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from datetime import UTC, datetime

from django.core.cache import cache

from common.enqueue import task_send

from .base import CODE_NOT_FOUND, FetchResult, FoundMessage, GatewayError, OutboundSMS, SendResult

#: Its reports and clicks are tasks put on the broker by name (``gateways.tasks``: nothing here imports them).
REPORT = "gateways.tasks.simulator_report"
CLICK = "gateways.tasks.simulator_click"
OUTCOMES = {"13": ("undelivered", 30003), "66": ("failed", 30006)}
#: Numbers that read their messages over RCS when the sender is a Messaging Service.
RCS_SUFFIX = "77"
REFUSALS = {
    "99": (21211, "The 'To' number is not a valid phone number."),
    "98": (21610, "Attempt to send to unsubscribed recipient"),
}


def outcome_for(to: str) -> tuple[str, int | None]:
    return OUTCOMES.get(to[-2:], ("delivered", None))


def channel_for(tenant, to: str) -> str | None:
    """``rcs`` for an RCS handset reached through a Messaging Service, else None (an SMS: nothing to say)."""
    return "rcs" if tenant.uses_messaging_service and to.endswith(RCS_SUFFIX) else None


def clicks(to: str) -> bool:
    return outcome_for(to)[0] == "delivered" and to[-1:].isdigit() and int(to[-1]) % 2 == 0


def short_link_in(body: str) -> str | None:
    from django.conf import settings

    match = re.search(re.escape(settings.SHORT_LINK_BASE_URL) + r"/[A-Za-z0-9]+", body)
    return match.group(0) if match else None


class SentLog:
    """The messages a gateway without a provider created, in the cache for ``TTL`` seconds.

    Per message ``{prefix}:m:{sid}`` holds the record; per (tenant, number) a
    counter (``cache.incr``: atomic, so concurrent senders never overwrite each
    other) numbers the messages and ``{prefix}:i:{tenant}:{number}:{n}`` points
    at the n-th one's SID. The number is hashed (no phone numbers in key names).
    A record's status is computed when asked: ``initial`` until ``delay``
    seconds, ``sent`` until twice that when the outcome is ``delivered``, then
    the outcome (what the simulator's status callbacks report by then).
    """

    TTL = 2 * 24 * 3600
    CHUNK = 50

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _counter(self, tenant_id: int, to: str) -> str:
        return f"{self.prefix}:n:{tenant_id}:{_hashed(to)}"

    def _index(self, tenant_id: int, to: str, n: int) -> str:
        return f"{self.prefix}:i:{tenant_id}:{_hashed(to)}:{n}"

    def _message(self, sid: str) -> str:
        return f"{self.prefix}:m:{sid}"

    def record(
        self,
        tenant,
        *,
        sid: str,
        sms: OutboundSMS,
        initial: str,
        outcome: str,
        error_code: int | None,
        delay: float,
        channel: str | None = None,
    ) -> None:
        counter = self._counter(tenant.pk, sms.to)
        record = {
            "sid": sid,
            "tenant_id": tenant.pk,
            "to": sms.to,
            "sender": tenant.sender,
            "body": sms.body,
            "media_url": list(sms.media_url),  # an MMS's files, for tests and demos to see
            "created": time.time(),
            "initial": initial,
            "outcome": outcome,
            "error_code": error_code,
            "delay": delay,
            "channel": channel,
        }
        cache.set(self._message(sid), record, self.TTL)
        cache.add(counter, 0, self.TTL)
        try:
            n = cache.incr(counter)
        except ValueError:  # expired between add and incr
            cache.add(counter, 0, self.TTL)
            n = cache.incr(counter)
        cache.set(self._index(tenant.pk, sms.to, n), sid, self.TTL)
        cache.touch(counter, self.TTL)

    def fetch(self, tenant, sid: str) -> FetchResult:
        record = cache.get(self._message(sid))
        if record is None or record["tenant_id"] != tenant.pk:
            raise GatewayError(
                f"The requested resource /Messages/{sid}.json was not found",
                code=CODE_NOT_FOUND,
                http_status=404,
                permanent=True,
            )
        status, code = _status_now(record)
        return FetchResult(sid=sid, status=status, error_code=code)

    def lookup(self, tenant, *, to: str, created_after: datetime) -> list[FoundMessage]:
        if created_after.tzinfo is None:
            created_after = created_after.replace(tzinfo=UTC)
        since = created_after.timestamp()
        last = cache.get(self._counter(tenant.pk, to)) or 0
        found: list[FoundMessage] = []
        for top in range(last, 0, -self.CHUNK):  # newest first, a chunk at a time, until one is all older
            keys = [self._index(tenant.pk, to, n) for n in range(top, max(top - self.CHUNK, 0), -1)]
            sids = cache.get_many(keys)
            records = cache.get_many([self._message(sids[k]) for k in keys if k in sids])
            fresh = [r for r in records.values() if r["created"] >= since]
            found += [_found(r, tenant.uses_messaging_service) for r in fresh if r["sender"] == tenant.sender]
            if not fresh:
                break
        return sorted(found, key=lambda m: m.date_created, reverse=True)


def _hashed(to: str) -> str:
    return hashlib.sha256(to.encode()).hexdigest()[:20]


def _status_now(record: dict) -> tuple[str, int | None]:
    elapsed = time.time() - record["created"]
    if elapsed >= 3 * record["delay"] and record.get("channel") == "rcs" and record["outcome"] == "delivered":
        return "read", None
    if elapsed >= 2 * record["delay"]:
        return record["outcome"], record["error_code"]
    if elapsed >= record["delay"] and record["outcome"] == "delivered":
        return "sent", None
    return record["initial"], None


def _found(record: dict, messaging_service: bool) -> FoundMessage:
    status, code = _status_now(record)
    return FoundMessage(
        sid=record["sid"],
        status=status,
        to=record["to"],
        from_="" if messaging_service else record["sender"],
        messaging_service_sid=record["sender"] if messaging_service else "",
        body=record["body"],
        date_created=datetime.fromtimestamp(record["created"], UTC),
        error_code=code,
    )


SENT = SentLog("gw:sim")


class SimulatorGateway:
    name = "simulator"

    def send(self, tenant, sms: OutboundSMS) -> SendResult:
        from django.conf import settings

        rate = getattr(settings, "SIMULATOR_CUT_RATE", 0.0)
        roll = random.random() if rate else 1.0
        if roll < rate / 2:
            raise GatewayError("Simulated connection cut before the message was created", outcome_unknown=True)
        refusal = REFUSALS.get(sms.to[-2:])
        if refusal:
            code, message = refusal
            raise GatewayError(message, code=code, http_status=400, permanent=True)
        sid = "SM" + uuid.uuid4().hex
        status, code = outcome_for(sms.to)
        delay = _delay()
        initial = "accepted" if tenant.uses_messaging_service else "queued"
        channel = channel_for(tenant, sms.to)
        SENT.record(
            tenant, sid=sid, sms=sms, initial=initial, outcome=status, error_code=code, delay=delay, channel=channel
        )
        report = {"tenant_id": tenant.pk, "sid": sid, "to": sms.to}
        if channel:
            report["channel"] = channel
        if status == "delivered":
            task_send(REPORT, kwargs={**report, "status": "sent", "error_code": None}, countdown=delay)
        task_send(REPORT, kwargs={**report, "status": status, "error_code": code}, countdown=delay * 2)
        if channel and status == "delivered":
            task_send(REPORT, kwargs={**report, "status": "read", "error_code": None}, countdown=delay * 3)
        link = short_link_in(sms.body)
        if link and clicks(sms.to):
            task_send(CLICK, kwargs={"url": link}, countdown=delay * 3)
        if roll < rate:
            raise GatewayError("Simulated connection cut after the message was created", outcome_unknown=True)
        return SendResult(sid=sid, status=initial)

    def fetch(self, tenant, sid: str) -> FetchResult:
        return SENT.fetch(tenant, sid)

    def lookup(self, tenant, *, to: str, created_after: datetime) -> list[FoundMessage]:
        return SENT.lookup(tenant, to=to, created_after=created_after)


def _delay() -> float:
    from django.conf import settings

    return settings.SIMULATOR_REPORT_DELAY
