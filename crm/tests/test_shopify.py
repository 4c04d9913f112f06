"""Shopify's webhooks through the real door: signed as Shopify signs (base64 HMAC-SHA256 of the raw body with the
app's client secret), orders become attributed conversions, customers become contacts with their consent."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, MessageFactory
from contacts.models import Contact, ContactExternalId
from contacts.tests.factories import ContactFactory
from crm.models import InboundEvent
from integrations.models import Conversion
from links.tests.factories import ShortLinkFactory

from .conftest import SHOPIFY_SECRET_B, shopify_post

pytestmark = pytest.mark.django_db


def order(order_id=820982911946154508, **extra):
    payload = {
        "id": order_id,
        "name": "#1001",
        "created_at": timezone.now().isoformat(),
        "total_price": "49.90",
        "currency": "USD",
        "phone": None,
        "customer": {"id": 115310627314723954, "phone": None},
        "landing_site": "/products/sneakers",
        "note_attributes": [],
    }
    payload.update(extra)
    return payload


def clicked_link(tenant, contact, campaign, *, hours_ago: float):
    message = MessageFactory(tenant=tenant, campaign=campaign, contact=contact)
    at = timezone.now() - dt.timedelta(hours=hours_ago)
    return ShortLinkFactory(
        tenant=tenant, campaign=campaign, message=message, first_clicked_at=at, last_clicked_at=at, human_clicks=1
    )


def test_order_with_the_short_link_code_is_attributed_to_its_campaign_once(client, shopify_a, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a, name="Spring sale")
    contact = ContactFactory(tenant=tenant_a)
    link = clicked_link(tenant_a, contact, campaign, hours_ago=2)
    payload = order(note_attributes=[{"name": "sms_code", "value": link.code}])

    answer = shopify_post(client, shopify_a, "orders/create", payload, webhook_id="wh-1")
    assert answer.status_code == 200, answer.content
    assert answer.json()["processed"] == 1
    conversion = Conversion.objects.get(tenant=tenant_a)
    assert conversion.order_id == "820982911946154508"
    assert str(conversion.value) == "49.90" and conversion.currency == "USD"
    assert conversion.campaign_id == campaign.pk
    assert conversion.link_id == link.pk and conversion.contact_id == contact.pk

    # The same delivery again, then orders/paid for the same order: nothing changes.
    again = shopify_post(client, shopify_a, "orders/create", payload, webhook_id="wh-1")
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    paid = shopify_post(client, shopify_a, "orders/paid", {**payload, "total_price": "10.00"}, webhook_id="wh-2")
    assert paid.status_code == 200 and "already recorded" in paid.json()["outcomes"][0]
    assert Conversion.objects.filter(tenant=tenant_a).count() == 1
    assert str(Conversion.objects.get(tenant=tenant_a).value) == "49.90"
    assert InboundEvent.objects.filter(connection=shopify_a).count() == 2

    # The campaign's stats count it.
    from integrations.selectors import campaign_conversions

    type(campaign).objects.filter(pk=campaign.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    assert campaign_conversions(campaign.pk)["conversions"] == 1


def test_order_by_phone_goes_to_the_last_click_or_the_utm_campaign(client, shopify_a, tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550123")
    older = CampaignFactory(tenant=tenant_a, name="Black Friday")
    newer = CampaignFactory(tenant=tenant_a, name="Cyber Monday")
    clicked_link(tenant_a, contact, older, hours_ago=30)
    clicked_link(tenant_a, contact, newer, hours_ago=1)

    shopify_post(client, shopify_a, "orders/create", order(1, phone="(415) 555-0123"))
    assert Conversion.objects.get(order_id="1").campaign_id == newer.pk  # the last click

    landing = "/collections/all?utm_source=sms&utm_medium=sms&utm_campaign=black-friday"
    shopify_post(
        client, shopify_a, "orders/create", order(2, customer={"id": 7, "phone": "+14155550123"}, landing_site=landing)
    )
    assert Conversion.objects.get(order_id="2").campaign_id == older.pk  # the landing URL's campaign


def test_order_of_a_journey_message_is_attributed_to_the_step_carrier(client, shopify_a, tenant_a):
    carrier = CampaignFactory(tenant=tenant_a, name="Welcome v1: message 1", kind="journey")
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550124")
    clicked_link(tenant_a, contact, carrier, hours_ago=3)
    shopify_post(client, shopify_a, "orders/create", order(3, billing_address={"phone": "+14155550124"}))
    assert Conversion.objects.get(order_id="3").campaign_id == carrier.pk


def test_clicks_outside_the_window_and_unknown_buyers(client, shopify_a, tenant_a, settings):
    settings.CONVERSION_ATTRIBUTION_WINDOW_DAYS = 5
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550125")
    clicked_link(tenant_a, contact, CampaignFactory(tenant=tenant_a), hours_ago=24 * 6)
    shopify_post(client, shopify_a, "orders/create", order(4, phone="+14155550125"))
    conversion = Conversion.objects.get(order_id="4")
    assert conversion.contact_id == contact.pk and conversion.campaign_id is None

    answer = shopify_post(client, shopify_a, "orders/create", order(5, phone="+14155550999"))
    assert answer.status_code == 200 and answer.json()["skipped"] == 1
    assert not Conversion.objects.filter(order_id="5").exists()


def test_forged_or_missing_signatures_are_403_and_change_nothing(client, shopify_a, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    link = clicked_link(tenant_a, ContactFactory(tenant=tenant_a), campaign, hours_ago=1)
    payload = order(6, note_attributes=[{"name": "sms_code", "value": link.code}])
    assert shopify_post(client, shopify_a, "orders/create", payload, secret="not-the-secret").status_code == 403
    assert shopify_post(client, shopify_a, "orders/create", payload, secret=SHOPIFY_SECRET_B).status_code == 403
    assert shopify_post(client, shopify_a, "orders/create", payload, signature="").status_code == 403
    # Signed, then the body changed in transit.
    body = json.dumps(payload).encode()
    import base64
    import hashlib
    import hmac

    good = base64.b64encode(hmac.new(shopify_a.secret.encode(), body, hashlib.sha256).digest()).decode()
    tampered = body.replace(b"49.90", b"0.01")
    assert shopify_post(client, shopify_a, "orders/create", None, raw=tampered, signature=good).status_code == 403
    assert not Conversion.objects.exists()
    assert not InboundEvent.objects.exists()


def test_another_tenants_connection_and_codes(client, shopify_a, shopify_b, tenant_a, tenant_b):
    link = clicked_link(tenant_a, ContactFactory(tenant=tenant_a), CampaignFactory(tenant=tenant_a), hours_ago=1)
    payload = order(7, note_attributes=[{"name": "sms_code", "value": link.code}])
    # Bob's store reporting Alice's code: Alice's link is not Bob's, and Bob has no such buyer.
    answer = shopify_post(client, shopify_b, "orders/create", payload)
    assert answer.status_code == 200 and answer.json()["skipped"] == 1
    assert not Conversion.objects.exists()
    # Alice's connection signed with Bob's secret, an unknown token, a HubSpot token on the Shopify path: no.
    assert shopify_post(client, shopify_a, "orders/create", payload, secret=SHOPIFY_SECRET_B).status_code == 403
    shopify_a.token = "unknown-token"
    assert shopify_post(client, shopify_a, "orders/create", payload).status_code == 404


def test_inactive_connection_is_404(client, shopify_a):
    shopify_a.active = False
    shopify_a.save()
    assert shopify_post(client, shopify_a, "orders/create", order(8)).status_code == 404


def test_body_over_the_limit_is_413_and_bad_json_400(client, shopify_a, settings):
    settings.CRM_WEBHOOK_MAX_BYTES = 200
    big = order(9, note="x" * 500)
    assert shopify_post(client, shopify_a, "orders/create", big).status_code == 413
    settings.CRM_WEBHOOK_MAX_BYTES = 1_000_000
    assert shopify_post(client, shopify_a, "orders/create", None, raw=b"{not json").status_code == 400
    assert shopify_post(client, shopify_a, "orders/create", None, raw=b"[1, 2]").status_code == 400
    # A malformed order (no amount) is acknowledged and skipped, never a 500.
    answer = shopify_post(client, shopify_a, "orders/create", {"id": 10, "total_price": "lots", "currency": "USD"})
    assert answer.status_code == 200 and answer.json()["skipped"] == 1
    assert client.get(f"/webhooks/shopify/{shopify_a.token}/").status_code == 405


def test_other_topics_are_acknowledged_and_ignored(client, shopify_a):
    answer = shopify_post(client, shopify_a, "products/update", {"id": 1})
    assert answer.status_code == 200 and answer.json()["skipped"] == 1


def customer(customer_id=207119551, **extra):
    payload = {
        "id": customer_id,
        "email": "bob.norman@example.com",
        "first_name": "Bob",
        "last_name": "Norman",
        "phone": "+16136120707",
        "tags": "vip, newsletter",
        "updated_at": "2026-12-01T10:00:00-05:00",
        "accepts_marketing": True,
        "sms_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2026-12-01T09:58:00-05:00",
            "consent_collected_from": "SHOPIFY",
        },
    }
    payload.update(extra)
    return payload


def test_customers_become_contacts_with_their_consent(client, shopify_a, tenant_a, tenant_b):
    answer = shopify_post(client, shopify_a, "customers/create", customer(), webhook_id="c-1")
    assert answer.status_code == 200 and answer.json()["processed"] == 1, answer.content
    contact = Contact.objects.get(tenant=tenant_a, phone_number="+16136120707")
    assert (contact.first_name, contact.last_name, contact.email) == ("Bob", "Norman", "bob.norman@example.com")
    assert contact.consent_status == "granted"
    assert contact.consent_at == dt.datetime(2026, 12, 1, 14, 58, tzinfo=dt.UTC)
    assert "SHOPIFY" in contact.consent_source
    assert sorted(contact.tags.values_list("name", flat=True)) == ["newsletter", "vip"]
    assert ContactExternalId.objects.get(tenant=tenant_a, source="shopify").external_id == "207119551"
    assert not Contact.objects.filter(tenant=tenant_b).exists()
    stamp = contact.updated_at

    # The same customer again (another delivery id, same state): nothing changes.
    shopify_post(client, shopify_a, "customers/update", customer(), webhook_id="c-2")
    contact.refresh_from_db()
    assert contact.updated_at == stamp

    # Unsubscribed in Shopify: revoked here. Subscribed again: a CRM cannot lift a revocation.
    unsubscribed = customer(
        sms_marketing_consent={
            "state": "unsubscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2026-12-02T09:00:00Z",
        }
    )
    shopify_post(client, shopify_a, "customers/update", unsubscribed, webhook_id="c-3")
    contact.refresh_from_db()
    assert contact.consent_status == "revoked"
    answer = shopify_post(client, shopify_a, "customers/update", customer(), webhook_id="c-4")
    assert "revocation" in answer.json()["outcomes"][0]
    contact.refresh_from_db()
    assert contact.consent_status == "revoked"


def test_email_marketing_alone_is_not_sms_consent(client, shopify_a, tenant_a):
    shopify_post(
        client,
        shopify_a,
        "customers/create",
        customer(8, phone="+16136120708", accepts_marketing=True, sms_marketing_consent=None),
    )
    assert Contact.objects.get(tenant=tenant_a, phone_number="+16136120708").consent_status == "unknown"


def test_customer_without_a_phone_is_skipped(client, shopify_a, tenant_a):
    answer = shopify_post(client, shopify_a, "customers/create", customer(9, phone=None))
    assert answer.status_code == 200 and answer.json()["skipped"] == 1
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_customer_with_a_new_number_keeps_its_contact(client, shopify_a, tenant_a):
    shopify_post(client, shopify_a, "customers/create", customer(10, phone="+16136120710"))
    shopify_post(
        client,
        shopify_a,
        "customers/update",
        customer(10, phone="+16136120711", first_name="Robert"),
        webhook_id=str(uuid.uuid4()),
    )
    contact = Contact.objects.get(tenant=tenant_a)
    assert contact.phone_number == "+16136120711" and contact.first_name == "Robert"
