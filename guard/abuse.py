"""Inbound and click abuse: floods from one number, one block of numbers or one network are counted, not believed.

Counted in Redis in fixed windows of ``GUARD_ABUSE_WINDOW_SECONDS`` (one pipelined round trip per inbound text,
one per click batch), against the tenant's ``GuardSettings``:

- inbound texts per number and per range (the number less its last three digits: a block of a thousand numbers,
  the shape of pumping through sign-up forms and of a modem bank): past the limit the text is still recorded and a
  STOP is still honoured (``compliance.inbound``), but nothing is answered (an auto-reply to a flood is exactly
  the traffic a pumper is paid for) and it is not a reply (no ``reply.received``);
- clicks per network (IPv4 /24, IPv6 /48) on the tenant's links: past the limit a click is recorded as a bot hit
  (``bot_reason`` says so), not a human click, so it moves no click rate and emits no ``link.clicked``.

The first crossing of a window writes one ``GuardEvent`` (flagged, with the figures), shown on the Guard page. When
Redis does not answer nothing is flagged (counted as usual) and a warning is logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from redis.exceptions import RedisError

from .models import GuardEvent, GuardEventKind, GuardSettings
from .store import key_prefix, redis_client

logger = logging.getLogger(__name__)

CLICK_SURGE_REASON = "click surge from one network (fraud guard)"
_warned_at = 0.0


def _warn(exc: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        logger.warning("guard abuse counters: Redis failed (%s); nothing is flagged", type(exc).__name__)


def _window() -> tuple[int, int]:
    seconds = max(1, int(settings.GUARD_ABUSE_WINDOW_SECONDS))
    return int(time.time() // seconds), seconds


def _limits(tenant_ids: Iterable[int]) -> dict[int, GuardSettings]:
    ids = set(tenant_ids)
    found = {s.tenant_id: s for s in GuardSettings.objects.filter(tenant_id__in=ids)}
    return {t: found.get(t) or GuardSettings(tenant_id=t) for t in ids}  # unsaved defaults: no write on a hot path


def number_range(number: str) -> str:
    """The block a number belongs to: all but its last three digits."""
    return number[:-3] if len(number) > 6 else number


def _flag(*, tenant_id: int, kind: str, subject: str, reason: str, figures: dict) -> None:
    GuardEvent.objects.create(
        tenant_id=tenant_id, kind=kind, subject=subject[:64], reason=reason[:300], figures=figures
    )
    logger.warning("Fraud guard flagged %s for tenant %s", kind, tenant_id)


# --- inbound -----------------------------------------------------------------------------------------------------


def inbound_burst(*, tenant_id: int, number: str) -> str | None:
    """Count one inbound text from ``number``; the reason it is part of a burst (its number's or its range's
    count in this window is past the tenant's limit), else ``None``."""
    if not number:
        return None
    window, seconds = _window()
    block = number_range(number)
    digest = hashlib.sha256(number.encode()).hexdigest()[:24]  # no number in clear in Redis either
    prefix = f"{key_prefix()}abuse:in:{tenant_id}:{window}"
    keys = (f"{prefix}:n:{digest}", f"{prefix}:r:{block}")
    try:
        pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, seconds * 2)
        answers = pipe.execute()
    except (RedisError, OSError) as exc:
        _warn(exc)
        return None
    per_number, per_range = int(answers[0]), int(answers[2])
    cfg = _limits([tenant_id])[tenant_id]
    minutes = max(1, seconds // 60)
    subject = f"{block}XXX"
    for count, limit, source in (
        (per_number, cfg.inbound_burst_per_number, f"one number of {subject}"),
        (per_range, cfg.inbound_burst_per_range, f"the range {subject}"),
    ):
        if not limit or count <= limit:
            continue
        reason = f"Inbound burst: more than {limit} texts from {source} in {minutes} min"
        if count == limit + 1:  # the crossing: flagged once per window
            _flag(
                tenant_id=tenant_id,
                kind=GuardEventKind.INBOUND_BURST,
                subject=subject,
                reason=f"Fraud guard: {reason}; the rest are kept, not answered, not counted as replies.",
                figures={"texts": count, "limit": limit, "window_seconds": seconds},
            )
        return reason
    return None


# --- clicks --------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16384)
def network_of(ip: str) -> str:
    """An address's network as the guard counts clicks: IPv4 /24, IPv6 /48 ('' when not an address)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class ClickSurges:
    """For one batch of clicks (``links.services.clicks_record``): how many human clicks each (tenant, network) may
    still count in this window. Built with ONE pipelined Redis round trip and one settings query per batch."""

    def __init__(self, clicks: Iterable[tuple[int, str]]) -> None:
        """``clicks``: ``(tenant_id, ip)`` per click the batch may count as human, in order."""
        self.allowed: dict[tuple[int, str], int] = {}
        batch = Counter((tenant_id, network_of(ip)) for tenant_id, ip in clicks if ip and network_of(ip))
        if not batch:
            return
        window, seconds = _window()
        keys = {key: f"{key_prefix()}abuse:click:{key[0]}:{window}:{key[1]}" for key in batch}
        try:
            pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
            for key, n in batch.items():
                pipe.incrby(keys[key], n)
                pipe.expire(keys[key], seconds * 2)
            totals = pipe.execute()[::2]
        except (RedisError, OSError) as exc:
            _warn(exc)
            return
        limits = _limits(t for t, _ in batch)
        for (key, n), total in zip(batch.items(), totals, strict=True):
            limit = limits[key[0]].click_surge_per_network
            if not limit or int(total) <= limit:
                continue
            before = int(total) - n
            self.allowed[key] = max(0, limit - before)
            if before <= limit:  # this batch crossed it: flag once per window
                _flag(
                    tenant_id=key[0],
                    kind=GuardEventKind.CLICK_SURGE,
                    subject=key[1],
                    reason=f"Fraud guard: click surge: more than {limit} clicks from {key[1]} in "
                    f"{max(1, seconds // 60)} min; the rest count as bot hits, not human clicks.",
                    figures={"clicks": int(total), "limit": limit, "window_seconds": seconds},
                )

    def is_surge(self, tenant_id: int, ip: str) -> bool:
        """Whether this human-looking click is past its network's allowance (each call takes one click of it)."""
        if not self.allowed or not ip:
            return False
        key = (tenant_id, network_of(ip))
        left = self.allowed.get(key)
        if left is None:
            return False
        if left > 0:
            self.allowed[key] = left - 1
            return False
        return True
