"""HubSpot's webhooks through the real door, signed with the v3 signature as HubSpot documents it: base64
HMAC-SHA256 of method + URI + body + timestamp (milliseconds) with the app's client secret; older than 5 minutes
is refused."""

from __future__ import annotations

import time

import pytest

from contacts.models import Contact, ContactExternalId
from contacts.tests.factories import ContactFactory
from crm.models import InboundEvent

from .conftest import hubspot_post

pytestmark = pytest.mark.django_db


def change(event_id, object_id, name, value, occurred=1764590000000):
    return {
        "eventId": event_id,
        "subscriptionId": 12345,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": occurred,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "propertyName": name,
        "propertyValue": value,
        "changeSource": "CRM",
    }


def test_property_changes_upsert_a_contact_by_its_hubspot_id(client, hubspot_a, tenant_a, tenant_b):
    events = [
        change(101, 901, "firstname", "Grace"),
        change(102, 901, "phone", "+1 415 555 0130"),  # listed after the name: applied first
        change(103, 901, "email", "grace@example.com"),
        change(104, 901, "favourite_colour", "teal"),
        change(105, 901, "hs_analytics_source", "DIRECT"),
        {"eventId": 106, "subscriptionType": "contact.creation", "objectId": 901, "occurredAt": 1764590000000},
    ]
    answer = hubspot_post(client, hubspot_a, events)
    assert answer.status_code == 200, answer.content
    assert answer.json()["received"] == 6
    contact = Contact.objects.get(tenant=tenant_a, phone_number="+14155550130")
    assert (contact.first_name, contact.email) == ("Grace", "grace@example.com")
    assert contact.custom_fields == {"favourite_colour": "teal"}
    assert contact.consent_status == "unknown"  # HubSpot's events carry no consent evidence
    assert ContactExternalId.objects.get(tenant=tenant_a, source="hubspot").external_id == "901"
    assert not Contact.objects.filter(tenant=tenant_b).exists()
    stamp = contact.updated_at

    # Redelivered (HubSpot retries with the same eventIds): nothing changes.
    again = hubspot_post(client, hubspot_a, events)
    assert again.status_code == 200 and again.json()["duplicates"] == 6
    contact.refresh_from_db()
    assert contact.updated_at == stamp
    assert InboundEvent.objects.filter(connection=hubspot_a).count() == 6

    # A later change finds the contact by its HubSpot id alone.
    hubspot_post(client, hubspot_a, [change(107, 901, "lastname", "Hopper")])
    contact.refresh_from_db()
    assert contact.last_name == "Hopper"


def test_merge_rules_apply_to_hubspot(client, hubspot_a, tenant_a):
    from contacts.models import CrmMergePolicy

    CrmMergePolicy.objects.create(tenant=tenant_a, names="fill_empty")
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550131", first_name="Ours")
    hubspot_post(client, hubspot_a, [change(201, 902, "phone", "+14155550131"), change(202, 902, "firstname", "X")])
    contact.refresh_from_db()
    assert contact.first_name == "Ours"


def test_unknown_contact_and_bad_values_are_skipped(client, hubspot_a, tenant_a):
    answer = hubspot_post(
        client,
        hubspot_a,
        [
            change(301, 999, "firstname", "Nobody"),
            change(302, 998, "phone", "not a phone"),
            {"eventId": 303, "subscriptionType": "deal.creation", "objectId": 5},
        ],
    )
    assert answer.status_code == 200 and answer.json()["skipped"] == 3
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_bad_signatures_and_stale_timestamps_are_403(client, hubspot_a, tenant_a):
    events = [change(401, 903, "phone", "+14155550132")]
    assert hubspot_post(client, hubspot_a, events, secret="wrong").status_code == 403
    stale = int((time.time() - 6 * 60) * 1000)
    assert hubspot_post(client, hubspot_a, events, timestamp_ms=stale).status_code == 403
    assert hubspot_post(client, hubspot_a, events, base_url="https://elsewhere.example").status_code == 403
    assert (
        client.post(f"/webhooks/hubspot/{hubspot_a.token}/", data=b"[]", content_type="application/json").status_code
        == 403
    )
    assert not Contact.objects.exists() and not InboundEvent.objects.exists()
    # Signed correctly: in.
    assert hubspot_post(client, hubspot_a, events).status_code == 200
    assert Contact.objects.filter(tenant=tenant_a, phone_number="+14155550132").exists()


def test_a_shopify_token_is_not_a_hubspot_connection(client, shopify_a, hubspot_a):
    hubspot_a.token = shopify_a.token  # the Shopify connection's token on the HubSpot path
    assert hubspot_post(client, hubspot_a, [change(501, 1, "phone", "+14155550133")]).status_code == 404
