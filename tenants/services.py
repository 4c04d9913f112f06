"""Writes for tenants and their users."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from .models import Role, Tenant, User


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    admin_email: str,
    admin_password: str,
    twilio_account_sid: str = "",
    twilio_auth_token: str = "",
    sender: str = "",
    sending_rate: float | None = None,
    sender_type: str | None = None,
) -> tuple[Tenant, User, str]:
    """Create a tenant, its admin user and that user's API token.

    Returns ``(tenant, user, api_token)``. Raises ``ValidationError`` on bad input.
    """
    tenant = Tenant(
        slug=slug,
        name=name,
        twilio_account_sid=twilio_account_sid,
        twilio_auth_token=twilio_auth_token,
        sender=sender,
        sending_rate=sending_rate,
    )
    if sender_type:
        tenant.sender_type = sender_type
    elif sender.startswith("MG"):
        tenant.sender_type = "messaging_service"
    elif sender.isdigit():
        tenant.sender_type = "short_code"
    elif sender.startswith(("+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888")):
        tenant.sender_type = "toll_free"
    tenant.full_clean()
    tenant.save()
    user = user_create(tenant=tenant, email=admin_email, password=admin_password, role=Role.ADMIN)
    token = Token.objects.create(user=user)
    return tenant, user, token.key


def user_create(*, tenant: Tenant, email: str, password: str, role: str = Role.MARKETER) -> User:
    """A tenant user who can log in to the admin (staff, scoped to ``tenant``)."""
    user = User(email=email.lower(), tenant=tenant, role=role, is_staff=True)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user
