"""The redirect's hot path: resolve a code, record the click, answer.

With Redis (``LINKS_CLICK_CAPTURE = "redis"``, the default when ``REDIS_URL`` is
set) a cached code costs ONE Redis round trip: a Lua script reads the cached
``expiry|tenant|target`` and appends the raw click to a Redis stream, or, for an
unknown code, counts it against the address's probe counter, all at once. On a
tenant's own domain the script is told that tenant, and another tenant's code
is answered as unknown in the same round trip.
The click writer (``manage.py links_click_writer`` or the Celery beat task
``links.tasks.clicks_write``) reads the stream through a consumer group, parses
and counts the clicks in batches, commits them, and only then acknowledges
them: a stopped or crashed writer loses nothing, its unread or unacknowledged
clicks wait in Redis.

If Redis stops answering (or ``LINKS_CLICK_CAPTURE=direct``), the click is
written directly in the request (slower, never lost).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.text import slugify

from .clickinfo import ip_truncate, probe_key_for

logger = logging.getLogger(__name__)

CODE_RE = re.compile(r"[0-9A-Za-z]{4,16}")
UNKNOWN = "!"  # cached marker of a code that does not exist

OK, MISS, UNKNOWN_CODE, EXPIRED, BLOCKED = "ok", "miss", "unknown", "expired", "blocked"

# A known, live code with a web target is served whatever the address's probe count (a prober
# behind a shared proxy must not block its other users); only misses are counted, and only
# a miss past the limit is refused. A cached target that is not http(s) is a miss, and so is
# a code of another tenant asked for on a tenant's own domain (ARGV[5]: that tenant's id, or
# '' on the shared domain): it is answered exactly like a code that does not exist.
_RESOLVE_AND_RECORD = """
local v = redis.call('GET', KEYS[1])
if not v then return {'miss', ''} end
if v ~= '!' then
  local sep = string.find(v, '|', 1, true)
  local sep2 = string.find(v, '|', sep + 1, true)
  if not sep2 then return {'miss', ''} end
  local tenant = string.sub(v, sep + 1, sep2 - 1)
  if ARGV[5] == '' or ARGV[5] == tenant then
    local exp = tonumber(string.sub(v, 1, sep - 1))
    if exp > 0 and exp <= tonumber(ARGV[2]) then return {'expired', tenant} end
    local target = string.sub(v, sep2 + 1)
    local head = string.lower(string.sub(target, 1, 8))
    if head == 'https://' or string.sub(head, 1, 7) == 'http://' then
      redis.call('XADD', KEYS[3], '*', 'd', ARGV[3])
      return {'ok', target}
    end
  end
