"""Failed admin logins lock that login from that address (django-axes), through the real login page.

Counted per (email, client address): ten wrong passwords lock Alice out from her address, even with the right
password after; Bob on the same address and Alice from another address (behind the configured proxies) are not
locked; the lock lifts after the cool-off, or at once by the users admin's action or ``axes_reset_username``.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from tenants.tests.factories import UserFactory

PASSWORD = "pw-123456"  # UserFactory's
LOGIN = reverse("admin:login")


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """These tests check dozens of passwords: a fast hasher (the real one costs about a second a check here)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _login(client: Client, email: str, password: str, **headers):
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"}, **headers)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, email: str, times: int, **headers) -> list[int]:
    return [_login(client, email, "wrong-password", **headers).status_code for _ in range(times)]


def test_ten_wrong_passwords_lock_the_login_even_for_the_right_password(alice):
    client = Client()
    statuses = _fail(client, alice.email, settings.AXES_FAILURE_LIMIT)
    assert statuses[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with its error
    assert statuses[-1] == 429  # the tenth: locked

    response = _login(client, alice.email, PASSWORD)
    assert response.status_code == 429
    assert not _logged_in(client)
    page = response.content.decode()
    assert "Sign-in is locked" in page and "Try again in 15 minutes" in page  # a page, not a traceback
    assert response["Retry-After"] == str(15 * 60)
    assert response["Content-Type"].startswith("text/html")
    assert client.get("/admin/").status_code == 302  # still the login page


def test_the_lock_is_per_login_and_address_not_per_address(alice, bob):
    client = Client()
    _fail(client, alice.email, settings.AXES_FAILURE_LIMIT)
    # Bob, from the same address: not locked (nobody can lock out a whole office by typing one email).
    other = Client()
    response = _login(other, bob.email, PASSWORD)
    assert response.status_code == 302 and _logged_in(other)


def test_the_email_is_counted_whatever_its_case(alice):
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        email = alice.email.upper() if i % 2 else f"  {alice.email}"
        _login(client, email, "wrong-password")
    assert _login(client, alice.email, PASSWORD).status_code == 429


def test_the_lock_lifts_after_the_cool_off(alice):
    client = Client()
    _fail(client, alice.email, settings.AXES_FAILURE_LIMIT)
    assert _login(client, alice.email, PASSWORD).status_code == 429
    # Time travel: the failures happened a cool-off (and a second) ago.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    response = _login(client, alice.email, PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_the_count_starts_again_after_a_good_login(alice):
    client = Client()
    _fail(client, alice.email, settings.AXES_FAILURE_LIMIT - 1)
    assert _login(client, alice.email, PASSWORD).status_code == 302
    client.post(reverse("admin:logout"))
    _fail(client, alice.email, settings.AXES_FAILURE_LIMIT - 1)
    assert _login(client, alice.email, PASSWORD).status_code == 302


def test_the_cool_off_and_limit_come_from_settings(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=2)
    client = Client()
    assert _fail(client, alice.email, 3) == [200, 200, 429]
    response = _login(client, alice.email, PASSWORD)
    assert response.status_code == 429 and response["Retry-After"] == "120"
    assert "Try again in 2 minutes" in response.content.decode()


def test_behind_a_proxy_each_client_address_counts_apart(alice, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = Client()
    # The proxy appends the client's address; whatever the client sent stays to the left.
    _fail(client, alice.email, settings.AXES_FAILURE_LIMIT, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.5")
    assert _login(client, alice.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    elsewhere = Client()
    assert _login(elsewhere, alice.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 302


def test_without_proxies_a_forged_forwarded_for_changes_nothing(alice):
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, alice.email, "wrong-password", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    response = _login(client, alice.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert response.status_code == 429 and not _logged_in(client)


def test_the_tenant_admin_unlocks_their_user_and_not_another_tenants(alice, bob, tenant_a):
    dana = UserFactory(email="dana@acme.example", tenant=tenant_a)
    _fail(Client(), dana.email, settings.AXES_FAILURE_LIMIT)
    _fail(Client(), bob.email, settings.AXES_FAILURE_LIMIT)
    changelist = reverse("admin:tenants_user_changelist")

    admin = Client()
    admin.force_login(alice)
    assert 'value="signin_unlock"' in admin.get(changelist).content.decode()
    # Bob's row is not Alice's to pick: the action only ever sees her tenant's users.
    admin.post(changelist, {"action": "signin_unlock", "_selected_action": [dana.pk, bob.pk]})

    assert _login(Client(), dana.email, PASSWORD).status_code == 302
    assert _login(Client(), bob.email, PASSWORD).status_code == 429


def test_the_marketer_cannot_unlock(alice, tenant_a):
    marketer = UserFactory(email="mark@acme.example", tenant=tenant_a, role="marketer")
    _fail(Client(), alice.email, settings.AXES_FAILURE_LIMIT)
    client = Client()
    client.force_login(marketer)
    response = client.post(
        reverse("admin:tenants_user_changelist"), {"action": "signin_unlock", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 403
    assert _login(Client(), alice.email, PASSWORD).status_code == 429


def test_the_operator_unlocks_with_axes_reset_username(alice):
    _fail(Client(), alice.email, settings.AXES_FAILURE_LIMIT)
    call_command("axes_reset_username", alice.email, stdout=StringIO())
    assert _login(Client(), alice.email, PASSWORD).status_code == 302


def test_secrets_typed_into_the_form_are_not_stored(alice):
    _login(Client(), alice.email, "wrong-password-typed")
    Client().post(LOGIN, {"username": alice.email, "password": "x", "otp_token": "123456"})
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "password=" in stored and "otp_token=" in stored
    assert "wrong-password-typed" not in stored and "123456" not in stored
