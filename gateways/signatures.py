"""Twilio webhook authentication: the tenant by AccountSid, the signature by its token."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from twilio.request_validator import RequestValidator

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
    account_sid = request.POST.get("AccountSid", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not account_sid or not signature:
        raise PermissionDenied("Missing AccountSid or X-Twilio-Signature")
    tenants = [t for t in Tenant.objects.filter(twilio_account_sid=account_sid) if t.twilio_auth_token]
    params = {k: request.POST.get(k) for k in request.POST}
    url = webhook_url(request)
    for tenant in tenants:
        if RequestValidator(tenant.twilio_auth_token).validate(url, params, signature):
            return tenant
    raise PermissionDenied("Invalid Twilio signature")
