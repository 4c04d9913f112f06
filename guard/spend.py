"""Spend and volume caps: a tenant's segments and estimated cost per day and month, taken before each claim.

The sender asks for its group's segments (an MMS: one message, priced per message) before it claims the group
(``campaigns.sending.dispatch``): ONE Redis Lua call grants the longest head of the group that fits under every
cap of the tenant (segments and cost, per UTC day and month) and counts it, atomically for every worker. What is
not granted is not claimed: those messages stay ``pending``, the campaign is paused with the cap as its reason
(``guard.pausing``), and the guard's tick resumes it once the cap has room again (raised, or a new day or month).
Claims a group lost (another worker had the message, an opt-out won) give their share back.

The counters live in Redis (``smsc:guard:spend:<tenant>:<day|month>:<date>``, a hash of ``seg`` and ``cost`` in
millionths) and are copied to ``GuardUsage`` by the tick; a missing key (a new period, or Redis restarted without
its data) is seeded from that copy before the grant, so a cap survives a Redis loss give or take one tick. When
Redis does not answer, sending goes on uncounted (a warning is logged): the caps are a guard against runaway
spend, not a reason to stop a healthy campaign over an infrastructure hiccup.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from tenants.models import Tenant

from .models import SETTINGS_CACHE, GuardEventKind, GuardSettings, GuardUsage, UsagePeriod
from .pausing import campaign_pause_by_guard
from .selectors import guard_settings_get, money
from .store import key_prefix, redis_client

if TYPE_CHECKING:
    from campaigns.models import Campaign

logger = logging.getLogger(__name__)

NO_CAP = -1
MICROS = Decimal(1_000_000)

# KEYS: the day's hash, the month's hash, the set of tenants with use today. ARGV: the four caps (-1: none) as
# day segments, day cost, month segments, month cost; the two TTLs; the tenant id; then (segments, cost) per
# message. Returns the number of messages granted from the head, or -1 when a key must be seeded first.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local ds = tonumber(redis.call('HGET', KEYS[1], 'seg') or '0')
local dc = tonumber(redis.call('HGET', KEYS[1], 'cost') or '0')
local ms = tonumber(redis.call('HGET', KEYS[2], 'seg') or '0')
local mc = tonumber(redis.call('HGET', KEYS[2], 'cost') or '0')
local cds, cdc, cms, cmc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local granted, s_sum, c_sum = 0, 0, 0
for i = 8, #ARGV, 2 do
  local s, c = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if (cds >= 0 and ds + s_sum + s > cds) or (cdc >= 0 and dc + c_sum + c > cdc)
     or (cms >= 0 and ms + s_sum + s > cms) or (cmc >= 0 and mc + c_sum + c > cmc) then break end
  s_sum, c_sum, granted = s_sum + s, c_sum + c, granted + 1
end
if granted > 0 then
  redis.call('HINCRBY', KEYS[1], 'seg', s_sum)
  redis.call('HINCRBY', KEYS[1], 'cost', c_sum)
  redis.call('HINCRBY', KEYS[2], 'seg', s_sum)
  redis.call('HINCRBY', KEYS[2], 'cost', c_sum)
  redis.call('SADD', KEYS[3], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return granted
"""

# Give back: only into live keys (a key that expired or was lost is seeded again from the durable copy).
_RETURN = """
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'seg', -tonumber(ARGV[1]))
    redis.call('HINCRBY', KEYS[i], 'cost', -tonumber(ARGV[2]))
  end
end
return 1
"""

_SEED = """
for i = 1, 2 do
  redis.call('HSETNX', KEYS[i], 'seg', ARGV[2 * i - 1])
  redis.call('HSETNX', KEYS[i], 'cost', ARGV[2 * i])
  redis.call('EXPIRE', KEYS[i], ARGV[4 + i])
end
return 1
"""


@lru_cache(maxsize=4)
def _scripts(url: str):
    client = redis_client(url)
    return client.register_script(_TAKE), client.register_script(_SEED), client.register_script(_RETURN)


