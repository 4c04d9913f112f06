"""Fixtures every test can use: two tenants (Alice's and Bob's) and an outsider.

Alice and Bob are admins of tenants A and B; Charlie is a logged-in user of a
third tenant who must never see either. Tests that need Redis ask for
``redis_url``: under CI a missing Redis fails the test instead of skipping it.
"""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from tenants.models import Role
from tenants.tests.factories import TenantFactory, UserFactory, token_for

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def tenant_a(db):
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(slug="bobs", name="Bob's Bikes")


@pytest.fixture
def alice(tenant_a):
    return UserFactory(email="alice@acme.example", tenant=tenant_a, role=Role.ADMIN)


@pytest.fixture
def bob(tenant_b):
    return UserFactory(email="bob@bobs.example", tenant=tenant_b, role=Role.ADMIN)


@pytest.fixture
def charlie(db):
    return UserFactory(email="charlie@outside.example", tenant=TenantFactory(slug="outside"), role=Role.ADMIN)


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def api_alice(alice):
    return _api(alice)


@pytest.fixture
def api_bob(bob):
    return _api(bob)


@pytest.fixture
def api_charlie(charlie):
    return _api(charlie)


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        if IN_CI:
            pytest.fail("REDIS_URL is not set: CI must run the Redis tests")
        pytest.skip("REDIS_URL not set (set it to run the Redis tests)")
    return url


@pytest.fixture
def fake_twilio(settings, tenant_a, tenant_b):
    """A local Twilio-compatible server that knows tenants A's and B's credentials."""
    from gateways.fake_twilio import FakeTwilio

    server = FakeTwilio(accounts={t.twilio_account_sid: t.twilio_auth_token for t in (tenant_a, tenant_b)}).start()
    settings.TWILIO_API_BASE_URL = server.base_url
    settings.SMS_GATEWAY = "twilio"
    yield server
    server.stop()