end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if n > tonumber(ARGV[1]) then return {'blocked', ''} end
return {'unknown', ''}
"""

_PROBE_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


#: The WSGI environ key (a request's META) carrying an outcome ``links.front`` reached to the view that renders it.
OUTCOME_KEY = "smscampaigns.links.outcome"


@dataclass(frozen=True)
class Outcome:
    status: str
    target: str = ""
    tenant_id: int | None = None  # whose expired link it is (the expired page names the tenant)


# --- settings and keys -------------------------------------------------------


def capture_mode() -> str:
    return settings.LINKS_CLICK_CAPTURE


def _prefix() -> str:
    return settings.LINKS_REDIS_PREFIX


def link_key(code: str) -> str:
    # "c:", not the "l:" of values without their tenant (``expiry|target``), which are never read again.
    return f"{_prefix()}c:{code}"


def probe_key(ip: str) -> str:
    return f"{_prefix()}p:{probe_key_for(ip)}"


def stream_key() -> str:
    return f"{_prefix()}clicks"


_CLIENT_OPTIONS = {
    "decode_responses": True,
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    "health_check_interval": 30,
}


@lru_cache(maxsize=4)
def _client_for(url: str):
    import redis

    return redis.Redis.from_url(url, **_CLIENT_OPTIONS)


def redis_client():
    return _client_for(settings.REDIS_URL)


class _TapScript:
    """The tap's one Lua call (resolve and record) on a connection of this process's own, outside the pool.

    The client's way (``Script.__call__`` → ``evalsha`` → pool checkout, retry wrapper, observability hooks,
    checkin) costs ~95 µs of CPU a call on this machine, a connection's own send and read ~45 µs: on a cached
    tap, whose one Redis round trip is most of its work, that was a quarter of the front's CPU (130 → 100 µs,
    bench/redirect/inprocess.py). Same library and settings as ``_client_for`` (the URL's host, TLS, password
    and db; timeouts). One connection per thread, made again in a forked child and after any failure but an
    error reply, so a reply that came too late is never read as the next call's. ``NOSCRIPT`` (a restarted or
    flushed Redis) is answered with ``EVAL``, which loads the script for the next calls.
    """

    def __init__(self, url: str, script: str) -> None:
        import redis

        self.pool = redis.ConnectionPool.from_url(url, **_CLIENT_OPTIONS)
        self.script = script
        self.sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self.local = threading.local()

    def _connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is None or self.local.pid != os.getpid():
            conn = self.local.conn = self.pool.make_connection()
            self.local.pid = os.getpid()
        return conn

    def __call__(self, *, keys: list[str], args: list) -> object:
        import redis

        conn = self._connection()
        try:
            try:
                conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                conn.send_command("EVAL", self.script, len(keys), *keys, *args)
                return conn.read_response()
        except redis.exceptions.ResponseError:
            raise  # an error reply: the connection is still in step
        except BaseException:
            self.local.conn = None
            conn.disconnect()
            raise


@lru_cache(maxsize=4)
def _scripts_for(url: str):
    return _TapScript(url, _RESOLVE_AND_RECORD), _client_for(url).register_script(_PROBE_INCR)


# --- the redirect target ------------------------------------------------------


def utm_campaign_value(campaign_id: int | None, campaign_name: str) -> str:
    """``utm_campaign``: the slug of the campaign's name (``campaign-<id>`` when the name has no letters)."""
    return slugify(campaign_name)[:100] or f"campaign-{campaign_id}"


def redirect_target(target_url: str, *, campaign_id: int | None, campaign_name: str = "") -> str:
    """The target with its own query kept verbatim and the UTM parameters it lacks appended."""
    parts = urlsplit(target_url)
    present = {pair.split("=", 1)[0] for pair in parts.query.split("&") if pair}
    extra = [("utm_source", "sms"), ("utm_medium", "sms")]
    if campaign_id is not None:
        extra.append(("utm_campaign", utm_campaign_value(campaign_id, campaign_name)))
    added = urlencode([(k, v) for k, v in extra if k not in present])
    if not added:
        return target_url
    query = f"{parts.query}&{added}" if parts.query else added
    return parts._replace(query=query).geturl()


def is_web_url(url: str) -> bool:
    """True for an ``http://`` or ``https://`` URL (any case): the only targets a link redirects to.

    Checked when a campaign is written and again on every redirect (here and in the Lua script), so a
    stored ``ftp:``, ``javascript:`` or ``data:`` target is answered like an unknown code.
    """
    head = url[:8].lower()
    return head.startswith("https://") or head.startswith("http://")


def cache_value(*, target: str, expires_at, tenant_id: int) -> str:
    """``expiry|tenant|target``: the expiry as epoch seconds (0: never), the link's tenant, the redirect target."""
    return f"{int(expires_at.timestamp()) if expires_at else 0}|{tenant_id}|{target}"


def _parse_cache_value(value: str) -> tuple[int, int, str]:
    exp, _, rest = value.partition("|")
    tenant, _, target = rest.partition("|")
    return int(exp), int(tenant), target


