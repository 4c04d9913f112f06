"""Twilio webhook authentication: the tenant by AccountSid, the signature by its token."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from twilio.request_validator import RequestValidator

from common.middleware import NUL
from tenants.crypto import decrypt
from tenants.models import Tenant


def webhook_url(request) -> str:
    """The URL Twilio signed: the public origin (not the proxy's), path and query."""
    query = request.META.get("QUERY_STRING", "")
    return f"{settings.PUBLIC_BASE_URL}{request.path}" + (f"?{query}" if query else "")


def twilio_request_tenant(request) -> Tenant:
    """The tenant a signed Twilio webhook belongs to; ``PermissionDenied`` (403) otherwise.

    A missing AccountSid, an unknown one, a missing signature or one made with any
    other token (another tenant's included) are all refused alike.
    """
    account_sid, signature = _credentials(request)
    # A raw query: a third of the ORM's cost, the same Tenant objects.
    table = connection.ops.quote_name(Tenant._meta.db_table)
    sql = f"SELECT * FROM {table} WHERE twilio_account_sid = %s"  # noqa: S608 - name from model meta
    tenants = [t for t in Tenant.objects.raw(sql, [account_sid]) if t.twilio_auth_token]
    for tenant in tenants:
        if _valid(request, tenant.twilio_auth_token, signature):
            return tenant
    raise PermissionDenied("Invalid Twilio signature")


def twilio_request_tenant_id(request) -> int:
    """``twilio_request_tenant`` when only the tenant's id is needed: one small raw query."""
    return twilio_request_signer(request, cached=False).tenant_id


@dataclass(frozen=True)
class Signer:
    """Who signed a webhook: the tenant, and the stored (encrypted) token the signature matched."""

    tenant_id: int
    token_ciphertext: str
    cached: bool


# AccountSid → [(tenant id, token ciphertext)], per process. Only safe for writes
# that re-check the ciphertext in the same statement (see tracking.services
# ``callback_apply(token_ciphertext=…)``), and retried uncached when it changed.
_SIGNERS: dict[str, list[tuple[int, str]]] = {}
_SIGNERS_LOCK = threading.Lock()
_SIGNERS_MAX = 10_000


def twilio_request_signer(request, *, cached: bool = False) -> Signer:
    """The signer of a Twilio webhook; ``PermissionDenied`` when unsigned or badly signed.

    ``cached=True`` saves the tenant query on the hot path: the tokens an account
    had when last read are tried first. The caller MUST then write only while the
    tenant still holds ``token_ciphertext`` and call again with ``cached=False``
    when it does not (a rotated token thus takes effect at once). A signature that
    no cached token matches is always checked against fresh rows.
    """
    account_sid, signature = _credentials(request)
    if cached:
        for tenant_id, ciphertext in _SIGNERS.get(account_sid, ()):
            if _valid(request, _token(ciphertext), signature):
                return Signer(tenant_id, ciphertext, cached=True)
    table = connection.ops.quote_name(Tenant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, twilio_auth_token FROM {table} WHERE twilio_account_sid = %s",  # noqa: S608 - name from model meta
            [account_sid],
        )
        rows = [(tenant_id, ciphertext) for tenant_id, ciphertext in cursor.fetchall() if ciphertext]
    with _SIGNERS_LOCK:
        if len(_SIGNERS) >= _SIGNERS_MAX:
            _SIGNERS.clear()
        if rows:
            _SIGNERS[account_sid] = rows
        else:
            _SIGNERS.pop(account_sid, None)
    for tenant_id, ciphertext in rows:
        if _valid(request, _token(ciphertext), signature):
            return Signer(tenant_id, ciphertext, cached=False)
    raise PermissionDenied("Invalid Twilio signature")


def webhook_params(request) -> dict[str, str]:
    """The form Twilio posted, one value a field, NUL characters dropped: PostgreSQL text cannot hold them,
    and a reply or status lost to a 500 (Twilio retrying in vain) is worse than a character less. Call it
    after the signature check, which needs the form as sent."""
    return {key.replace(NUL, ""): value.replace(NUL, "") for key, value in request.POST.items()}


def _credentials(request) -> tuple[str, str]:
    account_sid = request.POST.get("AccountSid", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not account_sid or not signature or NUL in account_sid:
        raise PermissionDenied("Missing AccountSid or X-Twilio-Signature")
    return account_sid, signature


def _valid(request, token: str, signature: str) -> bool:
    """twilio's ``RequestValidator``: the exact public URL first (one HMAC), then its port variants."""
    validator = RequestValidator(token)
    url = webhook_url(request)
    if hmac.compare_digest(validator.compute_signature(url, request.POST).encode(), signature.encode()):
        return True
    return validator.validate(url, request.POST, signature)


@lru_cache(maxsize=1024)
def _token(ciphertext: str) -> str:
    return decrypt(ciphertext)
