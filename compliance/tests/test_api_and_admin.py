from __future__ import annotations

import csv
import io

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from compliance.models import AuditLog, ConsentEvent, ConsentKind, InboundMessage, Suppression, SuppressionSource
from compliance.selectors import is_suppressed
from compliance.services import suppression_add
from compliance.tests.factories import ConsentEventFactory, InboundMessageFactory, SuppressionFactory
from contacts.tests.factories import ContactFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory, token_for

NUMBER = "+14155550188"


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# Opt-outs API -----------------------------------------------------------------


def test_opt_outs_list_is_paginated_with_the_contract_fields(api_alice, tenant_a, tenant_b):
    SuppressionFactory(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.CARRIER)
    SuppressionFactory(tenant=tenant_b, phone_number="+14155550199")
    body = api_alice.get("/api/v1/opt-outs/").json()
    assert body["count"] == 1 and "next" in body and "previous" in body
    row = body["results"][0]
    assert row["phone_number"] == NUMBER and row["source"] == "carrier" and row["created_at"]


def test_post_adds_an_opt_out_by_hand(api_alice, tenant_a, tenant_b):
    resp = api_alice.post(
        "/api/v1/opt-outs/", {"phone_number": "(415) 555-0188", "note": "asked by phone"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["phone_number"] == NUMBER and resp.json()["source"] == "api"
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert not is_suppressed(tenant_id=tenant_b.pk, phone_number=NUMBER)
    again = api_alice.post("/api/v1/opt-outs/", {"phone_number": NUMBER, "source": "keyword"}, format="json")
    assert again.status_code == 200 and again.json()["source"] == "api"
    assert Suppression.objects.filter(tenant=tenant_a).count() == 1
    log = AuditLog.objects.get(tenant=tenant_a, action="suppression_add")
    assert log.channel == "api" and log.actor.email == "alice@acme.example"
    assert NUMBER not in str(log.detail) and log.phone_hash


def test_post_bad_number_is_a_400_naming_the_field(api_alice):
    for payload in ({"phone_number": "12"}, {}, {"phone_number": ""}):
        resp = api_alice.post("/api/v1/opt-outs/", payload, format="json")
        assert resp.status_code == 400
        assert "phone_number" in resp.json()
    assert not Suppression.objects.exists()


def test_viewer_cannot_add_an_opt_out(tenant_a):
    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(viewer)}")
    assert client.get("/api/v1/opt-outs/").status_code == 200
    assert client.post("/api/v1/opt-outs/", {"phone_number": NUMBER}, format="json").status_code == 403


# Consent ledger API -----------------------------------------------------------


def test_consent_csv_per_tenant_and_per_contact(api_alice, api_charlie, tenant_a, tenant_b):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    ConsentEventFactory(tenant=tenant_a, phone_number=NUMBER, ip_address="198.51.100.7", user_agent="Mozilla")
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    ConsentEventFactory(tenant=tenant_a, phone_number="+14155550100")
    ConsentEventFactory(tenant=tenant_b, phone_number=NUMBER, disclosure_text="tenant B's text")

    rows = _csv(api_alice.get("/api/v1/consent-events/export/"))
    assert len(rows) == 3
    assert "tenant B's text" not in str(rows)

    rows = _csv(api_alice.get(f"/api/v1/consent-events/export/?contact={contact.pk}"))
    assert [r["kind"] for r in rows] == [ConsentKind.GRANTED, ConsentKind.REVOKED]
    assert rows[0]["ip_address"] == "198.51.100.7" and rows[0]["source_url"] == "https://shop.example.com/signup"
    assert rows[0]["disclosure_text"] == "I agree to receive marketing texts."

    rows = _csv(api_alice.get("/api/v1/consent-events/export/", {"phone_number": NUMBER}))
    assert len(rows) == 2
    # Another tenant's contact is a 404; the outsider's export is empty.
    other = ContactFactory(tenant=tenant_b)
    assert api_alice.get(f"/api/v1/consent-events/export/?contact={other.pk}").status_code == 404
    assert _csv(api_charlie.get("/api/v1/consent-events/export/")) == []
    assert api_alice.get("/api/v1/consent-events/export/?contact=abc").status_code == 400


def test_csv_neutralises_formulas(api_alice, tenant_a):
    ConsentEventFactory(tenant=tenant_a, disclosure_text='=HYPERLINK("http://evil")')
    rows = _csv(api_alice.get("/api/v1/consent-events/export/"))
    assert rows[0]["disclosure_text"].startswith("'=")
    # A formula after a sign and a digit is a formula too (it used to pass).
    ConsentEventFactory(tenant=tenant_a, phone_number="+14155550100", note='+1+HYPERLINK("http://evil")')
    rows = _csv(api_alice.get("/api/v1/consent-events/export/", {"phone_number": "+14155550100"}))
    assert rows[0]["note"] == '\'+1+HYPERLINK("http://evil")'
    assert rows[0]["phone_number"] == "+14155550100"  # a number stays a number


# Privacy API ------------------------------------------------------------------


def test_privacy_export_and_erase_over_the_api(api_alice, tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, phone_number=NUMBER, first_name="Grace")
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=SuppressionSource.KEYWORD)
    data = api_alice.get("/api/v1/privacy/export/", {"phone_number": NUMBER}).json()
    assert data["contacts"][0]["first_name"] == "Grace"

    resp = api_alice.post("/api/v1/privacy/erase/", {"phone_number": NUMBER}, format="json")
    assert resp.status_code == 200 and resp.json()["erased"]["contacts"] == 1
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    # The opt-out list still counts it, without the number.
    assert api_alice.get("/api/v1/opt-outs/").json()["results"][0]["phone_number"] == ""
    actions = set(AuditLog.objects.filter(tenant=tenant_a).values_list("action", flat=True))
    assert {"privacy_export", "privacy_erase"} <= actions
    assert api_alice.get("/api/v1/privacy/export/", {"phone_number": "nope"}).status_code == 400


