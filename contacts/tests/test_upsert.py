"""Upsert by phone, bulk upsert, external ids and the merge rules, through the API."""

from __future__ import annotations

import pytest

from compliance.models import ConsentEvent, Suppression
from contacts.models import Contact, ContactExternalId, CrmMergePolicy

from .factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/by-phone/{}/"
BULK = "/api/v1/contacts/upsert/"


def test_put_by_phone_creates_then_updates_and_is_idempotent(api_alice, tenant_a):
    body = {"first_name": "Ada", "email": "ada@example.com", "tags": ["vip"], "custom_fields": {"tier": "gold"}}
    first = api_alice.put(URL.format("+14155550100"), body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["phone_number"] == "+14155550100"
    assert first.json()["tags"] == ["vip"]
    contact = Contact.objects.get(tenant=tenant_a, phone_number="+14155550100")
    stamp = contact.updated_at

    again = api_alice.put(URL.format("+14155550100"), body, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == contact.pk
    contact.refresh_from_db()
    assert contact.updated_at == stamp  # nothing written the second time
    assert Contact.objects.filter(tenant=tenant_a).count() == 1

    changed = api_alice.put(URL.format("+14155550100"), {"last_name": "Lovelace", "tags": ["nyc"]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["first_name"] == "Ada"  # absent fields kept
    assert changed.json()["last_name"] == "Lovelace"
    assert sorted(changed.json()["tags"]) == ["nyc", "vip"]  # tags are added


def test_put_by_phone_national_format_and_bad_number(api_alice, tenant_a):
    assert api_alice.put(URL.format("(415) 555-0101"), {}, format="json").status_code == 201
    assert Contact.objects.filter(tenant=tenant_a, phone_number="+14155550101").exists()
    bad = api_alice.put(URL.format("12"), {"first_name": "X"}, format="json")
    assert bad.status_code == 400
    assert "phone_number" in bad.json()


def test_put_by_phone_is_per_tenant(api_alice, api_bob, api_charlie, tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, phone_number="+14155550102", first_name="Alice's")
    answer = api_bob.put(URL.format("+14155550102"), {"first_name": "Bob's"}, format="json")
    assert answer.status_code == 201  # a new contact in Bob's tenant, Alice's untouched
    assert Contact.objects.get(tenant=tenant_a, phone_number="+14155550102").first_name == "Alice's"
    assert Contact.objects.get(tenant=tenant_b, phone_number="+14155550102").first_name == "Bob's"
    # The outsider sees neither through the API.
    other = Contact.objects.get(tenant=tenant_a, phone_number="+14155550102")
    assert api_charlie.get(f"/api/v1/contacts/{other.pk}/").status_code == 404


def test_unauthenticated_is_401(client):
    assert client.put(URL.format("+14155550100"), "{}", content_type="application/json").status_code == 401


def test_external_id_finds_the_contact_without_a_number(api_alice, tenant_a):
    created = api_alice.put(
        URL.format("+14155550103"), {"source": "hubspot", "external_id": "901", "first_name": "Old"}, format="json"
    )
    assert created.status_code == 201
    assert ContactExternalId.objects.filter(tenant=tenant_a, source="hubspot", external_id="901").count() == 1
    answer = api_alice.post(BULK, [{"source": "hubspot", "external_id": "901", "first_name": "New"}], format="json")
    assert answer.json() == {"created": 0, "updated": 1, "unchanged": 0, "errors": [], "ignored": []}
    assert Contact.objects.get(tenant=tenant_a, phone_number="+14155550103").first_name == "New"
    # Unknown external id and no number: a row error, nothing created.
    answer = api_alice.post(BULK, [{"source": "hubspot", "external_id": "nope"}], format="json")
    assert answer.json()["errors"][0]["row"] == 1
    assert "phone_number" in answer.json()["errors"][0]["error"]


def test_bulk_upsert_reports_bad_rows_and_keeps_good_ones(api_alice, tenant_a):
    ContactFactory(tenant=tenant_a, phone_number="+14155550104", first_name="Kept")
    rows = [
        {"phone_number": "+14155550104", "first_name": "Changed"},
        {"phone_number": "not a number"},
        {"phone_number": "+14155550105", "email": "not-an-email"},
        {"phone_number": "+14155550106", "tags": ["a"]},
        "a string",
        {"phone_number": "+14155550107", "timezone": "Mars/Olympus"},
    ]
    answer = api_alice.post(BULK, rows, format="json")
    assert answer.status_code == 200
    data = answer.json()
    assert (data["created"], data["updated"], data["unchanged"]) == (1, 1, 0)
    assert [e["row"] for e in data["errors"]] == [2, 3, 5, 6]
    assert data["errors"][0]["error"].startswith("phone_number:")
    assert data["errors"][1]["error"].startswith("email:")
    assert Contact.objects.get(tenant=tenant_a, phone_number="+14155550104").first_name == "Changed"
    assert not Contact.objects.filter(tenant=tenant_a, phone_number="+14155550105").exists()
    again = api_alice.post(BULK, {"contacts": rows}, format="json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_bulk_upsert_limits(api_alice, settings):
    assert api_alice.post(BULK, {"contacts": "x"}, format="json").status_code == 400
    too_many = [{"phone_number": f"+1415555{i:04d}"} for i in range(1001)]
    answer = api_alice.post(BULK, too_many, format="json")
    assert answer.status_code == 400
    assert "contacts" in answer.json()


def test_merge_policy_per_field_group(api_alice, api_bob, tenant_a):
    contact = ContactFactory(
        tenant=tenant_a, phone_number="+14155550108", first_name="Ours", email="", custom_fields={"tier": "gold"}
    )
    answer = api_alice.put(
        "/api/v1/contacts/merge-rules/",
        {"names": "never", "email": "fill_empty", "custom_fields": "fill_empty"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert CrmMergePolicy.objects.get(tenant=tenant_a).names == "never"
    assert api_bob.get("/api/v1/contacts/merge-rules/").json()["names"] == "overwrite"  # Bob's own defaults
    bad = api_alice.patch("/api/v1/contacts/merge-rules/", {"email": "sometimes"}, format="json")
    assert bad.status_code == 400 and "email" in bad.json()

    body = {
        "source": "shopify",
        "first_name": "Theirs",
        "email": "crm@example.com",
        "custom_fields": {"tier": "silver", "size": "M"},
    }
    api_alice.put(URL.format("+14155550108"), body, format="json")
    contact.refresh_from_db()
    assert contact.first_name == "Ours"  # never
    assert contact.email == "crm@example.com"  # was empty: filled
    assert contact.custom_fields == {"tier": "gold", "size": "M"}  # existing key kept, new key added
    api_alice.put(URL.format("+14155550108"), {"source": "shopify", "email": "other@example.com"}, format="json")
    contact.refresh_from_db()
    assert contact.email == "crm@example.com"  # fill_empty: no overwrite
    # The tenant's own API write is not a CRM's: it overwrites.
    api_alice.put(URL.format("+14155550108"), {"first_name": "Mine"}, format="json")
    contact.refresh_from_db()
    assert contact.first_name == "Mine"


def test_crm_blank_never_clears(api_alice, tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550109", first_name="Ada")
    api_alice.put(URL.format("+14155550109"), {"source": "hubspot", "first_name": ""}, format="json")
    contact.refresh_from_db()
    assert contact.first_name == "Ada"


def test_crm_consent_rules(api_alice, tenant_a):
    revoked = ContactFactory(tenant=tenant_a, phone_number="+14155550110", consent_status="revoked")
    answer = api_alice.put(
        URL.format("+14155550110"),
        {
            "source": "shopify",
            "consent_status": "granted",
            "consent_at": "2026-12-01T10:00:00Z",
            "consent_text": "Yes, text me",
        },
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json()["consent_status"] == "revoked"
    assert "revocation" in answer.json()["ignored"][0]
    revoked.refresh_from_db()
    assert revoked.consent_status == "revoked"

    # A grant without evidence is refused; with it, applied and in the ledger.
    answer = api_alice.put(
        URL.format("+14155550111"), {"source": "shopify", "consent_status": "granted"}, format="json"
    )
    assert answer.status_code == 201
    assert answer.json()["consent_status"] == "unknown"
    assert "evidence" in answer.json()["ignored"][0]
    answer = api_alice.put(
        URL.format("+14155550111"),
        {
            "source": "shopify",
            "consent_status": "granted",
            "consent_at": "2026-12-01T10:00:00Z",
            "consent_source": "checkout",
        },
        format="json",
    )
    assert answer.json()["consent_status"] == "granted"
    assert answer.json()["ignored"] == []
    assert ConsentEvent.objects.filter(tenant=tenant_a, phone_number="+14155550111", kind="granted").count() == 1

    # Unknown from a CRM never downgrades; a revocation is applied and suppresses.
    answer = api_alice.put(
        URL.format("+14155550111"), {"source": "shopify", "consent_status": "unknown"}, format="json"
    )
    assert answer.json()["consent_status"] == "granted"
    answer = api_alice.put(
        URL.format("+14155550111"), {"source": "shopify", "consent_status": "revoked"}, format="json"
    )
    assert answer.json()["consent_status"] == "revoked"
    assert Suppression.objects.filter(tenant=tenant_a, phone_number="+14155550111").exists()
