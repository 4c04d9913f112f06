"""Twilio's webhooks per source address (WEBHOOK_THROTTLE): past the rate a 429 with Retry-After, nothing read."""

from __future__ import annotations

import ipaddress
import uuid

import pytest
from django.test import Client

from campaigns.models import Message
from common.webhook_throttle import parse_rate
from tracking.models import StatusEvent
from tracking.tests.conftest import PATH, callback, sent_message, signed_post

INBOUND = "/webhooks/twilio/inbound/"


def _address() -> str:
    """An address of its own per test: the counts stay in the shared Redis for the window."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


@pytest.fixture
def throttled(settings, redis_url):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.WEBHOOK_THROTTLE = "3/hour"  # an hour's window: a test never straddles two
    return settings


def test_the_status_webhook_past_the_rate_is_429_with_retry_after(tenant_a, throttled):
    client = Client(REMOTE_ADDR=_address())
    messages = [sent_message(tenant_a) for _ in range(4)]
    token = tenant_a.twilio_auth_token
    for message in messages[:3]:
        assert signed_post(client, callback(message, "delivered", tenant_a), token).status_code == 204
    resp = signed_post(client, callback(messages[3], "delivered", tenant_a), token)
    assert resp.status_code == 429
    assert 1 <= int(resp["Retry-After"]) <= 3600
    assert "retry in" in resp.json()["detail"]
    # The refused callback was not read: no history, no move.
    assert not StatusEvent.objects.filter(sid=messages[3].sid).exists()
    assert Message.objects.get(pk=messages[3].pk).status == "queued"
    # Another address has its own count.
    other = Client(REMOTE_ADDR=_address())
    assert signed_post(other, callback(messages[3], "delivered", tenant_a), token).status_code == 204


def test_every_request_counts_and_the_inbound_webhook_too(db, throttled):
    client = Client(REMOTE_ADDR=_address())
    # Unsigned requests are refused (403) but counted: a flood pays before the signature check.
    assert [client.post(INBOUND, {"Body": "hi"}).status_code for _ in range(3)] == [403, 403, 403]
    resp = client.post(INBOUND, {"Body": "hi"})
    assert resp.status_code == 429 and int(resp["Retry-After"]) >= 1
    # The status webhook counts against the same address.
    assert client.post(PATH, {}).status_code == 429


def test_zero_turns_it_off(db, throttled):
    throttled.WEBHOOK_THROTTLE = "0"
    client = Client(REMOTE_ADDR=_address())
    assert {client.post(PATH, {}).status_code for _ in range(6)} == {403}


def test_redis_down_serves_the_webhook(db, throttled):
    throttled.REDIS_URL = "redis://127.0.0.1:1/0"
    client = Client(REMOTE_ADDR=_address())
    assert {client.post(PATH, {}).status_code for _ in range(5)} == {403}


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("6000/min", (6000, 60)), ("10/s", (10, 1)), ("100/hour", (100, 3600)), ("5/day", (5, 86400)), ("0", (0, 0))],
)
def test_rates(rate, parsed):
    assert parse_rate(rate) == parsed


def test_a_bad_rate_is_refused_at_start():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "WEBHOOK_THROTTLE": "lots", "DJANGO_SETTINGS_MODULE": "smscampaigns.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "WEBHOOK_THROTTLE must look like 6000/min" in result.stderr