def _keys(tenant_id: int, now: dt.datetime) -> tuple[str, str, str]:
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    prefix = f"{key_prefix()}spend:"
    return f"{prefix}{tenant_id}:day:{day}", f"{prefix}{tenant_id}:month:{month}", f"{prefix}tenants:{day}"


def _period_starts(now: dt.datetime) -> tuple[dt.date, dt.date]:
    today = now.astimezone(dt.UTC).date()
    return today, today.replace(day=1)


#: Keys outlive their period by a few days, so the tick can copy the last counts after midnight.
DAY_TTL, MONTH_TTL = 3 * 86400, 35 * 86400


def unit_cost_micros(*, segments: int, mms: bool) -> int:
    """Estimated cost of one message in millionths: per segment (SMS), per message (MMS), as the preview prices."""
    if mms:
        return int(Decimal(str(settings.MMS_PRICE_PER_MESSAGE)) * MICROS)
    return int(Decimal(str(settings.SMS_PRICE_PER_SEGMENT)) * MICROS) * max(1, segments)


def _caps(cfg: GuardSettings) -> list[int]:
    def seg(v):
        return NO_CAP if v is None else int(v)

    def cost(v):
        return NO_CAP if v is None else int(Decimal(v) * MICROS)

    return [
        seg(cfg.daily_segment_cap),
        cost(cfg.daily_cost_cap),
        seg(cfg.monthly_segment_cap),
        cost(cfg.monthly_cost_cap),
    ]


#: Seconds a process keeps a tenant's caps (``models.SETTINGS_CACHE``): a raised cap reaches every sender by then.
SETTINGS_TTL = 2.0


def _settings(tenant_id: int) -> GuardSettings:
    """Each tenant's caps, read at most every ``SETTINGS_TTL`` seconds per process (a claim group must not cost a
    query); a save in this process is seen at once."""
    now = time.monotonic()
    hit = SETTINGS_CACHE.get(tenant_id)
    if hit and now - hit[0] < SETTINGS_TTL:
        return hit[1]
    cfg = guard_settings_get(tenant=tenant_id)
    SETTINGS_CACHE[tenant_id] = (now, cfg)
    return cfg


_warned_at = 0.0


