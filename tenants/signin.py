"""Sign-in security: who must use two-factor sign-in, their devices and codes, and unlocking a locked-out login.

Two-factor sign-in is django-otp's: one TOTP device (an authenticator app) per user, confirmed with a code
before it counts, and one static device holding that user's backup codes (each works once). A user "has two
factor" once the TOTP device is confirmed; from then on the admin login asks for a code (``signin_web``).
A tenant may require it of all its users (``Tenant.require_two_factor``); superusers are required to when
``ADMIN_REQUIRE_TWO_FACTOR_SUPERUSERS`` is on. The HTTP side (login form, gate, enrolment page) is in
``signin_web``; this module is what it and the admin call.
"""

from __future__ import annotations

import enum
import re
from base64 import b32encode
from io import BytesIO

import qrcode
import qrcode.image.svg
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
_TOTP_CODE = re.compile(r"^\d{6}$")


class SigninState(enum.Enum):
    """Where a signed-in admin session stands with two-factor sign-in."""

    OK = "ok"  # verified, or no device and none required
    NEEDS_CODE = "needs_code"  # has a device, but this session never passed the code (it predates the device)
    MUST_ENROL = "must_enrol"  # no device, and the tenant (or the superuser setting) requires one


def password_validate(*, password: str, user: User, field: str = "password") -> None:
    """``AUTH_PASSWORD_VALIDATORS`` on ``password`` for ``user`` (its email and names count for similarity).

    Every path that sets a password goes through Django's validators: the admin's forms by themselves, the
    services (``create_tenant``, ``seed_demo``) through this. Raises ``ValidationError`` naming ``field``.
    """
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


def axes_username(request, credentials: dict | None) -> str | None:
    """The login axes counts failures for (``AXES_USERNAME_CALLABLE``): the email as typed, trimmed and lower-cased,
    so ``Alice@X`` and ``alice@x`` are one counter, as they are one login."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get("username") if source else None
    return username.strip().lower() if isinstance(username, str) else username


def signin_unlock(*, user: User) -> int:
    """Lift ``user``'s sign-in lockout (every address's failures for their email). Returns the rows removed."""
    return axes_reset(username=user.email.lower())


# --- two-factor ------------------------------------------------------------------------------------------


def two_factor_required(user: User) -> bool:
    if user.is_superuser:
        return settings.ADMIN_REQUIRE_TWO_FACTOR_SUPERUSERS
    tenant = user.tenant if user.tenant_id else None
    return bool(tenant and tenant.require_two_factor)


def has_two_factor(user: User) -> bool:
    """Whether the user's sign-in takes a code: their authenticator app is confirmed."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def signin_state(user: User, *, verified: bool) -> SigninState:
    """Where a signed-in session of ``user`` stands; ``verified``: it passed the code step (``is_verified()``)."""
    if verified:
        return SigninState.OK
    if has_two_factor(user):
        return SigninState.NEEDS_CODE
    if two_factor_required(user):
        return SigninState.MUST_ENROL
    return SigninState.OK


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The authenticator app being set up: unconfirmed until a code from it is entered.

    The same device comes back until it is confirmed, so reloading the page keeps the QR code the user may
    already have scanned.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def totp_secret(device: TOTPDevice) -> str:
    """The secret as people type it into an app: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    """The ``otpauth://`` URL as an inline SVG QR code, drawn here (no image service sees the secret). It has a
    white background of its own, so it scans on the admin's dark theme too, and no style attribute (CSP)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2)
    out = BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]  # without the XML declaration, to sit inside HTML


@transaction.atomic
def totp_device_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the app being set up with a code from it; on success the user has two-factor sign-in and gets
    new backup codes (returned, shown once). A wrong code (or one too soon after a wrong one) returns None."""
    device = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
    if device is None or not _TOTP_CODE.match(_normalise(code)) or not device.verify_token(_normalise(code)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()  # one app a user
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return backup_codes_create(user=user)


@transaction.atomic
def backup_codes_create(*, user: User) -> list[str]:
    """Ten new backup codes for ``user``, replacing any left. Returned once; stored as django-otp keeps them."""
    device, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def backup_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def code_verify(*, user: User, code: str) -> Device | None:
    """The device that accepts ``code`` (six digits: the app; anything else: a backup code, used up), or None.

    Only the device the code's shape names is tried, so a typo never counts against the other's throttle.
    Each device is locked while it checks, so one code cannot be used by two requests at once.
    """
    code = _normalise(code)
    if not code or not has_two_factor(user):
        return None
    model = TOTPDevice if _TOTP_CODE.match(code) else StaticDevice
    for device in model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
        if device.verify_token(code):
            return device
    return None


def two_factor_reset(*, user: User) -> None:
    """Remove ``user``'s app and backup codes (they lost both): they sign in with the password again, and set
    it up anew (at once, if their tenant requires it)."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def _normalise(code: str | None) -> str:
    """Codes as people type them: spaces and dashes dropped, backup codes in any case."""
    return re.sub(r"[\s-]", "", code or "").lower()
