"""Django's password validators on every path that sets a password (issue #16).

Paths: ``create_tenant`` and ``tenant_create``, ``user_create`` (``seed_demo`` too), the users admin's add form,
its "change password" form for another user, and one's own password change. The test factories set passwords
directly (``set_password``): they are no path a person uses.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, base, call_command
from django.core.management.base import BaseCommand
from django.test import Client
from django.urls import reverse

from tenants import signin
from tenants.management.commands.create_tenant import Command as CreateTenant
from tenants.models import Role, Tenant, User
from tenants.services import tenant_create, user_create
from tenants.tests.factories import UserFactory

STRONG = "plum-orchard-4817"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x", "too short"),
        ("password1234", "too common"),
        ("739104826153", "entirely numeric"),
        ("boss@acme.example", "too similar"),
    ],
)
def test_create_tenant_refuses_a_weak_password_and_creates_nothing(db, password, reason):
    args = ["--slug", "acme", "--name", "Acme", "--admin-email", "boss@acme.example", "--admin-password", password]
    with pytest.raises(CommandError) as info:
        call_command("create_tenant", *args, stdout=StringIO())
    assert "admin_password" in str(info.value) and reason in str(info.value)
    assert not Tenant.objects.exists() and not User.objects.exists()


def test_create_tenant_with_a_weak_password_exits_non_zero_with_the_reason(db, capsys, monkeypatch):
    """As ``manage.py`` runs it: the CommandError becomes the exit status and a line on stderr."""
    monkeypatch.setattr(base.connections, "close_all", lambda: None)  # the test's connection stays open
    command: BaseCommand = CreateTenant()
    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(
            ["manage.py", "create_tenant", "--slug", "acme", "--name", "Acme", "--admin-email", "b@acme.example"]
            + ["--admin-password", "x"]
        )
    assert exit_info.value.code == 1
    assert "CommandError: Invalid tenant: admin_password: This password is too short" in capsys.readouterr().err
    assert not Tenant.objects.exists()


def test_tenant_create_reports_the_password_with_the_tenants_other_errors(db):
    with pytest.raises(ValidationError) as info:
        tenant_create(
            slug="acme", name="Acme", admin_email="b@acme.example", admin_password="x", twilio_account_sid="no"
        )
    assert set(info.value.message_dict) == {"twilio_account_sid", "admin_password"}


def test_user_create_refuses_a_weak_password(tenant_a):
    with pytest.raises(ValidationError) as info:
        user_create(tenant=tenant_a, email="dana@acme.example", password="dana-acme")
    assert "password" in info.value.message_dict
    assert not User.objects.filter(email="dana@acme.example").exists()
    assert user_create(tenant=tenant_a, email="dana@acme.example", password=STRONG).check_password(STRONG)


def test_the_admin_add_form_validates_the_password(alice):
    client = _client(alice)
    url = reverse("admin:tenants_user_add")
    weak = client.post(url, {"email": "dana@acme.example", "role": Role.MARKETER, "password": "short"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert not User.objects.filter(email="dana@acme.example").exists()
    strong = client.post(url, {"email": "dana@acme.example", "role": Role.MARKETER, "password": STRONG})
    assert strong.status_code == 302
    dana = User.objects.get(email="dana@acme.example")
    assert dana.tenant == alice.tenant and dana.check_password(STRONG)


def test_the_admin_change_password_form_validates_the_password(alice, tenant_a):
    dana = UserFactory(email="dana@acme.example", tenant=tenant_a, role=Role.MARKETER)
    url = reverse("admin:auth_user_password_change", args=[dana.pk])
    client = _client(alice)
    weak = client.post(url, {"usable_password": "true", "password1": "123456789012", "password2": "123456789012"})
    assert weak.status_code == 200 and "entirely numeric" in weak.content.decode()
    strong = client.post(url, {"usable_password": "true", "password1": STRONG, "password2": STRONG})
    assert strong.status_code == 302
    dana.refresh_from_db()
    assert dana.check_password(STRONG)


def test_ones_own_password_change_validates_the_password(alice):
    client = _client(alice)
    url = reverse("admin:password_change")
    form = {"old_password": "pw-123456", "new_password1": "alice-acme", "new_password2": "alice-acme"}
    assert "too short" in client.post(url, form).content.decode()
    form.update(new_password1=STRONG, new_password2=STRONG)
    assert client.post(url, form).status_code == 302


def test_seed_demo_password_is_valid(db):
    from tenants.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD

    signin.password_validate(password=DEMO_PASSWORD, user=User(email=DEMO_EMAIL))


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_the_documented_create_tenant_examples_pass_the_validators(doc):
    text = (Path(settings.BASE_DIR) / doc).read_text()
    examples = re.findall(r"--admin-email (\S+) --admin-password '([^']+)'", text)
    assert examples, f"{doc} shows create_tenant"
    for email, password in examples:
        if password != "…":  # an elided one
            signin.password_validate(password=password, user=User(email=email))
