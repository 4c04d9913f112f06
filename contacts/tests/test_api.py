"""Contacts over the API: E.164 with the tenant's country, tags, search, isolation."""

from __future__ import annotations

from contacts.models import ConsentStatus, Contact
from contacts.tests.factories import ContactFactory, TagFactory


def test_create_returns_e164_and_derives_timezone(api_alice, tenant_a):
    resp = api_alice.post(
        "/api/v1/contacts/",
        {"phone_number": "(415) 555-0100", "first_name": "Ada", "last_name": "L", "tags": ["vip", "nyc"]},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["phone_number"] == "+14155550100"
    assert body["id"]
    assert sorted(body["tags"]) == ["nyc", "vip"]
    assert body["timezone"] == "America/Los_Angeles"
    contact = Contact.objects.get(pk=body["id"])
    assert contact.tenant == tenant_a


def test_national_number_uses_tenant_default_country(api_alice, tenant_a):
    tenant_a.default_country = "GB"
    tenant_a.save()
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": "020 7946 0018"}, format="json")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["phone_number"] == "+442079460018"
    assert resp.json()["timezone"] == "Europe/London"


def test_invalid_number_is_400_naming_phone_number(api_alice):
    for bad in ("12345", "not a number", ""):
        resp = api_alice.post("/api/v1/contacts/", {"phone_number": bad}, format="json")
        assert resp.status_code == 400
        assert "phone_number" in resp.json()


def test_duplicate_number_is_400(api_alice, api_bob):
    assert api_alice.post("/api/v1/contacts/", {"phone_number": "+14155550100"}, format="json").status_code == 201
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": "415-555-0100"}, format="json")
    assert resp.status_code == 400 and "phone_number" in resp.json()
    # Another tenant may hold the same number.
    assert api_bob.post("/api/v1/contacts/", {"phone_number": "+14155550100"}, format="json").status_code == 201


def test_bad_timezone_and_custom_fields_are_400(api_alice):
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": "+14155550101", "timezone": "Mars/Base"}, format="json")
    assert resp.status_code == 400 and "timezone" in resp.json()
    resp = api_alice.post(
        "/api/v1/contacts/", {"phone_number": "+14155550101", "custom_fields": {"a": {"b": 1}}}, format="json"
    )
    assert resp.status_code == 400 and "custom_fields" in resp.json()


def test_consent_granted_gets_a_time(api_alice):
    resp = api_alice.post(
        "/api/v1/contacts/",
        {"phone_number": "+14155550102", "consent_status": "granted", "consent_source": "web form"},
        format="json",
    )
    assert resp.status_code == 201
    contact = Contact.objects.get(pk=resp.json()["id"])
    assert contact.consent_status == ConsentStatus.GRANTED and contact.consent_at is not None


def test_list_by_tag_and_search(api_alice, api_charlie, tenant_a, tenant_b):
    vip = TagFactory(tenant=tenant_a, name="vip")
    other_vip = TagFactory(tenant=tenant_b, name="vip")
    ada = ContactFactory(tenant=tenant_a, first_name="Ada", phone_number="+14155550111")
    ada.tags.add(vip)
    ContactFactory(tenant=tenant_a, first_name="Bo", phone_number="+14155550112")
    theirs = ContactFactory(tenant=tenant_b, first_name="Ada", phone_number="+14155550113")
    theirs.tags.add(other_vip)

    rows = api_alice.get("/api/v1/contacts/?tag=vip").json()["results"]
    assert [r["id"] for r in rows] == [ada.pk]
    assert rows[0]["tags"] == ["vip"]
    assert [r["id"] for r in api_alice.get("/api/v1/contacts/?search=ada").json()["results"]] == [ada.pk]
    assert [r["id"] for r in api_alice.get("/api/v1/contacts/?search=0112").json()["results"]] != [ada.pk]
    assert api_charlie.get("/api/v1/contacts/?tag=vip").json()["results"] == []


def test_update_and_delete(api_alice, tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550120")
    resp = api_alice.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "Zed", "tags": ["a"]}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["first_name"] == "Zed" and resp.json()["tags"] == ["a"]
    resp = api_alice.patch(f"/api/v1/contacts/{contact.pk}/", {"phone_number": "bogus"}, format="json")
    assert resp.status_code == 400 and "phone_number" in resp.json()
    assert api_alice.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_outsider_cannot_touch(api_charlie, tenant_a):
    contact = ContactFactory(tenant=tenant_a)
    assert api_charlie.get(f"/api/v1/contacts/{contact.pk}/").status_code == 404
    assert api_charlie.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "x"}, format="json").status_code == 404
    assert api_charlie.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 404
    assert Contact.objects.filter(pk=contact.pk).exists()
