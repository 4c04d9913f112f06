"""Encryption at rest for tenant secrets (Fernet, keys from FIELD_ENCRYPTION_KEY).

The first key encrypts, every key decrypts. ``reencrypt`` moves one stored value
to the first key; ``python manage.py rotate_encryption_keys`` (``tenants.keyrotation``)
does it for every ``EncryptedTextField`` so an old key can be removed.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be url-safe base64 of 32 bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def encrypt(value: str) -> str:
    return PREFIX + _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value.startswith(PREFIX):
        raise ImproperlyConfigured("Encrypted field holds a value that was not encrypted")
    try:
        return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "Cannot decrypt a tenant secret: FIELD_ENCRYPTION_KEY does not match the key it was written with"
        ) from exc


class Undecryptable(Exception):
    """A stored value that no configured key can decrypt (or that was never encrypted)."""


def reencrypt(value: str) -> str | None:
    """``value`` (as stored) encrypted with the first key, or None when it already is.

    Checked with the first key alone before ``MultiFernet.rotate``, which would
    re-encrypt a current value too: a re-run then writes nothing. ``Undecryptable``
    when no configured key reads it.
    """
    if not value.startswith(PREFIX):
        raise Undecryptable
    token = value[len(PREFIX) :].encode()
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    try:
        _fernet(keys[:1]).decrypt(token)
        return None
    except InvalidToken:
        pass
    try:
        return PREFIX + _fernet(keys).rotate(token).decode()
    except InvalidToken as exc:
        raise Undecryptable from exc


class EncryptedTextField(models.TextField):
    """A text column stored as Fernet ciphertext; Python sees the plaintext.

    Not searchable or orderable by value, by design.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def mask(secret: str) -> str:
    """What the UI may show of a secret: its last four characters at most."""
    if not secret:
        return ""
    return "•" * 8 + secret[-4:] if len(secret) > 8 else "•" * 8
