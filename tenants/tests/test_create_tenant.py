from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import Role, Tenant, User


def _create(*extra: str) -> dict:
    out = StringIO()
    call_command(
        "create_tenant",
        "--slug",
        "acme",
        "--name",
        "Acme",
        "--admin-email",
        "Boss@Acme.example",
        "--admin-password",
        "plum-orchard-4817",
        *extra,
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.django_db
def test_prints_one_json_line_and_creates_tenant_user_token():
    data = _create(
        "--twilio-account-sid",
        "AC" + "1" * 32,
        "--twilio-auth-token",
        "tok-abc",
        "--twilio-from",
        "+14155550100",
        "--sending-rate",
        "12",
    )
    assert data["tenant"] == "acme" and len(data["api_token"]) == 41  # "<8-character prefix>.<32-character secret>"
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.twilio_auth_token == "tok-abc"
    assert tenant.effective_sending_rate == 12
    user = User.objects.get(email="boss@acme.example")
    assert user.tenant == tenant and user.role == Role.ADMIN and user.is_staff and not user.is_superuser
    assert user.check_password("plum-orchard-4817")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {data['api_token']}")
    assert client.get("/api/v1/contacts/").status_code == 200


@pytest.mark.django_db
def test_default_sending_rate_by_sender_type():
    _create("--twilio-from", "+18005550100")
    assert Tenant.objects.get(slug="acme").effective_sending_rate == 3.0  # toll-free


@pytest.mark.django_db
def test_duplicate_slug_is_a_clear_error():
    _create()
    with pytest.raises(CommandError, match="slug"):
        _create()


@pytest.mark.django_db
def test_invalid_account_sid_is_a_clear_error():
    with pytest.raises(CommandError, match="twilio_account_sid"):
        _create("--twilio-account-sid", "nope")
    assert not Tenant.objects.exists()
