"""#15 items 1 and 2: consent stops a send, through every door; the tenant's own footer, in the preview and the cost.

Each test goes through the real doors (the API, the admin, a CSV import) and then the real fan-out and
dispatch against the local Twilio-compatible server.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.sending import dispatch
from campaigns.sending.fanout import messages_materialise
from compliance.models import ConsentEvent, Suppression
from compliance.selectors import compliance_settings_get
from contacts.models import Contact
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("open_hours")


def _create_campaign(api, **fields) -> Campaign:
    body = {"name": "Spring", "body": "Hi {{first_name|there}}, 20% off today", **fields}
    resp = api.post("/api/v1/campaigns/", body, format="json")
    assert resp.status_code == 201, resp.json()
    return Campaign.objects.get(pk=resp.json()["id"])


def _send_now(campaign: Campaign) -> dict[str, str]:
    """Fan out and send as the workers would; returns each number's message status."""
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    messages_materialise(campaign_id=campaign.pk)
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    dispatch.messages_send_batch(message_ids=ids)
    return dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))


def test_consent_revoked_through_the_api_is_never_texted_and_is_in_the_ledger(api_alice, tenant_a, fake_twilio):
    ok = api_alice.post(
        "/api/v1/contacts/", {"phone_number": "+14155550101", "consent_status": "granted"}, format="json"
    )
    gone = api_alice.post(
        "/api/v1/contacts/", {"phone_number": "+14155550102", "consent_status": "granted"}, format="json"
    )
    assert ok.status_code == gone.status_code == 201
    resp = api_alice.patch(f"/api/v1/contacts/{gone.json()['id']}/", {"consent_status": "revoked"}, format="json")
    assert resp.status_code == 200, resp.json()

    statuses = _send_now(_create_campaign(api_alice))
    assert statuses == {"+14155550101": "queued", "+14155550102": "suppressed"}
    assert [r.form["To"] for r in fake_twilio.sends()] == ["+14155550101"]
    ledger = list(
        ConsentEvent.objects.filter(tenant=tenant_a).order_by("id").values_list("phone_number", "kind", "source")
    )
    assert ledger == [
        ("+14155550101", "granted", "api"),
        ("+14155550102", "granted", "api"),
        ("+14155550102", "revoked", "api"),
    ]
    assert Suppression.objects.filter(tenant=tenant_a, phone_number="+14155550102", source="api").exists()


def test_consent_revoked_in_the_admin_is_never_texted_and_is_in_the_ledger(alice, api_alice, tenant_a, fake_twilio):
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550103", consent_status="granted")
    client = Client()
    client.force_login(alice)
    resp = client.post(
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        {"phone_number": contact.phone_number, "consent_status": "revoked", "custom_fields": "{}"},
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert ConsentEvent.objects.filter(
        tenant=tenant_a, phone_number=contact.phone_number, kind="revoked", source="admin"
    )
    assert _send_now(_create_campaign(api_alice)) == {contact.phone_number: "suppressed"}
    assert fake_twilio.sends() == []


def test_imported_consent_reaches_the_ledger_and_a_no_is_never_texted(api_alice, tenant_a, fake_twilio):
    csv = "phone_number,first_name,consent_status\n+14155550104,Ada,yes\n+14155550105,Bo,no\n+14155550106,Cy,\n"
    resp = api_alice.post(
        "/api/v1/contacts/import/", {"file": SimpleUploadedFile("c.csv", csv.encode(), "text/csv")}, format="multipart"
    )
    assert resp.status_code == 200 and resp.json()["created"] == 3, resp.json()
    kinds = dict(ConsentEvent.objects.filter(tenant=tenant_a).values_list("phone_number", "kind"))
    assert kinds == {"+14155550104": "granted", "+14155550105": "revoked"}
    assert set(ConsentEvent.objects.filter(tenant=tenant_a).values_list("source", flat=True)) == {"import"}
    assert Suppression.objects.filter(tenant=tenant_a, phone_number="+14155550105").exists()

    # Marketing: the granted one only (the revoked one recorded suppressed; unknown consent left out).
    assert _send_now(_create_campaign(api_alice)) == {"+14155550104": "queued", "+14155550105": "suppressed"}
    # Transactional: unknown consent too, by default; never the revoked one.
    notice = _create_campaign(api_alice, name="Your order", body="Your order has shipped", purpose="transactional")
    assert _send_now(notice) == {
        "+14155550104": "queued",
        "+14155550105": "suppressed",
        "+14155550106": "queued",
    }
    assert sorted(r.form["To"] for r in fake_twilio.sends()) == ["+14155550104", "+14155550104", "+14155550106"]


def test_the_tenant_chooses_whether_unknown_consent_gets_marketing(api_alice, tenant_a, fake_twilio):
    ContactFactory(tenant=tenant_a, phone_number="+14155550107", consent_status="unknown")
    preview = api_alice.post("/api/v1/campaigns/preview/", {"body": "Sale!"}, format="json").json()
    assert (preview["recipients"], preview["no_consent"]) == (0, 1)
    rules = compliance_settings_get(tenant=tenant_a)
    rules.unknown_consent_marketing = True
    rules.save()
    preview = api_alice.post("/api/v1/campaigns/preview/", {"body": "Sale!"}, format="json").json()
    assert (preview["recipients"], preview["no_consent"]) == (1, 0)
    assert _send_now(_create_campaign(api_alice)) == {"+14155550107": "queued"}


def test_the_tenants_own_footer_goes_out_and_the_preview_prices_it(api_alice, tenant_a, fake_twilio):
    rules = compliance_settings_get(tenant=tenant_a)
    rules.opt_out_footer = "Text STOP to end Acme offers"
    rules.save()
    new = ContactFactory(tenant=tenant_a, phone_number="+14155550108", first_name="")
    body = "x" * 148  # one segment as written; two with the footer a first contact gets
    preview = api_alice.post("/api/v1/campaigns/preview/", {"body": body}, format="json").json()
    [variant] = preview["bodies"]
    assert variant["segments"] == 1 and variant["segments_first_contact"] == 2
    assert variant["sample_first_contact"] == body + "\nText STOP to end Acme offers"
    assert preview["first_contacts"] == 1 and preview["total_segments"] == 2
    _send_now(_create_campaign(api_alice, body=body))
    [sent] = fake_twilio.sends()
    assert sent.form["To"] == new.phone_number and sent.form["Body"] == body + "\nText STOP to end Acme offers"
    assert Message.objects.get(to=new.phone_number).segments == 2

    # Once texted, the next campaign comes without the footer, and the preview says so.
    preview = api_alice.post("/api/v1/campaigns/preview/", {"body": body}, format="json").json()
    assert preview["first_contacts"] == 0 and preview["total_segments"] == 1
    Contact.objects.filter(pk=new.pk).update(first_name="Ada")
    assert _send_now(_create_campaign(api_alice, body=body)) == {new.phone_number: "queued"}
    assert fake_twilio.sends()[-1].form["Body"] == body