def test_privacy_requests_need_the_admin_role(tenant_a):
    marketer = UserFactory(tenant=tenant_a, role=Role.MARKETER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(marketer)}")
    ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    assert client.post("/api/v1/privacy/erase/", {"phone_number": NUMBER}, format="json").status_code == 403
    assert client.get("/api/v1/privacy/export/", {"phone_number": NUMBER}).status_code == 403


def test_privacy_requests_are_scoped(api_charlie, tenant_a):
    ContactFactory(tenant=tenant_a, phone_number=NUMBER, first_name="Grace")
    data = api_charlie.get("/api/v1/privacy/export/", {"phone_number": NUMBER}).json()
    assert data["contacts"] == [] and "Grace" not in str(data)
    api_charlie.post("/api/v1/privacy/erase/", {"phone_number": NUMBER}, format="json")
    from contacts.models import Contact

    assert Contact.objects.get(tenant=tenant_a, phone_number=NUMBER).first_name == "Grace"


def test_privacy_requests_need_auth(db):
    assert APIClient().get("/api/v1/privacy/export/", {"phone_number": NUMBER}).status_code == 401


# Audit log --------------------------------------------------------------------


def test_contact_writes_over_the_api_are_audited(api_alice, tenant_a):
    resp = api_alice.post("/api/v1/contacts/", {"phone_number": NUMBER, "first_name": "Ada"}, format="json")
    assert resp.status_code == 201
    contact_id = resp.json()["id"]
    api_alice.patch(f"/api/v1/contacts/{contact_id}/", {"first_name": "Ada L."}, format="json")
    api_alice.delete(f"/api/v1/contacts/{contact_id}/")
    api_alice.get("/api/v1/contacts/")  # reads are not logged
    logs = list(AuditLog.objects.filter(tenant=tenant_a).order_by("id").values_list("action", "object_id", "channel"))
    assert logs == [
        ("contact_create", str(contact_id), "api"),
        ("contact_update", str(contact_id), "api"),
        ("contact_delete", str(contact_id), "api"),
    ]
    assert AuditLog.objects.first().actor_email == "alice@acme.example"


def test_contact_writes_in_the_admin_are_audited(alice, tenant_a, tenant_b):
    client = Client()
    client.force_login(alice)
    mine, theirs = ContactFactory(tenant=tenant_a), ContactFactory(tenant=tenant_b)
    client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )
    log = AuditLog.objects.get(tenant=tenant_a)
    assert log.action == "contact_action_delete_selected" and log.channel == "admin"
    assert not AuditLog.objects.filter(tenant=tenant_b).exists()