def _load(code: str) -> str:
    """The cache value for ``code`` from the database ('!' when it does not exist)."""
    from .models import ShortLink

    row = (
        ShortLink.objects.filter(code=code)
        .values_list("target_url", "expires_at", "campaign_id", "campaign__name", "tenant_id")
        .first()
    )
    if row is None:
        return UNKNOWN
    target_url, expires_at, campaign_id, campaign_name, tenant_id = row
    if not is_web_url(target_url):
        return UNKNOWN
    target = redirect_target(target_url, campaign_id=campaign_id, campaign_name=campaign_name or "")
    return cache_value(target=target, expires_at=expires_at, tenant_id=tenant_id)


def cache_ttl(expires_at=None) -> int:
    ttl = settings.LINKS_CACHE_TTL
    if expires_at is not None:
        # Keep an expired link cached a little while: its friendly page is cheap too.
        ttl = max(60, min(ttl, int((expires_at - timezone.now()).total_seconds()) + 3600))
    return ttl


def links_cache_warm(entries: list[tuple[str, str, int]]) -> None:
    """Put ``(code, value, ttl)`` in the lookup cache, in pipelined chunks."""
    if capture_mode() != "redis" or not entries:
        return
    try:
        client = redis_client()
        for start in range(0, len(entries), 5000):
            pipe = client.pipeline(transaction=False)
            for code, value, ttl in entries[start : start + 5000]:
                pipe.execute_command("SET", link_key(code), value, "EX", ttl)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - a cold cache is only slower
        logger.warning("links: cache warm failed (%s); links resolve from the database", type(exc).__name__)


def link_cache_forget(code: str) -> None:
    """Drop a code from the lookup cache (after its target or expiry changed)."""
    links_cache_forget([code])


def links_cache_forget(codes: list[str]) -> None:
    """Drop codes from the lookup cache, in pipelined chunks: each is read again from the database when next asked."""
    if not codes:
        return
    keys = [link_key(code) for code in codes]
    if capture_mode() == "redis":
        try:
            client = redis_client()
            for start in range(0, len(keys), 5000):
                client.delete(*keys[start : start + 5000])
        except Exception as exc:  # noqa: BLE001
            logger.warning("links: cache forget failed (%s)", type(exc).__name__)
    for start in range(0, len(keys), 5000):
        _cache_call(cache.delete_many, keys[start : start + 5000])


# --- the hot path -------------------------------------------------------------


