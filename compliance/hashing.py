"""Keyed hashes of phone numbers: how a suppression outlives the erasure of its contact.

HMAC-SHA256 over ``"<tenant id>:<E.164 number>"`` with a key derived from a
``FIELD_ENCRYPTION_KEY``: the same number in two tenants hashes differently, and
without the key the hash cannot be brute-forced from the (small) number space.
New hashes use the first key; lookups try every key.

The hash keys must outlive the encryption keys they were derived from: an erased
number's hash can never be recomputed (the number is gone), so a hash key that
went away with its encryption key would lose the erased person's opt-out. The
first ``rotate_encryption_keys`` therefore *pins* them: the keys derived from
the encryption keys configured then are stored in ``PhoneHashKey`` (encrypted,
rotated with the other secrets, their values never changing), and from then on
hashes use the pinned keys, whatever ``FIELD_ENCRYPTION_KEY`` holds. Before that
(no pinned row), they are derived from ``FIELD_ENCRYPTION_KEY`` as they always
were, and the pinned keys equal those derived from the keys configured at the
time, so processes that have not yet read them hash the same.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from django.apps import apps
from django.conf import settings

_LABEL = b"smscampaigns.compliance.phone-hash.v1"


#: The pinned keys as this process read them (None: not read yet). They never change once
#: pinned, so one query per process; ``pinned_keys_forget`` after pinning (and in tests).
_PINNED: tuple[bytes, ...] | None = None


def _keys() -> tuple[bytes, ...]:
    return pinned_keys() or derived_keys()


def derived_keys() -> tuple[bytes, ...]:
    """The hash keys derived from the configured ``FIELD_ENCRYPTION_KEY`` (used until keys are pinned)."""
    return _derive(tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [settings.SECRET_KEY]))


def pinned_keys() -> tuple[bytes, ...]:
    """The pinned hash keys, first the one new hashes use; empty before the first rotation."""
    global _PINNED
    if _PINNED is None:
        # By name: the models import this module (their save() hashes).
        model = apps.get_model("compliance", "PhoneHashKey")
        stored = model.objects.order_by("position").values_list("key", flat=True)
        _PINNED = tuple(base64.urlsafe_b64decode(value) for value in stored)
    return _PINNED


def pinned_keys_forget() -> None:
    global _PINNED
    _PINNED = None


@functools.lru_cache(maxsize=8)
def _derive(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(k.encode(), _LABEL, hashlib.sha256).digest() for k in keys)


def _hash(key: bytes, tenant_id: int, phone_number: str) -> str:
    return hmac.new(key, f"{tenant_id}:{phone_number}".encode(), hashlib.sha256).hexdigest()


def phone_hash(*, tenant_id: int, phone_number: str) -> str:
    """The hash new rows store."""
    return _hash(_keys()[0], tenant_id, phone_number)


def phone_hash_unpinned(*, tenant_id: int, phone_number: str) -> str:
    """``phone_hash`` as it is before any key is pinned: for migrations older than ``PhoneHashKey``'s table."""
    return _hash(derived_keys()[0], tenant_id, phone_number)


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
