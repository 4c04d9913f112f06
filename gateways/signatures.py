"""Twilio webhook authentication: the tenant by AccountSid (and sender, when shared), the signature by its token."""

from __future__ import annotations

import hmac
import logging
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

logger = logging.getLogger(__name__)


def webhook_url(request) -> str:
    """The URL Twilio signed: the public origin (not the proxy's), path and query."""
    query = request.META.get("QUERY_STRING", "")
    return f"{settings.PUBLIC_BASE_URL}{request.path}" + (f"?{query}" if query else "")


class TenantUnroutable(Exception):
    """A webhook signed for a Twilio account that several tenants share, naming no sender of exactly one of them."""


def twilio_request_tenant(request) -> Tenant:
    """The tenant a signed incoming-message webhook is for.

    A tenant alone on its Twilio account takes every text to the account. Tenants
    sharing an account (Twilio signs all its webhooks with the account's one token)
    are told apart by their sender: the number texted (``To``) or the Messaging
    Service (``MessagingServiceSid``). The signature must be made with that
    tenant's own token. ``PermissionDenied`` (403) for anything not so signed (a
    missing or unknown AccountSid, a missing signature, any other token);
    ``TenantUnroutable`` for a request signed for a shared account that names no
    sender of exactly one of its tenants.
    """
    account_sid, signature = _credentials(request)
    # A raw query: a third of the ORM's cost, the same Tenant objects.
    table = connection.ops.quote_name(Tenant._meta.db_table)
    sql = f"SELECT * FROM {table} WHERE twilio_account_sid = %s ORDER BY id"  # noqa: S608 - name from model meta
    tenants = list(Tenant.objects.raw(sql, [account_sid]))
    tenant = _tenant_by_sender(tenants, request.POST.get("To", ""), request.POST.get("MessagingServiceSid", ""))
    if tenant is not None and tenant.twilio_auth_token and _valid(request, tenant.twilio_auth_token, signature):
        return tenant
    others = {t.twilio_auth_token for t in tenants if t is not tenant and t.twilio_auth_token}
    if any(_valid(request, token, signature) for token in others):
        if tenant is None:
            raise TenantUnroutable("No single tenant on this Twilio account sends from this number or service")
        logger.warning(
            "Twilio webhook for tenant %s refused: signed with another token of its account, not its own "
            "(a token rotated at one tenant only?)",
            tenant.pk,
        )
    raise PermissionDenied("Invalid Twilio signature")


def _tenant_by_sender(tenants: list[Tenant], *addresses: str) -> Tenant | None:
    """The account's only tenant, else the one whose sender is among ``addresses`` (None when not exactly one)."""
    if len(tenants) == 1:
        return tenants[0]
    matches = [t for t in tenants if t.sender and t.sender in addresses]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class Signers:
    """The stored (encrypted) tokens of an account's tenants that a webhook's signature matched.

    Not yet a tenant: on a shared account every tenant normally holds the same
    token. The status webhook resolves the tenant (the message SID's owner) and
    checks that its token is one of these in a single statement
    (``tracking.services.callback_apply_signed``).
    """

    account_sid: str
    token_ciphertexts: tuple[str, ...]
    cached: bool


# AccountSid → the token ciphertexts its tenants held when last read, per process.
# Only safe for writes that check the tenant's current ciphertext against them in
# the same statement, and retry uncached when it is not among them.
_SIGNERS: dict[str, tuple[str, ...]] = {}
_SIGNERS_LOCK = threading.Lock()
_SIGNERS_MAX = 10_000


def twilio_request_signers(request, *, cached: bool = False) -> Signers:
    """The account's stored tokens that signed a Twilio webhook; ``PermissionDenied`` when none did.

    ``cached=True`` saves the tenant query on the hot path: the tokens an account
    had when last read are tried first. The caller MUST then write only for a
    tenant that still holds one of ``token_ciphertexts`` and call again with
    ``cached=False`` when it does not (a rotated token thus takes effect at once).
    A signature that no cached token matches is always checked against fresh rows.
    """
    account_sid, signature = _credentials(request)
    if cached:
        signed = _signed(request, _SIGNERS.get(account_sid, ()), signature)
        if signed:
            return Signers(account_sid, signed, cached=True)
    table = connection.ops.quote_name(Tenant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT twilio_auth_token FROM {table} WHERE twilio_account_sid = %s AND twilio_auth_token <> ''",  # noqa: S608 - name from model meta
            [account_sid],
        )
        ciphertexts = tuple(row[0] for row in cursor.fetchall())
    with _SIGNERS_LOCK:
        if len(_SIGNERS) >= _SIGNERS_MAX:
            _SIGNERS.clear()
        if ciphertexts:
            _SIGNERS[account_sid] = ciphertexts
        else:
            _SIGNERS.pop(account_sid, None)
    signed = _signed(request, ciphertexts, signature)
    if signed:
        return Signers(account_sid, signed, cached=False)
    raise PermissionDenied("Invalid Twilio signature")


def _signed(request, ciphertexts, signature: str) -> tuple[str, ...]:
    """The ciphertexts whose token made ``signature``: one HMAC per distinct token (tenants share one)."""
    verdicts: dict[str, bool] = {}
    signed = []
    for ciphertext in ciphertexts:
        token = _token(ciphertext)
        if token not in verdicts:
            verdicts[token] = _valid(request, token, signature)
        if verdicts[token]:
            signed.append(ciphertext)
    return tuple(signed)


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
