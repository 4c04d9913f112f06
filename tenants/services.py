"""Writes for tenants and their users."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import ApiKey, ApiKeyScope, Role, Tenant, User
from .signin import password_validate

#: ``last_used_at`` is written at most this often per key: one UPDATE a minute, not one a request.
API_KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


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

    Returns ``(tenant, user, api_token)``. Raises ``ValidationError`` on bad input (a weak password names
    ``admin_password``), before anything is created.
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
    errors: dict[str, list[str]] = {}
    try:
        tenant.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:  # reported with the tenant's errors, not after them
        password_validate(password=admin_password, user=User(email=admin_email.lower()), field="admin_password")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    tenant.save()
    user = user_create(tenant=tenant, email=admin_email, password=admin_password, role=Role.ADMIN)
    _key, secret = api_key_create(user=user, name="create_tenant", scope=ApiKeyScope.FULL)
    return tenant, user, secret


def user_create(*, tenant: Tenant, email: str, password: str, role: str = Role.MARKETER) -> User:
    """A tenant user who can log in to the admin (staff, scoped to ``tenant``). A password the validators refuse
    (``AUTH_PASSWORD_VALIDATORS``) is a ``ValidationError`` naming ``password``."""
    user = User(email=email.lower(), tenant=tenant, role=role, is_staff=True)
    password_validate(password=password, user=user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


class ApiKeyRevoked(Exception):
    """The key is revoked: it cannot be rotated (make a new one)."""


def api_key_create(
    *,
    user: User,
    name: str,
    scope: str = ApiKeyScope.FULL,
    expires_at: dt.datetime | None = None,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """A new key acting as ``user`` in ``user``'s tenant. Returns ``(key, secret)``: the secret exists only in
    this return value (the row keeps a hash of it), so the caller shows it once. Raises ``ValidationError``."""
    if user.tenant_id is None:
        raise ValidationError({"user": ["API keys belong to tenant users."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    key = ApiKey(
        tenant_id=user.tenant_id,
        user=user,
        name=name,
        scope=scope,
        expiry_date=expires_at,
        created_by=created_by or user,
    )
    secret = ApiKey.objects.assign_key(key)
    key.full_clean(exclude=["tenant", "user", "created_by"])
    key.save()
    return key, secret


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke ``key`` at once (for good: a revoked key is never valid again). Revoking twice is harmless."""
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


@transaction.atomic
def api_key_rotate(
    *,
    key: ApiKey,
    grace_seconds: int = 0,
    expires_at: dt.datetime | None = None,
    rotated_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Replace ``key`` by a new one with the same user, name and scope; returns ``(new_key, secret)``.

    The old key stops working at once (revoked), or, with ``grace_seconds``, expires that many seconds from now
    (sooner if it already expired sooner), so clients can switch over without a gap. ``expires_at`` is the new
    key's expiry (none by default). Raises ``ApiKeyRevoked`` for a revoked key.
    """
    old = ApiKey.objects.select_for_update().select_related("user").get(pk=key.pk)
    if old.revoked:
        raise ApiKeyRevoked
    new, secret = api_key_create(
        user=old.user, name=old.name, scope=old.scope, expires_at=expires_at, created_by=rotated_by or old.user
    )
    if grace_seconds > 0:
        ends = timezone.now() + dt.timedelta(seconds=grace_seconds)
        old.expiry_date = min(old.expiry_date, ends) if old.expiry_date else ends
        old.save(update_fields=["expiry_date"])
    else:
        api_key_revoke(key=old)
    key.revoked, key.expiry_date = old.revoked, old.expiry_date
    return new, secret


def api_key_mark_used(*, key: ApiKey) -> None:
    """Record that ``key`` was just used, at most once per ``API_KEY_USE_RESOLUTION``: the check is on the row
    already loaded, and the UPDATE is conditional, so concurrent requests write it once."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < API_KEY_USE_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_USE_RESOLUTION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
