"""The one way out to tenants' endpoints: SSRF-guarded, pinned, bounded.

The host is resolved once; every address it resolves to must be public
(unless ``WEBHOOKS_ALLOW_PRIVATE_TARGETS``), and the connection goes to the
address that was checked, so a DNS answer that changes between the check and
the connect (rebinding) cannot reach an internal service. No redirects are
followed, the whole exchange has one deadline, and at most
``WEBHOOKS_MAX_RESPONSE_BYTES`` of the answer are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

EXCERPT_CHARS = 1000


class UnsafeTarget(Exception):
    """The URL may not be called (bad scheme, unresolvable, or not a public address)."""


@dataclass(frozen=True)
class OutboundResult:
    ok: bool
    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str = ""
    error: str = ""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a public unicast address (IPv4 embedded in IPv6 is judged as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_is_public(embedded)
        if ip.is_site_local:
            return False
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return ip.is_global


def url_check_syntax(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, or UnsafeTarget. Literal addresses are checked here too."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("Only http and https URLs can receive webhooks.")
    if not parts.hostname:
        raise UnsafeTarget("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeTarget("Credentials in the URL are not allowed; put them in the path or use the signature.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget("The URL's port is not valid.") from exc
    host = parts.hostname
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeTarget(f"{host} is not a public address.")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not address_is_public(literal):
            raise UnsafeTarget(f"{host} is not a public address.")
    return parts.scheme, host, port


def target_resolve(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, address)``: the address to connect to, checked after DNS resolution."""
    scheme, host, port = url_check_syntax(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"Cannot resolve {host}.") from exc
    addresses = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addresses.append(ipaddress.ip_address(sockaddr[0].split("%", 1)[0]))
    if not addresses:
        raise UnsafeTarget(f"Cannot resolve {host}.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        # Every answer must be public: otherwise a name that resolves to both a
        # public and an internal address could be steered to the internal one.
        for ip in addresses:
            if not address_is_public(ip):
                raise UnsafeTarget(f"{host} resolves to {ip}, which is not a public address.")
    return scheme, host, port, str(addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI are for the host name, the socket goes to the checked address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Timed out."
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {exc.__class__.__name__}."
    if isinstance(exc, http.client.HTTPException):
        return f"Invalid HTTP answer: {exc.__class__.__name__}."
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"


def webhook_post(url: str, *, body: bytes, headers: dict[str, str]) -> OutboundResult:
    """POST ``body`` to ``url``. Never raises: failures come back as ``ok=False`` with an error."""
    timeout = float(settings.WEBHOOKS_TIMEOUT_SECONDS)
    max_bytes = int(settings.WEBHOOKS_MAX_RESPONSE_BYTES)
    started = time.monotonic()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        scheme, host, port, address = target_resolve(url)
    except UnsafeTarget as exc:
        return OutboundResult(ok=False, latency_ms=elapsed_ms(), error=f"Refused: {exc}")
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(host, port, address=address, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        if conn.sock is not None:
            conn.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        response = conn.getresponse()
        chunks: list[bytes] = []
        received = 0
        while received < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            chunk = response.read(min(16384, max_bytes - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        status = response.status
    except Exception as exc:  # noqa: BLE001 - every network failure is a failed attempt, never a crash
        return OutboundResult(ok=False, latency_ms=elapsed_ms(), error=_describe(exc))
    finally:
        conn.close()
    excerpt = b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    return OutboundResult(
        ok=200 <= status < 300,
        status_code=status,
        latency_ms=elapsed_ms(),
        excerpt=excerpt,
        error="" if 200 <= status < 300 else f"HTTP {status}.",
    )
