"""Fixtures of the guard's tests: sending unthrottled and at any hour, a campaign handed to the local Twilio."""

from __future__ import annotations

import pytest
import redis
from django.test import Client

from campaigns.models import Campaign, Message
from campaigns.sending import control, dispatch
from campaigns.tests.conftest import always_open
from contacts.tests.factories import ContactFactory
from tracking.tests.conftest import signed_post


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.SENDING_THROTTLE_ENABLED = False


@pytest.fixture(autouse=True)
def _fresh_guard_counters(settings):
    """The caps' and abuse counters of earlier runs (tenant ids repeat between test databases) are gone."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.GUARD_REDIS_PREFIX}*", count=1000):
        client.delete(key)


@pytest.fixture
def open_hours(tenant_a, tenant_b):
    always_open(tenant_a, tenant_b)


@pytest.fixture
def callbacks(settings):
    """``callbacks(fake, sids, status, error_code)``: Twilio's signed status callbacks for ``sids``, POSTed to the
    webhook (as the local Twilio-compatible server would sign them); returns the HTTP statuses."""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    client = Client()

    def post(fake, tenant, sids, status, error_code=None):
        return [
            signed_post(client, fake.callback_params(sid, status, error_code), tenant.twilio_auth_token).status_code
            for sid in sids
        ]

    return post


def campaign_sent_by_api(api, tenant, n: int, *, body: str = "Spring sale: 20% off today", prefix: str = "+1415666"):
    """``n`` consenting contacts, a campaign created and sent through the API, its fan-out run; the messages are
    pending (no batch sent yet). Returns the campaign."""
    for i in range(n):
        ContactFactory(tenant=tenant, phone_number=f"{prefix}{i:04d}", consent_status="granted")
    created = api.post("/api/v1/campaigns/", {"name": "Guarded", "body": body}, format="json")
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    answer = api.post(f"/api/v1/campaigns/{campaign_id}/send/", {}, format="json")
    assert answer.status_code == 202, answer.content
    control.fanout_run(campaign_id=campaign_id)
    return Campaign.objects.get(pk=campaign_id)


def send_batch(campaign, count: int | None = None):
    """Send the first ``count`` pending messages (all of them by default) through the real dispatch."""
    ids = list(Message.objects.filter(campaign=campaign, status="pending").order_by("id").values_list("pk", flat=True))
    return dispatch.messages_send_batch(message_ids=ids[:count] if count else ids)
