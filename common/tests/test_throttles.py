"""API rates (common/throttles.py), through HTTP: per token, per address without credentials, and bad tokens
counted against the address (DRF authenticates before it throttles: without that, a 401 forever)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tenants.models import ApiKey
from tenants.tests.factories import token_for

ADDR = "203.0.113.15"
OTHER_ADDR = "203.0.113.16"
URL = "/api/v1/contacts/"


def _key_ident(token: str) -> str:
    """A key is counted by its id, never by its secret."""
    return f"k{ApiKey.objects.match(token).pk}"


@pytest.fixture
def throttle_keys():
    """The cache keys these tests count in (db shared with the rest of the suite: only these are removed)."""
    keys = [f"throttle_{scope}_{addr}" for scope in ("anon", "bad_auth") for addr in (ADDR, OTHER_ADDR)]
    cache.delete_many(keys)
    yield keys
    cache.delete_many(keys)


def _assert_429(resp, window: int):
    assert resp.status_code == 429, resp.content
    assert resp["Content-Type"] == "application/json"
    assert "throttled" in resp.json()["detail"].lower()
    assert 0 < int(resp["Retry-After"]) <= window


@pytest.mark.django_db
def test_the_101st_anonymous_request_in_a_window_is_429(settings, throttle_keys):
    settings.API_THROTTLE_ANON = "100/min"
    client = APIClient()
    for _ in range(100):
        assert client.get(URL, REMOTE_ADDR=ADDR).status_code == 401
    _assert_429(client.get(URL, REMOTE_ADDR=ADDR), 60)
    # The public schema (AllowAny) is counted too; another address is not affected.
    schema = client.get("/api/schema/", REMOTE_ADDR=ADDR)
    assert schema.status_code == 429
    assert 0 < int(schema["Retry-After"]) <= 60
    assert client.get(URL, REMOTE_ADDR=OTHER_ADDR).status_code == 401


@pytest.mark.django_db
def test_an_api_key_is_throttled_per_token(settings, alice, bob, throttle_keys):
    settings.API_THROTTLE_USER = "3/min"
    tokens = [token_for(alice), token_for(bob)]
    keys = [f"throttle_key_{_key_ident(t)}" for t in tokens]
    cache.delete_many(keys)
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")
        for _ in range(3):
            assert client.get(URL, REMOTE_ADDR=ADDR).status_code == 200
        _assert_429(client.get(URL, REMOTE_ADDR=ADDR), 60)
        # Bob's key, from the same address, has its own count.
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Token {tokens[1]}")
        assert other.get(URL, REMOTE_ADDR=ADDR).status_code == 200
        # The raw token is never a cache key.
        assert cache.get(f"throttle_key_{tokens[0]}") is None
        assert cache.get(keys[0]) is not None
    finally:
        cache.delete_many(keys)


@pytest.mark.django_db
def test_bad_tokens_turn_into_429_past_the_limit(settings, alice, throttle_keys):
    settings.API_BAD_AUTH_LIMIT = 5
    settings.API_BAD_AUTH_WINDOW = 600
    good = token_for(alice)
    key = f"throttle_key_{_key_ident(good)}"
    cache.delete(key)
    try:
        client = APIClient()
        for i in range(5):
            client.credentials(HTTP_AUTHORIZATION=f"Token bad{i:037d}")
            assert client.get(URL, REMOTE_ADDR=ADDR).status_code == 401
        for i in range(3):
            client.credentials(HTTP_AUTHORIZATION=f"Token worse{i:035d}")
            _assert_429(client.get(URL, REMOTE_ADDR=ADDR), 600)
        # A good key from another address is unaffected.
        client.credentials(HTTP_AUTHORIZATION=f"Token {good}")
        assert client.get(URL, REMOTE_ADDR=OTHER_ADDR).status_code == 200
        # And a bad token from another address is still a plain 401.
        client.credentials(HTTP_AUTHORIZATION="Token " + "x" * 40)
        assert client.get(URL, REMOTE_ADDR=OTHER_ADDR).status_code == 401
    finally:
        cache.delete(key)


def test_x_forwarded_for_is_ignored_without_proxies(settings, throttle_keys, db):
    """The address counted is REMOTE_ADDR: a forged X-Forwarded-For does not buy a fresh count."""
    settings.API_THROTTLE_ANON = "2/min"
    client = APIClient()
    for i in range(2):
        assert client.get(URL, REMOTE_ADDR=ADDR, HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code == 401
    _assert_429(client.get(URL, REMOTE_ADDR=ADDR, HTTP_X_FORWARDED_FOR="198.51.100.9"), 60)
