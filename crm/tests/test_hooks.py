"""REST hooks for Zapier, Make and n8n: subscribe, a signed delivery, unsubscribe; samples; polling."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from crm.models import RestHook
from integrations import services as integrations_services
from integrations.events import contact_opt_event_emit
from integrations.models import Event, EventDelivery, EventSubscription, EventType

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/hooks/"


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """Standard Webhooks, as docs/integrations.md tells a receiver to check it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split())


def test_subscribe_deliver_signed_unsubscribe_round_trip(
    api_alice, api_bob, api_charlie, tenant_a, receiver, django_capture_on_commit_callbacks, sent_tasks
):
    answer = api_alice.post(HOOKS, {"target_url": receiver.url, "event": "contact.opted_out"}, format="json")
    assert answer.status_code == 201, answer.content
    hook = answer.json()
    assert hook["event"] == "contact.opted_out" and hook["secret"].startswith("whsec_")
    subscription = RestHook.objects.get(pk=hook["id"]).subscription
    assert subscription.event_types == ["contact.opted_out"] and subscription.tenant_id == tenant_a.pk

    # Another tenant and the outsider see nothing and remove nothing.
    def rows(client):
        listing = client.get(HOOKS).json()
        return listing["results"] if isinstance(listing, dict) else listing

    assert [h["id"] for h in rows(api_alice)] == [hook["id"]]
    assert rows(api_bob) == []
    assert api_bob.get(f"{HOOKS}{hook['id']}/").status_code == 404
    assert api_charlie.delete(f"{HOOKS}{hook['id']}/").status_code == 404
    assert RestHook.objects.filter(pk=hook["id"]).exists()

    with django_capture_on_commit_callbacks(execute=True):
        event = contact_opt_event_emit(
            tenant_id=tenant_a.pk, phone_number="+14155550100", opted_out=True, source="keyword", contact_id=None
        )
    assert event is not None
    delivery = EventDelivery.objects.get(event=event)
    assert integrations_services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert verify(hook["secret"], got.headers, got.body)
    body = json.loads(got.body)
    assert body["type"] == "contact.opted_out" and body["version"] == "v1"
    assert body["data"]["phone_number"] == "+14155550100"

    assert api_alice.delete(f"{HOOKS}{hook['id']}/").status_code == 204
    assert not RestHook.objects.filter(pk=hook["id"]).exists()
    assert not EventSubscription.objects.filter(pk=subscription.pk).exists()
    # Unsubscribed: the next event goes nowhere (no subscriber, no event).
    assert (
        contact_opt_event_emit(tenant_id=tenant_a.pk, phone_number="+14155550100", opted_out=True, source="keyword")
        is None
    )
    assert api_alice.delete(f"{HOOKS}{hook['id']}/").status_code == 404


def test_subscribe_checks_its_input(api_alice, client):
    bad = api_alice.post(HOOKS, {"target_url": "https://hooks.example.com/x", "event": "nope"}, format="json")
    assert bad.status_code == 400 and "event" in bad.json()
    local = api_alice.post(HOOKS, {"target_url": "http://127.0.0.1:9/x", "event": "link.clicked"}, format="json")
    assert local.status_code == 400 and "target_url" in local.json()
    assert api_alice.post(HOOKS, {"event": "link.clicked"}, format="json").status_code == 400
    assert client.post(HOOKS, {}, content_type="application/json").status_code == 401


def test_samples_for_every_event_type(api_alice):
    for event_type in EventType.values:
        answer = api_alice.get(f"{HOOKS}samples/{event_type}/")
        assert answer.status_code == 200, event_type
        [sample] = answer.json()
        assert sample["type"] == event_type and sample["version"] == "v1" and sample["data"]
    assert api_alice.get(f"{HOOKS}samples/no.such/").status_code == 404


def test_poll_newest_first_since_and_per_tenant(api_alice, api_bob, tenant_a, tenant_b):
    EventSubscription.objects.create(
        tenant=tenant_a, url="https://crm.example.com/h", secret="whsec_QUFBQQ==", event_types=["reply.received"]
    )
    now = timezone.now()
    older = Event.objects.create(
        tenant=tenant_a, type="reply.received", payload={"body": "one"}, created_at=now - dt.timedelta(hours=2)
    )
    newer = Event.objects.create(
        tenant=tenant_a, type="reply.received", payload={"body": "two"}, created_at=now - dt.timedelta(hours=1)
    )
    Event.objects.create(tenant=tenant_a, type="link.clicked", payload={}, created_at=now)
    Event.objects.create(tenant=tenant_b, type="reply.received", payload={"body": "bob's"}, created_at=now)

    items = api_alice.get(f"{HOOKS}poll/reply.received/").json()
    assert [i["id"] for i in items] == [str(newer.id), str(older.id)]
    assert items[0]["version"] == "v1" and items[0]["data"] == {"body": "two"}
    since = (now - dt.timedelta(minutes=90)).isoformat()
    assert [i["id"] for i in api_alice.get(f"{HOOKS}poll/reply.received/", {"since": since}).json()] == [str(newer.id)]
    assert len(api_alice.get(f"{HOOKS}poll/reply.received/", {"limit": 1}).json()) == 1
    assert [i["data"]["body"] for i in api_bob.get(f"{HOOKS}poll/reply.received/").json()] == ["bob's"]
    assert api_alice.get(f"{HOOKS}poll/reply.received/", {"since": "yesterday"}).status_code == 400
    assert api_alice.get(f"{HOOKS}poll/reply.received/", {"limit": "0"}).status_code == 400
    assert api_alice.get(f"{HOOKS}poll/nope/").status_code == 404
