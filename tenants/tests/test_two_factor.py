"""Two-factor sign-in through the real pages: enrolment, the login's code, backup codes, a tenant requiring it.

Codes are computed as an authenticator app would, with django-otp's ``totp`` from the device's key. A TOTP code
is accepted once (no replay) and a wrong one holds the device back for a moment (throttling), so each test
uses a code from the next time step after enrolment, and tries wrong codes last.
"""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import signin
from tenants.models import Role, Tenant
from tenants.tests.factories import UserFactory

PASSWORD = "pw-123456"  # UserFactory's
LOGIN = reverse("admin:login")
ENROL = reverse("two-factor")


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """These tests check many passwords: a fast hasher (the real one costs about a second a check here)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What the user's authenticator app shows (``steps_ahead`` time steps from now)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead):0{device.digits}d}"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _login(client: Client, email: str, password: str = PASSWORD, otp_token: str | None = None):
    data = {"username": email, "password": password, "next": "/admin/"}
    if otp_token is not None:
        data["otp_token"] = otp_token
    return client.post(LOGIN, data)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def enrol(client: Client, user) -> list[str]:
    """Set up two-factor sign-in on the enrolment page, as the user would; returns the backup codes shown."""
    page = client.get(ENROL)
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(ENROL, {"code": code(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(codes) == signin.BACKUP_CODE_COUNT
    return codes


def test_the_enrolment_page_shows_a_qr_code_and_the_secret_and_keeps_them_on_reload(alice):
    client = _client(alice)
    first = client.get(ENROL)
    assert first.status_code == 200 and "no-store" in first["Cache-Control"]  # the secret is never cached
    html = first.content.decode()
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert "<svg" in html and "<path" in html
    assert signin.totp_secret(device) in html
    assert client.get(ENROL).content.decode().count(signin.totp_secret(device)) == 1
    assert TOTPDevice.objects.filter(user=alice).count() == 1  # reloading keeps the same secret


def test_the_pages_hold_no_inline_script_or_style(alice):
    """The pages must work under a strict Content-Security-Policy (no inline script, no style attribute)."""
    client = _client(alice)
    for html in (client.get(ENROL).content.decode(), Client().get(LOGIN).content.decode()):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script>"
        assert not re.search(r"\sstyle=", html) and "<style" not in html


def test_a_wrong_code_does_not_turn_it_on(alice):
    client = _client(alice)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"
    response = client.post(ENROL, {"code": wrong})
    assert response.status_code == 200 and "not right" in response.content.decode()
    assert not TOTPDevice.objects.get(user=alice).confirmed
    assert not StaticToken.objects.filter(device__user=alice).exists()


def test_enrolled_user_needs_password_and_code(alice):
    client = _client(alice)
    codes = enrol(client, alice)
    device = TOTPDevice.objects.get(user=alice)
    assert device.confirmed and StaticToken.objects.filter(device__user=alice).count() == len(codes)
    assert client.get("/admin/").status_code == 200  # this session passed the code

    client.post(reverse("admin:logout"))
    assert not _logged_in(client)
    password_only = _login(client, alice.email)
    assert password_only.status_code == 200 and not _logged_in(client)
    assert "two-factor code" in password_only.content.decode()

    response = _login(client, alice.email, otp_token=code(device, steps_ahead=1))
    assert response.status_code == 302 and _logged_in(client)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/contacts/contact/").status_code == 200


def test_a_wrong_code_is_refused_like_a_wrong_password_and_counts_for_the_lockout(alice):
    enrol(_client(alice), alice)
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(code(device, 1)) + 1) % 1_000_000:06d}"
    client = Client()
    bad_code = _login(client, alice.email, otp_token=wrong)
    bad_password = _login(Client(), "someone@acme.example", password="not-it")
    assert bad_code.status_code == 200 and not _logged_in(client)
    assert "Please enter the correct email and password" in bad_code.content.decode()
    error = re.findall(r'<p class="errornote">\s*(.*?)\s*</p>', bad_code.content.decode(), re.S)
    assert error == re.findall(r'<p class="errornote">\s*(.*?)\s*</p>', bad_password.content.decode(), re.S)
    assert AccessAttempt.objects.get(username=alice.email).failures_since_start == 1

    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        _login(client, alice.email, otp_token=wrong)
    assert _login(client, alice.email, otp_token="").status_code == 429  # the tenth failure
    device.throttle_reset()
    response = _login(client, alice.email, otp_token=code(device, 1))
    assert response.status_code == 429 and not _logged_in(client)


def test_a_backup_code_works_once(alice):
    codes = enrol(_client(alice), alice)
    client = Client()
    assert _login(client, alice.email, otp_token=codes[0]).status_code == 302 and _logged_in(client)
    assert client.get("/admin/").status_code == 200
    client.post(reverse("admin:logout"))
    spaced = f" {codes[1][:4].upper()} {codes[1][4:].upper()} "  # as typed from paper
    assert _login(client, alice.email, otp_token=spaced).status_code == 302
    client.post(reverse("admin:logout"))
    again = _login(client, alice.email, otp_token=codes[0])
    assert again.status_code == 200 and not _logged_in(client)
    assert StaticToken.objects.filter(device__user=alice).count() == len(codes) - 2


def test_new_backup_codes_replace_the_old_ones(alice):
    client = _client(alice)
    old = enrol(client, alice)
    device = TOTPDevice.objects.get(user=alice)
    page = client.get(ENROL).content.decode()
    assert "Two-factor sign-in is on" in page and f"{len(old)} backup codes left" in page
    response = client.post(ENROL, {"code": code(device, steps_ahead=1)})
    new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(new) == signin.BACKUP_CODE_COUNT and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True)) == set(new)


def test_a_session_from_before_enrolment_must_sign_in_again(alice):
    earlier = _client(alice)  # another browser, signed in with the password only
    enrol(_client(alice), alice)
    response = earlier.get("/admin/contacts/contact/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not _logged_in(earlier)
    assert earlier.get("/api/v1/contacts/").status_code in (401, 403)


def test_a_user_without_two_factor_signs_in_with_the_password(alice):
    client = Client()
    assert _login(client, alice.email).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert 'href="/admin/two-factor/"' in client.get("/admin/").content.decode()  # the user tools' link


# --- a tenant requiring it --------------------------------------------------------------------------------


def test_a_tenant_requiring_two_factor_sends_an_unenrolled_user_to_enrolment(tenant_a, bob):
    tenant_a.require_two_factor = True
    tenant_a.save()
    mark = UserFactory(email="mark@acme.example", tenant=tenant_a, role=Role.MARKETER)
    client = Client()
    assert _login(client, mark.email).status_code == 302  # the password is still how one starts
    for url in ("/admin/", "/admin/contacts/contact/", reverse("analytics-overview"), "/admin/password_change/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == ENROL, url
    assert client.get("/api/v1/contacts/").status_code in (401, 403)  # nor the API with that session
    page = client.get(ENROL)
    assert page.status_code == 200 and "requires two-factor sign-in" in page.content.decode()

    enrol(client, mark)
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/contacts/").status_code == 200

    # Another tenant's users are not concerned.
    other = Client()
    assert _login(other, bob.email).status_code == 302 and other.get("/admin/").status_code == 200


def test_logging_out_stays_open_to_an_unenrolled_user(tenant_a, alice):
    tenant_a.require_two_factor = True
    tenant_a.save()
    client = _client(alice)
    assert client.get("/admin/").status_code == 302
    client.post(reverse("admin:logout"))
    assert not _logged_in(client)


def test_superusers_are_required_only_by_the_setting(django_user_model, settings):
    root = django_user_model.objects.create_superuser("root@example.com", PASSWORD)
    assert _client(root).get("/admin/").status_code == 200
    settings.ADMIN_REQUIRE_TWO_FACTOR_SUPERUSERS = True
    response = _client(root).get("/admin/")
    assert response.status_code == 302 and response["Location"] == ENROL


def _tenant_form(tenant: Tenant, **changes) -> dict:
    form = {
        "name": tenant.name,
        "twilio_account_sid": tenant.twilio_account_sid,
        "twilio_auth_token": "",
        "sender": tenant.sender,
        "sender_type": tenant.sender_type,
        "sending_rate": "",
        "default_country": tenant.default_country,
        "help_text": tenant.help_text,
        "quiet_hours_start": "08:00",
        "quiet_hours_end": "21:00",
        "legal_quiet_hours": "on",
        "sending_paused_reason": "",
    }
    form.update(changes)
    return form


def test_the_tenants_admin_turns_the_requirement_on(tenant_a, alice):
    client = _client(alice)
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    assert 'name="require_two_factor"' in client.get(url).content.decode()
    response = client.post(url, _tenant_form(tenant_a, require_two_factor="on"))
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.require_two_factor
    assert client.get("/admin/")["Location"] == ENROL  # and it applies to her too


@pytest.mark.parametrize("role", [Role.MARKETER, Role.VIEWER])
def test_a_marketer_or_viewer_cannot_change_the_requirement(tenant_a, role):
    user = UserFactory(email=f"{role}@acme.example", tenant=tenant_a, role=role)
    client = _client(user)
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    assert 'name="require_two_factor"' not in client.get(url).content.decode()  # shown read-only at most
    response = client.post(url, _tenant_form(tenant_a, require_two_factor="on"))
    assert response.status_code == 403
    tenant_a.refresh_from_db()
    assert not tenant_a.require_two_factor


def test_another_tenants_admin_cannot_change_the_requirement(tenant_a, bob):
    url = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    response = _client(bob).post(url, _tenant_form(tenant_a, require_two_factor="on"))
    assert response.status_code in (302, 404) and response.get("Location", "") != url
    tenant_a.refresh_from_db()
    assert not tenant_a.require_two_factor


def test_the_tenants_admin_resets_a_users_two_factor_and_not_another_tenants(tenant_a, alice, bob):
    dana = UserFactory(email="dana@acme.example", tenant=tenant_a, role=Role.MARKETER)
    enrol(_client(dana), dana)
    enrol(_client(bob), bob)
    changelist = reverse("admin:tenants_user_changelist")
    client = _client(alice)
    assert client.post(changelist, {"action": "two_factor_reset", "_selected_action": [dana.pk, bob.pk]}).status_code
    assert not TOTPDevice.objects.filter(user=dana).exists()
    assert not StaticToken.objects.filter(device__user=dana).exists()
    assert TOTPDevice.objects.filter(user=bob, confirmed=True).exists()
    assert _login(Client(), dana.email).status_code == 302  # the password alone again


def test_the_device_admins_are_not_offered(django_user_model):
    root = django_user_model.objects.create_superuser("root@example.com", PASSWORD)
    index = _client(root).get("/admin/").content.decode()
    assert "otp_totp" not in index and "otp_static" not in index
