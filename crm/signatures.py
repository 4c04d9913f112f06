"""The platforms' documented webhook signatures, checked in constant time.

Shopify: ``X-Shopify-Hmac-Sha256`` is base64(HMAC-SHA256(key=the app's client secret, msg=the raw body)).

HubSpot (v3): ``X-HubSpot-Signature-v3`` is base64(HMAC-SHA256(key=the app's client secret,
msg=method + URI + raw body + X-HubSpot-Request-Timestamp)), where the URI is the full URL HubSpot called (here
``PUBLIC_BASE_URL`` + path and query, URL-decoded) and the timestamp is in milliseconds; a request whose timestamp
is more than ``CRM_HUBSPOT_MAX_SKEW_SECONDS`` (5 minutes) from now is refused (a replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import unquote


def _b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def shopify_signature(*, secret: str, body: bytes) -> str:
    return _b64_hmac(secret, body)


def shopify_valid(*, secret: str, body: bytes, header: str | None) -> bool:
    if not header or not secret:
        return False
    return hmac.compare_digest(shopify_signature(secret=secret, body=body).encode(), header.strip().encode())


def hubspot_signature(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + unquote(uri).encode() + body + timestamp.encode()
    return _b64_hmac(secret, message)


def hubspot_valid(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    header: str | None,
    max_skew_seconds: int,
    now: float | None = None,
) -> bool:
    if not header or not timestamp or not secret or not timestamp.strip().isdigit():
        return False
    now_ms = (time.time() if now is None else now) * 1000
    if abs(now_ms - int(timestamp)) > max_skew_seconds * 1000:
        return False
    expected = hubspot_signature(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp.strip())
    return hmac.compare_digest(expected.encode(), header.strip().encode())