def event_id_new() -> str:
    """A UUIDv7 (time-ordered): unique like uuid4, but appends to the clicks' unique index instead of scattering."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return f"{value:032x}"


def click_event(*, code: str, ip: str, user_agent: str, method: str) -> dict:
    """The raw click as queued: minted id, time, code, request facts (the IP already truncated)."""
    return {
        "e": event_id_new(),
        "ts": time.time(),
        "c": code,
        "ua": user_agent[:512],
        "ip": ip_truncate(ip),
        "m": "HEAD" if method == "HEAD" else "GET",
    }


def resolve_and_record(
    *, code: str, ip: str, user_agent: str, method: str, record: Callable[..., object], tenant_id: int | None = None
) -> Outcome:
    """Resolve ``code`` and record the click; never raises for Redis trouble (falls back to the database).

    ``tenant_id``: the request came to that tenant's own domain, where only its codes exist (another
    tenant's code is answered as unknown, and counted as a probe). The fallback records the same event
    (same id) as the Redis attempt, so a click whose XADD went through before Redis timed out is still
    written once. ``record`` writes clicks to the database (``services.clicks_record``, passed in by the
    view: this module stays below the services).
    """
    if not CODE_RE.fullmatch(code):
        return _unknown(ip)
    event = click_event(code=code, ip=ip, user_agent=user_agent, method=method)
    if capture_mode() == "redis":
        try:
            return _redis_resolve_and_record(code=code, ip=ip, event=event, tenant_id=tenant_id)
        except Exception as exc:  # noqa: BLE001 - a click must not be lost because Redis hiccuped
            logger.warning("links: Redis capture failed (%s); writing the click directly", type(exc).__name__)
    return _direct_resolve_and_record(code=code, ip=ip, event=event, record=record, tenant_id=tenant_id)


def _redis_resolve_and_record(*, code: str, ip: str, event: dict, tenant_id: int | None) -> Outcome:
    resolve, probe = _scripts_for(settings.REDIS_URL)
    now = event["ts"]
    keys = [link_key(code), probe_key(ip), stream_key()]
    args = [
        settings.LINKS_PROBE_LIMIT,
        int(now),
        json.dumps(event, separators=(",", ":")),
        settings.LINKS_PROBE_WINDOW,
        "" if tenant_id is None else str(tenant_id),
    ]
    status, target = resolve(keys=keys, args=args)
    if status == EXPIRED:
        return Outcome(EXPIRED, tenant_id=int(target))
    if status != MISS:
        return Outcome(status, target)
    value = _load(code)
    client = redis_client()
    if value == UNKNOWN:
        client.set(link_key(code), UNKNOWN, ex=settings.LINKS_NEGATIVE_CACHE_TTL)
        n = probe(keys=[probe_key(ip)], args=[settings.LINKS_PROBE_WINDOW])
        return Outcome(BLOCKED if int(n) > settings.LINKS_PROBE_LIMIT else UNKNOWN_CODE)
    exp, owner, target = _parse_cache_value(value)
    pipe = client.pipeline(transaction=False)
    pipe.set(link_key(code), value, ex=cache_ttl(_dt(exp)))
    if tenant_id is not None and owner != tenant_id:
        pipe.execute()
        n = probe(keys=[probe_key(ip)], args=[settings.LINKS_PROBE_WINDOW])
        return Outcome(BLOCKED if int(n) > settings.LINKS_PROBE_LIMIT else UNKNOWN_CODE)
    expired = bool(exp) and exp <= now
    if not expired:
        pipe.xadd(stream_key(), {"d": args[2]})
    pipe.execute()
    return Outcome(EXPIRED, tenant_id=owner) if expired else Outcome(OK, target)


def _dt(epoch: int):
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC) if epoch else None


def _unknown(ip: str) -> Outcome:
    if capture_mode() == "redis":
        try:
            _, probe = _scripts_for(settings.REDIS_URL)
            n = int(probe(keys=[probe_key(ip)], args=[settings.LINKS_PROBE_WINDOW]))
            return Outcome(BLOCKED if n > settings.LINKS_PROBE_LIMIT else UNKNOWN_CODE)
        except Exception as exc:  # noqa: BLE001
            logger.warning("links: Redis probe counter failed (%s)", type(exc).__name__)
    n = _cache_call(_probe_incr_django_cache, ip, default=0)
    return Outcome(BLOCKED if n > settings.LINKS_PROBE_LIMIT else UNKNOWN_CODE)


def _probe_incr_django_cache(ip: str) -> int:
    key = probe_key(ip)
    if cache.add(key, 1, timeout=settings.LINKS_PROBE_WINDOW):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LINKS_PROBE_WINDOW)
        return 1


def _cache_call(fn, *args, default=None, **kwargs):
    """The Django cache, tolerating its absence (it is Redis too when REDIS_URL is set)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        logger.warning("links: cache unavailable (%s)", type(exc).__name__)
        return default


def _direct_resolve_and_record(
    *, code: str, ip: str, event: dict, record: Callable[..., object], tenant_id: int | None
) -> Outcome:
    value = _cache_call(cache.get, link_key(code))
    if value is None:
        value = _load(code)
        _cache_call(
            cache.set,
            link_key(code),
            value,
            timeout=settings.LINKS_NEGATIVE_CACHE_TTL if value == UNKNOWN else min(settings.LINKS_CACHE_TTL, 300),
        )
    if value == UNKNOWN:
        return _unknown(ip)
    exp, owner, target = _parse_cache_value(value)
    if tenant_id is not None and owner != tenant_id:
        return _unknown(ip)
    if exp and exp <= event["ts"]:
        return Outcome(EXPIRED, tenant_id=owner)
    if not is_web_url(target):
        return _unknown(ip)
    record(events=[event])
    return Outcome(OK, target)