def _warn(exc: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        logger.warning("guard caps: Redis failed (%s); sending goes on uncounted", type(exc).__name__)


def _seed(tenant_id: int, now: dt.datetime) -> None:
    """Put the durable counts (``GuardUsage``) into Redis where a key is missing (HSETNX: never over live counts)."""
    day, month = _period_starts(now)
    rows = {
        period: (seg, cost)
        for period, seg, cost in GuardUsage.objects.filter(
            tenant_id=tenant_id, starts_on__in=[day, month], period__in=[UsagePeriod.DAY, UsagePeriod.MONTH]
        )
        .filter(_same_period(day, month))
        .values_list("period", "segments", "cost_micros")
    }
    day_key, month_key, _ = _keys(tenant_id, now)
    d, m = rows.get(UsagePeriod.DAY, (0, 0)), rows.get(UsagePeriod.MONTH, (0, 0))
    _scripts(settings.REDIS_URL)[1](keys=[day_key, month_key], args=[d[0], d[1], m[0], m[1], DAY_TTL, MONTH_TTL])


def _same_period(day: dt.date, month: dt.date):
    from django.db.models import Q

    return Q(period=UsagePeriod.DAY, starts_on=day) | Q(period=UsagePeriod.MONTH, starts_on=month)


def spend_grant(*, tenant_id: int, items: Sequence[tuple[int, int]], now: dt.datetime | None = None) -> int:
    """Count ``items`` (``(segments, cost_micros)`` per message, in order) against the tenant's caps; returns how
    many of them, from the head, fit (all of them when Redis does not answer)."""
    if not items:
        return 0
    now = now or timezone.now()
    cfg = _settings(tenant_id)
    day_key, month_key, tenants_key = _keys(tenant_id, now)
    args = [*_caps(cfg), DAY_TTL, MONTH_TTL, tenant_id]
    for segments, cost in items:
        args += [segments, cost]
    try:
        take = _scripts(settings.REDIS_URL)[0]
        granted = int(take(keys=[day_key, month_key, tenants_key], args=args))
        if granted < 0:
            _seed(tenant_id, now)
            granted = int(take(keys=[day_key, month_key, tenants_key], args=args))
        return max(0, granted)
    except (RedisError, OSError) as exc:
        _warn(exc)
        return len(items)


def spend_return(*, tenant_id: int, items: Sequence[tuple[int, int]], now: dt.datetime | None = None) -> None:
    """Give back what claims that were lost had taken (another worker had the message, an opt-out won)."""
    if not items:
        return
    segments, cost = sum(s for s, _ in items), sum(c for _, c in items)
    day_key, month_key, _ = _keys(tenant_id, now or timezone.now())
    try:
        _scripts(settings.REDIS_URL)[2](keys=[day_key, month_key], args=[segments, cost])
    except (RedisError, OSError) as exc:
        _warn(exc)


# --- the sender's hook ------------------------------------------------------------------------------------------


def _items(group) -> list[tuple[int, int]]:
    return [
        (1 if m.media_url else max(1, m.segments), unit_cost_micros(segments=m.segments, mms=bool(m.media_url)))
        for m in group
    ]


def spend_take(*, campaign: Campaign, group: list, stop) -> list:
    """The sender's hook, before a claim: the head of ``group`` (``Outgoing`` messages) that fits under the
    tenant's caps. When not all of it fits, the campaign is paused with the cap as its reason and ``stop.stopped``
    set, so the sender claims nothing more; the rest stay ``pending``."""
    items = _items(group)
    granted = spend_grant(tenant_id=campaign.tenant_id, items=items)
    if granted < len(group):
        reached = caps_room(tenant=campaign.tenant, pending=items[granted])
        stop.stopped = True
        if reached is not None:
            campaign_pause_by_guard(
                campaign=campaign, kind=GuardEventKind.CAP, reason=reached.reason, figures=reached.figures
            )
    return group[:granted]


def spend_give_back(*, campaign: Campaign, lost: list) -> None:
    """The sender's hook, after a claim: the share of the messages the claim did not win."""
    spend_return(tenant_id=campaign.tenant_id, items=_items(lost))


# --- reads -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapUse:
    name: str  # daily_segments, daily_cost, monthly_segments, monthly_cost
    label: str
    limit: Decimal | int | None
    used: Decimal | int

    @property
    def share(self) -> float | None:
        return float(self.used) / float(self.limit) if self.limit else None

    @property
    def percent(self) -> int | None:
        return None if self.share is None else int(round(self.share * 100))


def caps_usage(*, tenant: Tenant | int, now: dt.datetime | None = None) -> list[CapUse]:
    """The tenant's caps and their use this day and month (from Redis, else the durable copy)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    now = now or timezone.now()
    cfg = guard_settings_get(tenant=tenant_id)
    day_key, month_key, _ = _keys(tenant_id, now)
    used = {"day": (0, 0), "month": (0, 0)}
    try:
        client = redis_client(settings.REDIS_URL)
        for name, key in (("day", day_key), ("month", month_key)):
            found = client.hgetall(key)
            if found:
                used[name] = (int(found.get("seg", 0)), int(found.get("cost", 0)))
    except (RedisError, OSError) as exc:
        _warn(exc)
    day, month = _period_starts(now)
    for period, seg, cost in (
        GuardUsage.objects.filter(tenant_id=tenant_id)
        .filter(_same_period(day, month))
        .values_list("period", "segments", "cost_micros")
    ):
        name = "day" if period == UsagePeriod.DAY else "month"
        if used[name] == (0, 0):
            used[name] = (seg, cost)
    return [
        CapUse("daily_segments", "Segments today (UTC)", cfg.daily_segment_cap, used["day"][0]),
        CapUse("daily_cost", "Estimated cost today", cfg.daily_cost_cap, money(used["day"][1])),
        CapUse("monthly_segments", "Segments this month", cfg.monthly_segment_cap, used["month"][0]),
        CapUse("monthly_cost", "Estimated cost this month", cfg.monthly_cost_cap, money(used["month"][1])),
    ]


@dataclass(frozen=True)
class CapReached:
    name: str
    reason: str
    figures: dict


_NEXT = {
    "daily_segments": "tomorrow (UTC)",
    "daily_cost": "tomorrow (UTC)",
    "monthly_segments": "next month",
    "monthly_cost": "next month",
}


def caps_room(
    *, tenant: Tenant | int, pending: tuple[int, int] | None = None, now: dt.datetime | None = None
) -> CapReached | None:
    """``None`` when the tenant's caps have room for ``pending`` (one message's (segments, cost); default: one
    segment), else the first cap it would cross, with a reason a person can act on."""
    segments, cost = pending or (1, unit_cost_micros(segments=1, mms=False))
    for use in caps_usage(tenant=tenant, now=now):
        if use.limit is None:
            continue
        extra = segments if use.name.endswith("segments") else money(cost)
        if use.used + extra > use.limit:
            what = "segments" if use.name.endswith("segments") else "estimated cost"
            period = "today (UTC)" if use.name.startswith("daily") else "this month"
            reason = (
                f"Fraud guard: the {use.name.split('_')[0]} cap is reached: {use.used:,} of {use.limit:,} {what} "
                f"{period}. The rest waits: raise the cap on the Guard page, or it resumes by itself "
                f"{_NEXT[use.name]}."
            )
            return CapReached(use.name, reason, {"cap": use.name, "limit": str(use.limit), "used": str(use.used)})
    return None


# --- persistence (the tick) ----------------------------------------------------------------------------------


def usage_persist(*, now: dt.datetime | None = None) -> int:
    """Copy today's and this month's counts of every tenant that sent today from Redis to ``GuardUsage``."""
    now = now or timezone.now()
    day, month = _period_starts(now)
    try:
        client = redis_client(settings.REDIS_URL)
        seen = [int(t) for t in client.smembers(_keys(0, now)[2])]
        tenant_ids = list(Tenant.objects.filter(pk__in=seen).values_list("pk", flat=True)) if seen else []
        rows = []
        for tenant_id in tenant_ids:
            day_key, month_key, _ = _keys(tenant_id, now)
            for period, start, key in ((UsagePeriod.DAY, day, day_key), (UsagePeriod.MONTH, month, month_key)):
                found = client.hgetall(key)
                if found:
                    rows.append(
                        GuardUsage(
                            tenant_id=tenant_id,
                            period=period,
                            starts_on=start,
                            segments=max(0, int(found.get("seg", 0))),
                            cost_micros=max(0, int(found.get("cost", 0))),
                        )
                    )
    except (RedisError, OSError) as exc:
        _warn(exc)
        return 0
    if rows:
        GuardUsage.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "period", "starts_on"],
            update_fields=["segments", "cost_micros", "updated_at"],
        )
    return len(rows)


def send_estimate_over_caps(*, campaign: Campaign, segments: int, cost: Decimal) -> CapReached | None:
    """Whether a send estimated at ``segments`` and ``cost`` would cross one of the tenant's caps (the send asks
    for a confirmation then). ``None`` when it fits."""
    cost_micros = int(Decimal(cost) * MICROS)
    for use in caps_usage(tenant=campaign.tenant_id):
        if use.limit is None:
            continue
        wanted = segments if use.name.endswith("segments") else money(cost_micros)
        if use.used + wanted > use.limit:
            what = "segments" if use.name.endswith("segments") else "estimated cost"
            period = "today (UTC)" if use.name.startswith("daily") else "this month"
            room = max(0, use.limit - use.used)
            reason = (
                f"This send needs about {wanted:,} {what}; the {use.name.split('_')[0]} cap leaves {room:,} "
                f"{period} ({use.used:,} of {use.limit:,} used). Sending stops at the cap and the campaign waits, "
                "paused, until the cap has room."
            )
            return CapReached(
                use.name,
                reason,
                {"cap": use.name, "limit": str(use.limit), "used": str(use.used), "needed": str(wanted)},
            )
    return None


def any_cap(*, tenant_id: int) -> bool:
    cfg = guard_settings_get(tenant=tenant_id)
    return any(
        v is not None
        for v in (cfg.daily_segment_cap, cfg.daily_cost_cap, cfg.monthly_segment_cap, cfg.monthly_cost_cap)
    )
