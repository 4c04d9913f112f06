"""Subscriptions, deliveries and conversions over the API: scoped, validated, never a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.tests.factories import CampaignFactory, MessageFactory
from contacts.tests.factories import ContactFactory
from integrations import services
from integrations.models import Conversion, DeliveryStatus, EventDelivery, EventSubscription
from links.tests.factories import ShortLinkFactory

from .factories import EventDeliveryFactory, EventSubscriptionFactory

HOOK = {"url": "https://crm.example.com/hooks", "event_types": ["link.clicked", "contact.opted_out"]}


def test_create_shows_the_secret_once(api_alice, tenant_a):
    resp = api_alice.post("/api/v1/webhooks/", HOOK, format="json")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    sub = EventSubscription.objects.get(pk=body["id"])
    assert sub.tenant == tenant_a and body["secret"] == sub.secret and sub.secret.startswith("whsec_")
    assert body["event_types"] == ["contact.opted_out", "link.clicked"]
    later = api_alice.get(f"/api/v1/webhooks/{sub.pk}/").json()
    assert "secret" not in later and later["secret_masked"].endswith(sub.secret[-4:])
    assert sub.secret not in str(api_alice.get("/api/v1/webhooks/").json())
    # Stored encrypted.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM integrations_eventsubscription WHERE id = %s", [sub.pk])
        assert cursor.fetchone()[0].startswith("fernet:")


def test_rotate_secret(api_alice, tenant_a):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    old = sub.secret
    resp = api_alice.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/")
    assert resp.status_code == 200
    sub.refresh_from_db()
    assert resp.json()["secret"] == sub.secret != old


@pytest.mark.parametrize(
    "body, field",
    [
        ({**HOOK, "url": "http://127.0.0.1:8000/x"}, "url"),
        ({**HOOK, "url": "http://169.254.169.254/latest/"}, "url"),
        ({**HOOK, "url": "http://10.0.0.1/x"}, "url"),
        ({**HOOK, "url": "not a url"}, "url"),
        ({**HOOK, "url": "ftp://crm.example.com/x"}, "url"),
        ({**HOOK, "event_types": []}, "event_types"),
        ({**HOOK, "event_types": ["message.exploded"]}, "event_types"),
        ({"url": HOOK["url"]}, "event_types"),
    ],
)
def test_bad_subscription_is_400_naming_the_field(api_alice, body, field):
    resp = api_alice.post("/api/v1/webhooks/", body, format="json")
    assert resp.status_code == 400 and field in resp.json(), resp.json()


def test_reenabling_clears_the_reason(api_alice, tenant_a):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    services.subscription_disable(subscription=sub, reason="Disabled automatically")
    assert api_alice.get(f"/api/v1/webhooks/{sub.pk}/").json()["disabled_reason"] == "Disabled automatically"
    resp = api_alice.patch(f"/api/v1/webhooks/{sub.pk}/", {"active": True}, format="json")
    assert resp.status_code == 200 and resp.json()["active"] and resp.json()["disabled_reason"] == ""


def test_deliveries_list_filter_and_replay(api_alice, api_bob, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    mine = EventDeliveryFactory(tenant=tenant_a, status=DeliveryStatus.FAILED)
    EventDeliveryFactory(tenant=tenant_a, status=DeliveryStatus.SUCCEEDED)
    theirs = EventDeliveryFactory(tenant=tenant_b, status=DeliveryStatus.FAILED)
    rows = api_alice.get("/api/v1/webhook-deliveries/?status=failed").json()["results"]
    assert [r["id"] for r in rows] == [mine.pk]
    assert api_alice.get(f"/api/v1/webhook-deliveries/?subscription={mine.subscription_id}").json()["count"] == 1
    assert api_alice.get("/api/v1/webhook-deliveries/?status=nope").status_code == 400
    assert api_alice.get("/api/v1/webhook-deliveries/?subscription=x").status_code == 400

    with django_capture_on_commit_callbacks():
        resp = api_alice.post(f"/api/v1/webhook-deliveries/{mine.pk}/replay/")
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    assert api_alice.post(f"/api/v1/webhook-deliveries/{theirs.pk}/replay/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == DeliveryStatus.FAILED
    services.subscription_disable(subscription=mine.subscription, reason="x")
    resp = api_alice.post(f"/api/v1/webhook-deliveries/{mine.pk}/replay/")
    assert resp.status_code == 409 and "disabled" in resp.json()["detail"]


def test_outsider_sees_no_webhooks_deliveries_or_conversions(api_charlie, tenant_a):
    from .factories import ConversionFactory

    sub = EventSubscriptionFactory(tenant=tenant_a)
    delivery = EventDeliveryFactory(tenant=tenant_a, subscription=sub)
    conversion = ConversionFactory(tenant=tenant_a)
    for path in ("webhooks", "webhook-deliveries", "conversions"):
        assert api_charlie.get(f"/api/v1/{path}/").json()["results"] == []
    assert api_charlie.get(f"/api/v1/webhooks/{sub.pk}/").status_code == 404
    assert api_charlie.patch(f"/api/v1/webhooks/{sub.pk}/", {"active": False}, format="json").status_code == 404
    assert api_charlie.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/").status_code == 404
    assert api_charlie.delete(f"/api/v1/webhooks/{sub.pk}/").status_code == 404
    assert api_charlie.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").status_code == 404
    assert api_charlie.get(f"/api/v1/conversions/{conversion.pk}/").status_code == 404
    assert EventSubscription.objects.filter(pk=sub.pk, active=True).exists()


# --- conversions ------------------------------------------------------------


@pytest.fixture
def link_a(tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    message = MessageFactory(tenant=tenant_a, campaign=campaign)
    return ShortLinkFactory(tenant=tenant_a, campaign=campaign, message=message)


def test_conversion_by_code_resolves_campaign_and_contact(api_alice, link_a):
    body = {"order_id": "A-1", "value": "49.90", "currency": "usd", "code": link_a.code}
    resp = api_alice.post("/api/v1/conversions/", body, format="json")
    assert resp.status_code == 201, resp.json()
    conv = Conversion.objects.get(pk=resp.json()["id"])
    assert conv.campaign_id == link_a.campaign_id and conv.contact_id == link_a.message.contact_id
    assert conv.value == Decimal("49.90") and conv.currency == "USD" and conv.link == link_a
    assert resp.json()["contact"] == conv.contact_id and resp.json()["campaign"] == conv.campaign_id


def test_conversion_retry_is_idempotent(api_alice, link_a):
    body = {"order_id": "A-1", "value": "49.90", "currency": "USD", "code": link_a.code}
    first = api_alice.post("/api/v1/conversions/", body, format="json")
    again = api_alice.post("/api/v1/conversions/", {**body, "value": "99.00"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["value"] == "49.90"
    assert Conversion.objects.count() == 1


def test_conversion_by_contact(api_alice, tenant_a):
    contact = ContactFactory(tenant=tenant_a)
    resp = api_alice.post(
        "/api/v1/conversions/", {"order_id": "B", "value": "5", "currency": "EUR", "contact": contact.pk}, format="json"
    )
    assert resp.status_code == 201 and Conversion.objects.get().contact == contact


@pytest.mark.parametrize(
    "extra, field",
    [
        ({}, "code"),
        ({"code": "zzzzzzzz"}, "code"),
        ({"contact": 999999}, "contact"),
        ({"code": ""}, "code"),
    ],
)
def test_conversion_needs_a_known_code_or_contact(api_alice, extra, field):
    resp = api_alice.post(
        "/api/v1/conversions/", {"order_id": "C", "value": "1", "currency": "USD", **extra}, format="json"
    )
    assert resp.status_code == 400 and field in resp.json(), resp.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"value": "-1"}, "value"),
        ({"value": "abc"}, "value"),
        ({"currency": "DOLLARS"}, "currency"),
        ({"order_id": ""}, "order_id"),
    ],
)
def test_conversion_field_errors(api_alice, link_a, body, field):
    payload = {"order_id": "D", "value": "1", "currency": "USD", "code": link_a.code, **body}
    resp = api_alice.post("/api/v1/conversions/", payload, format="json")
    assert resp.status_code == 400 and field in resp.json()


def test_another_tenants_code_or_contact_is_unknown(api_bob, link_a, tenant_a):
    unknown = api_bob.post(
        "/api/v1/conversions/", {"order_id": "E", "value": "1", "currency": "USD", "code": "nope1234"}, format="json"
    )
    theirs = api_bob.post(
        "/api/v1/conversions/", {"order_id": "E", "value": "1", "currency": "USD", "code": link_a.code}, format="json"
    )
    assert theirs.status_code == 400 and theirs.json() == unknown.json()  # does not confirm it exists
    contact = ContactFactory(tenant=tenant_a)
    resp = api_bob.post(
        "/api/v1/conversions/", {"order_id": "F", "value": "1", "currency": "USD", "contact": contact.pk}, format="json"
    )
    assert resp.status_code == 400 and resp.json() == {"contact": ["Unknown contact."]}
    assert not Conversion.objects.exists()


def test_same_order_id_in_two_tenants_is_two_conversions(api_alice, api_bob, tenant_a, tenant_b):
    a, b = ContactFactory(tenant=tenant_a), ContactFactory(tenant=tenant_b)
    body = {"order_id": "SAME", "value": "1", "currency": "USD"}
    assert api_alice.post("/api/v1/conversions/", {**body, "contact": a.pk}, format="json").status_code == 201
    assert api_bob.post("/api/v1/conversions/", {**body, "contact": b.pk}, format="json").status_code == 201


def test_viewer_cannot_write(tenant_a):
    from rest_framework.test import APIClient

    from tenants.models import Role
    from tenants.tests.factories import UserFactory, token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(UserFactory(tenant=tenant_a, role=Role.VIEWER))}")
    assert client.get("/api/v1/webhooks/").status_code == 200
    assert client.post("/api/v1/webhooks/", HOOK, format="json").status_code == 403
    assert client.post("/api/v1/conversions/", {}, format="json").status_code == 403
    delivery = EventDeliveryFactory(tenant=tenant_a)
    assert client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 403
    assert EventDelivery.objects.get(pk=delivery.pk).replays == 0


def test_update_keeps_event_types_clean_and_urls_public(api_alice, tenant_a):
    sub = EventSubscriptionFactory(tenant=tenant_a)
    resp = api_alice.patch(
        f"/api/v1/webhooks/{sub.pk}/",
        {"event_types": ["reply.received", "link.clicked", "link.clicked"]},
        format="json",
    )
    assert resp.status_code == 200 and resp.json()["event_types"] == ["link.clicked", "reply.received"]
    resp = api_alice.patch(f"/api/v1/webhooks/{sub.pk}/", {"url": "http://[::1]:8000/"}, format="json")
    assert resp.status_code == 400 and "url" in resp.json()
