"""Direct sends (campaigns.sending.direct): one message to one contact through the pipeline's screens."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.sending.direct import direct_carrier, direct_message_send
from compliance.services import suppression_add
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_a_direct_message_is_pending_on_the_tenants_carrier_and_enqueued(
    tenant_a, django_capture_on_commit_callbacks
):
    contact = ContactFactory(tenant=tenant_a, first_name="Ann", custom_fields={"city": "Oslo"})
    with django_capture_on_commit_callbacks() as callbacks:
        message = direct_message_send(tenant=tenant_a, contact=contact, body="Hi {{first_name}} in {{city|town}}")
    assert message.status == MessageStatus.PENDING
    assert message.body.startswith("Hi Ann in Oslo")
    assert message.campaign.kind == CampaignKind.DIRECT and message.campaign.status == CampaignStatus.SENDING
    assert message.run_id is not None and len(callbacks) == 1
    # A second message to the same contact is a new one on the same carrier.
    again = direct_message_send(tenant=tenant_a, contact=contact, body="Second")
    assert again.pk != message.pk and again.campaign_id == message.campaign_id
    assert Campaign.objects.filter(tenant=tenant_a, kind=CampaignKind.DIRECT).count() == 1


def test_the_same_key_sends_once(tenant_a):
    contact = ContactFactory(tenant=tenant_a)
    first = direct_message_send(tenant=tenant_a, contact=contact, body="Once", key=42)
    second = direct_message_send(tenant=tenant_a, contact=contact, body="Once", key=42)
    assert first.pk == second.pk
    assert Message.objects.filter(campaign=first.campaign).count() == 1


def test_an_opted_out_contact_is_screened_out(tenant_a):
    contact = ContactFactory(tenant=tenant_a)
    suppression_add(tenant=tenant_a, phone_number=contact.phone_number, source="keyword")
    message = direct_message_send(tenant=tenant_a, contact=contact, body="Hello")
    assert message.status == MessageStatus.SUPPRESSED


def test_another_tenants_contact_is_refused_and_carriers_are_per_tenant(tenant_a, tenant_b):
    with pytest.raises(ValueError):
        direct_message_send(tenant=tenant_a, contact=ContactFactory(tenant=tenant_b), body="x")
    assert direct_carrier(tenant=tenant_a).pk != direct_carrier(tenant=tenant_b).pk


def test_carriers_are_not_campaigns_in_the_api(tenant_a, api_alice):
    direct_message_send(tenant=tenant_a, contact=ContactFactory(tenant=tenant_a), body="x")
    carrier = direct_carrier(tenant=tenant_a)
    assert api_alice.get(f"/api/v1/campaigns/{carrier.pk}/").status_code == 404
    assert api_alice.get("/api/v1/campaigns/").json()["count"] == 0


def test_keyless_and_keyed_sends_never_share_a_key(tenant_a):
    contact = ContactFactory(tenant=tenant_a)
    keyless = direct_message_send(tenant=tenant_a, contact=contact, body="No key")
    assert keyless.run_id < 0
    keyed = direct_message_send(tenant=tenant_a, contact=contact, body="Keyed", key=-keyless.run_id)
    assert keyed.pk != keyless.pk and keyed.body.startswith("Keyed")
    with pytest.raises(ValueError):
        direct_message_send(tenant=tenant_a, contact=contact, body="x", key=0)