def test_suppression_admin_add_and_lift_go_through_the_services(alice, tenant_a):
    client = Client()
    client.force_login(alice)
    resp = client.post(reverse("admin:compliance_suppression_add"), {"phone_number": "415-555-0188", "note": "call"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    suppression = Suppression.objects.get(tenant=tenant_a)
    assert suppression.phone_number == NUMBER and suppression.source == SuppressionSource.ADMIN
    assert ConsentEvent.objects.get(tenant=tenant_a).kind == ConsentKind.REVOKED
    resp = client.post(reverse("admin:compliance_suppression_delete", args=[suppression.pk]), {"post": "yes"})
    assert resp.status_code == 302
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    actions = list(AuditLog.objects.filter(tenant=tenant_a).order_by("id").values_list("action", flat=True))
    assert actions == ["suppression_add", "suppression_remove"]


# Admin pages ------------------------------------------------------------------


def test_replies_inbox_lists_flagged_first(alice, tenant_a, tenant_b):
    InboundMessageFactory(tenant=tenant_a, body="plain newer reply")
    flagged = InboundMessageFactory(tenant=tenant_a, body="please can you stop by", needs_review=True)
    InboundMessage.objects.filter(pk=flagged.pk).update(received_at="2020-01-01T00:00:00Z")
    InboundMessageFactory(tenant=tenant_b, body="tenant b reply")
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("admin:compliance_inboundmessage_changelist")).content.decode()
    assert html.index("please can you stop by") < html.index("plain newer reply")
    assert "tenant b reply" not in html
    client.post(
        reverse("admin:compliance_inboundmessage_changelist"),
        {"action": "mark_reviewed", "_selected_action": [flagged.pk]},
    )
    flagged.refresh_from_db()
    assert not flagged.needs_review and flagged.reviewed_at


def test_consent_ledger_admin_is_read_only_and_exports(alice, tenant_a, tenant_b):
    mine = ConsentEventFactory(tenant=tenant_a)
    theirs = ConsentEventFactory(tenant=tenant_b)
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("admin:compliance_consentevent_add")).status_code == 403
    resp = client.post(
        reverse("admin:compliance_consentevent_changelist"),
        {"action": "export_csv", "_selected_action": [mine.pk, theirs.pk]},
    )
    rows = _csv(resp)
    assert [r["phone_number"] for r in rows] == [mine.phone_number]


# Consent from web forms -------------------------------------------------------


def test_web_form_consent_is_recorded_with_url_disclosure_ip_and_agent(api_alice, tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    payload = {
        "phone_number": NUMBER,
        "kind": "granted",
        "source": "web_form",
        "source_url": "https://acme.example/join",
        "disclosure_text": "Yes, text me offers. Up to 3 msgs/day. Reply STOP to opt out.",
        "disclosure_version": "2026-07",
        "ip_address": "203.0.113.5",
        "user_agent": "Mozilla/5.0 (iPhone)",
    }
    resp = api_alice.post("/api/v1/consent-events/", payload, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["suppressed"] is False
    event = ConsentEvent.objects.get(tenant=tenant_a)
    assert (event.source_url, event.disclosure_version, event.ip_address, event.user_agent) == (
        "https://acme.example/join",
        "2026-07",
        "203.0.113.5",
        "Mozilla/5.0 (iPhone)",
    )
    contact.refresh_from_db()
    assert contact.consent_status == "granted" and contact.consent_text.startswith("Yes, text me")


def test_web_form_consent_needs_url_and_disclosure(api_alice):
    resp = api_alice.post(
        "/api/v1/consent-events/", {"phone_number": NUMBER, "kind": "granted", "source": "web_form"}, format="json"
    )
    assert resp.status_code == 400
    assert {"source_url", "disclosure_text"} <= set(resp.json())
    resp = api_alice.post("/api/v1/consent-events/", {"phone_number": NUMBER, "kind": "maybe"}, format="json")
    assert resp.status_code == 400 and "kind" in resp.json()
    resp = api_alice.post("/api/v1/consent-events/", {"phone_number": "x", "kind": "granted"}, format="json")
    assert resp.status_code == 400 and "phone_number" in resp.json()
    assert not ConsentEvent.objects.exists()


def test_api_revocation_suppresses_and_a_grant_never_lifts_it(api_alice, tenant_a):
    resp = api_alice.post("/api/v1/consent-events/", {"phone_number": NUMBER, "kind": "revoked"}, format="json")
    assert resp.status_code == 201 and resp.json()["suppressed"] is True
    assert ConsentEvent.objects.filter(tenant=tenant_a).count() == 1  # one ledger line, not two
    resp = api_alice.post("/api/v1/consent-events/", {"phone_number": NUMBER, "kind": "granted"}, format="json")
    assert resp.status_code == 201 and resp.json()["suppressed"] is True
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_openapi_schema_lists_the_compliance_endpoints(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    for path in ("/api/v1/opt-outs/", "/api/v1/consent-events/export/", "/api/v1/privacy/erase/"):
        assert path in schema
