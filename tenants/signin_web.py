"""Sign-in security on the web: the admin login with its code step, the two-factor gate, the enrolment page,
the lockout page, and the API's session door.

The design is one login form: email, password and (for a user with two-factor sign-in) the code, checked
together, so a session exists only once every factor passed. A two-step design (password, then a code page)
would leave a password-only session that the API's session authentication would take. The code step's
failures count for the lockout like wrong passwords (``user_login_failed``), and the form says the same thing
for a wrong password as for a wrong code, so it never confirms a guessed password.

The gate (``TwoFactorMiddleware``) covers the admin's URLs: a session that never passed the code step of a
user who now has a device (it predates the device) is logged out; a user whose tenant requires two-factor
and who has no device is sent to the enrolment page from every admin page but that one and logout.
"""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication

from . import signin
from .signin import SigninState

CODE_HELP = "Only if you turned on two-factor sign-in: the 6-digit code from your app, or a backup code."


class _CodeInput(forms.TextInput):
    """A code is never written back into the page (a wrong one is typed again, a right one is used up)."""

    def format_value(self, value):
        return None


class TwoFactorAdminLoginForm(AdminAuthenticationForm):
    """The admin's login form: the password, then (for a user with two-factor sign-in) the code."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        # One message for a wrong password and a wrong or missing code: the answer never confirms a password.
        "invalid_login": "Please enter the correct email and password for a staff account, and your two-factor "
        "code if you use one. The password is case-sensitive.",
    }

    otp_token = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=40,
        help_text=CODE_HELP,
        widget=_CodeInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )

    def clean(self):
        cleaned = super().clean()  # the password (axes refuses a locked-out login before it is checked)
        user = self.user_cache
        if user is not None and signin.has_two_factor(user):
            device = signin.code_verify(user=user, code=cleaned.get("otp_token", ""))
            if device is None:
                self.user_cache = None
                # For axes: a failed sign-in like a wrong password, counted against (email, address).
                user_login_failed.send(
                    sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request
                )
                raise self.get_invalid_login_error()
            user.otp_device = device  # django-otp's user_logged_in receiver marks the session verified
        return cleaned


def _admin_root() -> str:
    return reverse("admin:index")


class TwoFactorMiddleware:
    """The admin's two-factor gate (after ``OTPMiddleware``, which says whether the session is verified)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self._gate(request) or self.get_response(request)

    def _gate(self, request: HttpRequest) -> HttpResponse | None:
        if not request.path.startswith(_admin_root()):
            return None
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return None  # the admin sends them to its login page itself
        state = signin.signin_state(user, verified=user.is_verified())
        if state is SigninState.NEEDS_CODE:
            logout(request)  # sign in again, with the code
            if request.path == reverse("admin:login"):
                return None
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        open_to_all = (reverse("two-factor"), reverse("admin:logout"))
        if state is SigninState.MUST_ENROL and request.path not in open_to_all:
            return redirect("two-factor")
        return None


class TwoFactorSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, for sessions the admin's gate lets through: a password-only session of a
    user who must use (or has) two-factor sign-in is no one to the API."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = request._request.user
        verified = getattr(user, "is_verified", lambda: False)()
        return result if signin.signin_state(result[0], verified=verified) is SigninState.OK else None


class TwoFactorSessionScheme(SessionScheme):
    """For the schema: the same cookie session as DRF's session authentication."""

    target_class = TwoFactorSessionAuthentication


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the admin-styled page saying the login is locked and for how long, a 429 with
    ``Retry-After``."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed sign-ins",
        "minutes": math.ceil(seconds / 60) if seconds else None,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    response = render(request, "tenants/signin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    if seconds:
        response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response


def two_factor_view(request: HttpRequest) -> HttpResponse:
    """Set up two-factor sign-in (QR code and secret, confirm with a code, backup codes shown once), or, once it
    is on, make new backup codes. Never cached: ``admin_view`` adds ``Cache-Control: no-store``."""
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor sign-in",
        "required": signin.two_factor_required(user),
        "code_error": "",
        "codes": None,
    }
    code = request.POST.get("code", "") if request.method == "POST" else ""
    if signin.has_two_factor(user):
        if request.method == "POST":
            if signin.code_verify(user=user, code=code) is not None:
                context["codes"] = signin.backup_codes_create(user=user)
            else:
                context["code_error"] = "That code is not right, or came too soon after a wrong one. Try again."
        context.update(enabled=True, codes_left=signin.backup_codes_left(user))
    else:
        device = signin.totp_device_pending(user=user)
        if request.method == "POST":
            codes = signin.totp_device_confirm(user=user, device=device, code=code)
            if codes is not None:
                request.session.cycle_key()  # more privileged now: a new session id
                device.refresh_from_db()
                otp_login(request, device)
                context.update(enabled=True, just_enabled=True, codes=codes, codes_left=len(codes))
                return render(request, "tenants/signin/two_factor.html", context)
            context["code_error"] = "That code is not right, or came too soon after a wrong one. Wait for the next."
        context.update(
            enabled=False,
            qr_svg=mark_safe(signin.totp_qr_svg(device)),  # noqa: S308 - drawn by qrcode from our own data
            secret=signin.totp_secret(device),
        )
    return render(request, "tenants/signin/two_factor.html", context)


def signin_urlpatterns() -> list:
    """Mounted in ``smscampaigns/urls.py`` before ``admin.site.urls``."""
    return [path("admin/two-factor/", admin.site.admin_view(two_factor_view), name="two-factor")]
