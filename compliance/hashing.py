"""Keyed hashes of phone numbers: how a suppression outlives the erasure of its contact.

HMAC-SHA256 over ``"<tenant id>:<E.164 number>"`` with a key derived from
``FIELD_ENCRYPTION_KEY``: the same number in two tenants hashes differently, and
without the key the hash cannot be brute-forced from the (small) number space.
New hashes use the first key; lookups try every key, so keys can be rotated the
same way as the field encryption (keep the old key in the list).
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from django.conf import settings

_LABEL = b"smscampaigns.compliance.phone-hash.v1"


def _keys() -> tuple[bytes, ...]:
    return _derive(tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [settings.SECRET_KEY]))


@functools.lru_cache(maxsize=8)
def _derive(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(k.encode(), _LABEL, hashlib.sha256).digest() for k in keys)


def _hash(key: bytes, tenant_id: int, phone_number: str) -> str:
    return hmac.new(key, f"{tenant_id}:{phone_number}".encode(), hashlib.sha256).hexdigest()


def phone_hash(*, tenant_id: int, phone_number: str) -> str:
    """The hash new rows store."""
    return _hash(_keys()[0], tenant_id, phone_number)


def phone_hashes(*, tenant_id: int, phone_number: str) -> list[str]:
    """Every hash the number may be stored under (one per key)."""
    return [_hash(k, tenant_id, phone_number) for k in _keys()]


def phone_hashes_many(*, tenant_id: int, phone_numbers: list[str]) -> dict[str, str]:
    """``{hash: number}`` for every hash each number may be stored under (``phone_hashes`` in bulk).

    The keyed HMAC state is set up once per key and copied per number: a fan-out hashes
    thousands of numbers per chunk.
    """
    out: dict[str, str] = {}
    for key in _keys():
        keyed = hmac.new(key, digestmod=hashlib.sha256)
        prefix = f"{tenant_id}:"
        for number in phone_numbers:
            h = keyed.copy()
            h.update((prefix + number).encode())
            out[h.hexdigest()] = number
    return out
