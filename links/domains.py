"""Branded short domains: which host names are valid, and the host → tenant map the redirect reads.

The map holds every verified domain (``{host: tenant_id}``; a handful per tenant at most), so the redirect
answers a request by its ``Host`` with a dict lookup: it is kept in each process for
``LINKS_DOMAIN_CACHE_SECONDS`` and in the cache (Redis) for ``LINKS_DOMAIN_REDIS_SECONDS``, and read from the
database only when both are cold. A request for any other host costs the same dict lookup and goes on as before
(Django's ``ALLOWED_HOSTS`` check included), so a flood of made-up host names never reaches the database.
A change (verified, removed) drops both copies at once and again after its commit; other processes see it
within ``LINKS_DOMAIN_CACHE_SECONDS``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.http.request import split_domain_port

from .verification import RESERVED_SUFFIXES

logger = logging.getLogger(__name__)

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def platform_hosts() -> set[str]:
    """Hosts of the platform itself (never a tenant's): those of the public and short-link URLs, ALLOWED_HOSTS."""
    hosts = {urlsplit(settings.PUBLIC_BASE_URL).hostname or "", urlsplit(settings.SHORT_LINK_BASE_URL).hostname or ""}
    hosts.update(h.lstrip(".").lower() for h in settings.ALLOWED_HOSTS if h and h != "*")
    return {h for h in hosts if h}


def host_clean(value: str) -> str:
    """The host a tenant typed, normalised (lower case, IDNA ``xn--`` form, no trailing dot), or ValidationError.

    No scheme, path, port, user or IP address; at least two labels; the platform's own hosts refused.
    """
    raw = (value or "").strip().rstrip(".").lower()
    if not raw:
        raise ValidationError("Enter a domain, e.g. go.shop.example.")
    if "://" in raw or any(c in raw for c in "/:@?#\\ "):
        raise ValidationError("Enter the domain only, e.g. go.shop.example: no http://, path or port.")
    try:
        ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValidationError("Enter a domain name, not an IP address.")
    import idna

    try:
        host = idna.encode(raw, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValidationError(f"{value!r} is not a valid domain name.") from exc
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValidationError(f"{value!r} is not a valid domain name (e.g. go.shop.example).")
    if labels[-1].isdigit():
        raise ValidationError("Enter a domain name, not an IP address.")
    if host.endswith(RESERVED_SUFFIXES):
        raise ValidationError(f"{host} is a reserved name that cannot be reached on the internet.")
    platform = platform_hosts()
    if host in platform or any(host.endswith("." + p) for p in platform if "." in p):
        raise ValidationError(f"{host} belongs to this platform; use a domain of your own.")
    return host


# --- the host → tenant map ----------------------------------------------------------------------------------------

_lock = threading.Lock()
_local: dict = {"at": float("-inf"), "key": "", "map": {}}


def _cache_key() -> str:
    return f"{settings.LINKS_REDIS_PREFIX}domains"


def _load_from_database() -> dict[str, int]:
    from .models import LinkDomain

    return dict(LinkDomain.objects.filter(verified_at__isnull=False).values_list("host", "tenant_id"))


def domains_map() -> dict[str, int]:
    """``{host: tenant_id}`` of every verified domain: from this process, else the cache, else the database."""
    key = _cache_key()
    now = time.monotonic()
    if _local["key"] == key and now - _local["at"] < settings.LINKS_DOMAIN_CACHE_SECONDS:
        return _local["map"]
    with _lock:
        if _local["key"] == key and now - _local["at"] < settings.LINKS_DOMAIN_CACHE_SECONDS:
            return _local["map"]
        found = _cache_get(key)
        if found is None:
            try:
                found = _load_from_database()
            except DatabaseError as exc:
                # Keep serving what this process knew (the shared domain needs none of it); ask again later.
                logger.warning("links: domain map not reloaded (%s)", type(exc).__name__)
                found = _local["map"] if _local["key"] == key else {}
            else:
                _cache_set(key, found)
        _local.update(at=time.monotonic(), key=key, map=found)
        return found


def raw_host(meta) -> str:
    """The raw Host of a request's META or a WSGI environ (``X-Forwarded-Host`` where Django is told to trust
    it), before Django's ``ALLOWED_HOSTS`` check: what ``tenant_for_host`` is asked about."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return meta["HTTP_X_FORWARDED_HOST"].split(",")[-1].strip()
    return meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "")


def tenant_for_host(raw_host: str) -> int | None:
    """The tenant whose verified domain ``raw_host`` (a Host header: any case, maybe a port) is; else None."""
    hosts = domains_map()
    if not hosts or not raw_host:
        return None
    found = hosts.get(raw_host)
    if found is None:
        found = hosts.get(split_domain_port(raw_host)[0])
    return found


def domains_forget() -> None:
    """Drop the map here and in the cache now, and again once the change is committed (a process that reloaded in
    between read the old rows)."""

    def forget() -> None:
        _local.update(at=float("-inf"))
        _cache_call(cache.delete, _cache_key())

    forget()
    transaction.on_commit(forget)


def _cache_get(key: str):
    return _cache_call(cache.get, key)


def _cache_set(key: str, value: dict) -> None:
    _cache_call(cache.set, key, value, timeout=settings.LINKS_DOMAIN_REDIS_SECONDS)


def _cache_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a cold map is only slower: the database answers
        logger.warning("links: domain cache unavailable (%s)", type(exc).__name__)
        return None
