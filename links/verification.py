"""Proof that a tenant controls a domain: a DNS TXT record, or a token served over HTTP on that host.

Both checks go out to the internet, so they run outside any transaction, and each has an injectable seam
(``fetch``, ``lookup``) that the tests replace with fakes. The HTTP check goes through the project's SSRF guard
(``integrations.outbound.target_resolve``: every address the host resolves to must be public, and the connection
goes to the address that was checked); it follows no redirect and reads at most a few kilobytes.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from integrations.outbound import UnsafeTarget, target_resolve

CHALLENGE_PATH = "/.well-known/smscampaigns-verify/"
TXT_LABEL = "_smscampaigns"
MAX_BODY = 4096
#: Names that never resolve on the internet: refused before any lookup (no query leaves for them).
RESERVED_SUFFIXES = (".localhost", ".local", ".internal", ".invalid", ".arpa")


def challenge_url(host: str, token: str) -> str:
    return f"http://{host}{CHALLENGE_PATH}{token}"


def txt_name(host: str) -> str:
    return f"{TXT_LABEL}.{host}"


@dataclass(frozen=True)
class Fetched:
    status: int | None
    body: str = ""
    error: str = ""


Fetch = Callable[[str], Fetched]
Lookup = Callable[[str], list[str]]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address the guard checked; the Host header still names the domain."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def http_fetch(url: str) -> Fetched:
    """GET ``url`` (http only) through the SSRF guard. Never raises."""
    try:
        scheme, host, port, address = target_resolve(url)
    except UnsafeTarget as exc:
        return Fetched(None, error=f"Refused: {exc}")
    if scheme != "http":
        return Fetched(None, error="Refused: the check uses http://.")
    path = urlsplit(url).path or "/"
    conn = _PinnedHTTP(host, port, address=address, timeout=settings.LINKS_DOMAIN_CHECK_TIMEOUT)
    try:
        conn.request("GET", path, headers={"User-Agent": "smscampaigns-domain-check/1"})
        response = conn.getresponse()
        body = response.read(MAX_BODY).decode("utf-8", errors="replace")
        return Fetched(response.status, body)
    except (OSError, http.client.HTTPException) as exc:
        reason = "Timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return Fetched(None, error=f"Could not reach {host}: {reason}.")
    finally:
        conn.close()


def txt_lookup(name: str) -> list[str]:
    """The TXT strings at ``name`` (each record's strings joined). LookupError with a readable reason otherwise."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = settings.LINKS_DOMAIN_CHECK_TIMEOUT
    try:
        answer = resolver.resolve(name, "TXT")
    except dns.resolver.NXDOMAIN as exc:
        raise LookupError(f"{name} does not exist in DNS.") from exc
    except dns.resolver.NoAnswer as exc:
        raise LookupError(f"{name} has no TXT record.") from exc
    except dns.exception.Timeout as exc:
        raise LookupError(f"The DNS lookup of {name} timed out.") from exc
    except dns.exception.DNSException as exc:
        raise LookupError(f"The DNS lookup of {name} failed ({type(exc).__name__}).") from exc
    return [b"".join(record.strings).decode("utf-8", errors="replace") for record in answer]


def check_http(host: str, token: str, *, fetch: Fetch | None = None) -> str:
    """'' when ``http://<host>/.well-known/smscampaigns-verify/<token>`` answers 200 with the token; else why not."""
    url = challenge_url(host, token)
    if host.endswith(RESERVED_SUFFIXES):
        return f"{host} is a reserved name that cannot be reached on the internet."
    got = (fetch or http_fetch)(url)
    if got.error:
        return got.error
    if got.status != 200:
        return f"{url} answered HTTP {got.status}; point {host} at this platform first (CNAME)."
    if got.body.strip() != token:
        return f"{url} answered, but not with the token."
    return ""


def check_dns(host: str, token: str, *, lookup: Lookup | None = None) -> str:
    """'' when a TXT record at ``_smscampaigns.<host>`` holds the token; else why not."""
    name = txt_name(host)
    if host.endswith(RESERVED_SUFFIXES):
        return f"{host} is a reserved name that cannot be reached on the internet."
    try:
        values = (lookup or txt_lookup)(name)
    except LookupError as exc:
        return str(exc)
    if token not in (v.strip().strip('"') for v in values):
        return f"No TXT record at {name} holds the token (found {len(values)} other)."
    return ""
