"""Twilio webhook authentication: the tenant by AccountSid, the signature by its token."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from twilio.request_validator import RequestValidator

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
    """``twilio_request_tenant`` for hot paths: only the tenant's id, from one small raw query.

    The token is read from the database on every request (a rotated token takes
    effect at once); only the decryption of a given ciphertext is memoized.
    """
    account_sid, signature = _credentials(request)
    table = connection.ops.quote_name(Tenant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, twilio_auth_token FROM {table} WHERE twilio_account_sid = %s",  # noqa: S608 - name from model meta
            [account_sid],
        )
        rows = cursor.fetchall()
    for tenant_id, ciphertext in rows:
        if ciphertext and _valid(request, _token(ciphertext), signature):
            return tenant_id
    raise PermissionDenied("Invalid Twilio signature")


def _credentials(request) -> tuple[str, str]:
    account_sid = request.POST.get("AccountSid", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not account_sid or not signature:
        raise PermissionDenied("Missing AccountSid or X-Twilio-Signature")
    return account_sid, signature


def _valid(request, token: str, signature: str) -> bool:
    params = {k: request.POST.get(k) for k in request.POST}
    return RequestValidator(token).validate(webhook_url(request), params, signature)


@lru_cache(maxsize=1024)
def _token(ciphertext: str) -> str:
    return decrypt(ciphertext)
