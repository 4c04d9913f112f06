"""Answers typed in the inbox (API and admin): through the sending pipeline, refused before sending for an opted-out
number or a revoked consent, once per idempotency key; quiet hours and the frequency cap as the tenant decides."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignKind, Message, MessageStatus
from campaigns.sending import dispatch
from campaigns.sending.direct import direct_message_send
from campaigns.tests.factories import CampaignFactory, MessageFactory
from compliance.models import ComplianceSettings
from compliance.services import suppression_add
from contacts.models import ConsentStatus
from contacts.tests.factories import ContactFactory
from inbox.models import Conversation, InboxReply, InboxSettings
from inbox.services import conversations_refresh

from .conftest import inbound_post

pytestmark = pytest.mark.django_db

ADA = "+14155550123"


@pytest.fixture
def conversation(tenant_a):
    ContactFactory(tenant=tenant_a, phone_number=ADA, first_name="Ada")
    inbound_post(tenant_a, "Is the sale still on?", from_number=ADA)
    conversations_refresh(tenant=tenant_a)
    return Conversation.objects.select_related("contact").get(tenant=tenant_a)


def _closed(tenant):
    """A tenant window that is never open (what quiet hours would do at night)."""
    tenant.legal_quiet_hours = False
    tenant.quiet_hours_start = dt.time(0, 0)
    tenant.quiet_hours_end = dt.time(0, 0, 0, 1)
    tenant.save(update_fields=["legal_quiet_hours", "quiet_hours_start", "quiet_hours_end"])


def test_api_reply_is_a_pending_message_on_the_direct_carrier_once_per_key(
    conversation, api_alice, sent_tasks, django_capture_on_commit_callbacks
):
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    with django_capture_on_commit_callbacks(execute=True):
        first = api_alice.post(url, {"body": "Yes, until Sunday!"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["message"]["status"] == "pending" and data["author"] == "alice@acme.example"
    assert data["quiet_hours_exempt"] is True
    with django_capture_on_commit_callbacks(execute=True):
        again = api_alice.post(url, {"body": "Yes, until Sunday!"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again.json()["id"] == data["id"]
    message = Message.objects.get(pk=data["message"]["id"])
    assert message.campaign.kind == CampaignKind.DIRECT and message.run_id == data["id"]
    assert Message.objects.filter(contact=conversation.contact).count() == 1
    assert [name for name, _a, _k in sent_tasks] == ["campaigns.tasks.messages_send"]  # handed to the sender once
    thread = api_alice.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert (thread[0]["direction"], thread[0]["source"], thread[0]["status"]) == (
        "out", "Answer by alice@acme.example", "pending",
    )  # fmt: skip
    assert thread[0]["body"].startswith("Yes, until Sunday!")
    listed = api_alice.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert listed["last_direction"] == "out" and listed["unread"] == 0


def test_reply_to_an_opted_out_number_is_refused_before_sending(
    conversation, api_alice, client_alice, sent_tasks, django_capture_on_commit_callbacks
):
    suppression_add(tenant=conversation.tenant, phone_number=ADA, source="keyword")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_alice.post(f"/api/v1/conversations/{conversation.pk}/reply/", {"body": "Hi"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "opted_out"
    assert "opted out" in response.json()["detail"] and "START" in response.json()["detail"]
    change = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    with django_capture_on_commit_callbacks(execute=True):
        page = client_alice.post(change, {"op": "reply", "body": "Hi again", "token": "t-1"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Not sent: this number opted out" in html and "Hi again" in html  # the text is kept in the box
    assert not Message.objects.filter(contact=conversation.contact).exists()
    assert not InboxReply.objects.exists() and sent_tasks == []


def test_reply_to_a_revoked_consent_is_refused(conversation, api_alice, sent_tasks, django_capture_on_commit_callbacks):
    conversation.contact.consent_status = ConsentStatus.REVOKED  # revoked through another door
    conversation.contact.save(update_fields=["consent_status"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_alice.post(f"/api/v1/conversations/{conversation.pk}/reply/", {"body": "Hi"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "consent_revoked"
    assert not Message.objects.filter(contact=conversation.contact).exists() and sent_tasks == []


def test_bad_answers_are_a_400_naming_the_field(conversation, api_alice):
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    for body in ({}, {"body": ""}, {"body": "   "}, {"body": "x" * 1601}):
        response = api_alice.post(url, body, format="json")
        assert response.status_code == 400 and "body" in response.json(), (body, response.content)
    assert not InboxReply.objects.exists()


def test_admin_double_submit_sends_once(conversation, client_alice, sent_tasks, django_capture_on_commit_callbacks):
    change = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    form = {"op": "reply", "body": "Yes, until Sunday!", "token": "same-form"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client_alice.post(change, form).status_code == 302
        assert client_alice.post(change, form).status_code == 302
    assert InboxReply.objects.count() == 1 and Message.objects.filter(contact=conversation.contact).count() == 1
    assert len(sent_tasks) == 1


def test_quiet_hours_do_not_hold_an_answer_within_24_hours(conversation, fake_twilio, sent_tasks, api_alice):
    tenant = conversation.tenant
    _closed(tenant)
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    exempt = api_alice.post(url, {"body": "Right away"}, format="json").json()
    result = dispatch.messages_send_batch(message_ids=[exempt["message"]["id"]])
    assert result.sent == 1 and result.held == 0
    assert [r.form["Body"] for r in fake_twilio.sends()][0].startswith("Right away")

    # The tenant says quiet hours apply to answers: held like any text.
    InboxSettings.objects.filter(tenant=tenant).update(answer_quiet_hours_exempt_hours=0)
    held = api_alice.post(url, {"body": "Tomorrow"}, format="json").json()
    assert held["quiet_hours_exempt"] is False
    result = dispatch.messages_send_batch(message_ids=[held["message"]["id"]])
    assert result.sent == 0 and result.held == 1
    assert Message.objects.get(pk=held["message"]["id"]).hold_until > timezone.now()
    # A direct message that is no inbox answer (a form's confirmation) is held too.
    other = direct_message_send(tenant=tenant, contact=conversation.contact, body="Confirm with YES")
    assert dispatch.messages_send_batch(message_ids=[other.pk]).held == 1
    assert len(fake_twilio.sends()) == 1


def test_quiet_hours_apply_when_their_last_text_is_old(conversation, fake_twilio, sent_tasks, api_alice):
    _closed(conversation.tenant)
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - dt.timedelta(hours=25))
    page = api_alice.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()
    assert page["rules"]["quiet_hours"].startswith("Quiet hours apply: their last text is more than 24 h old")
    reply = api_alice.post(f"/api/v1/conversations/{conversation.pk}/reply/", {"body": "Late"}, format="json").json()
    assert reply["quiet_hours_exempt"] is False
    assert dispatch.messages_send_batch(message_ids=[reply["message"]["id"]]).held == 1
    assert fake_twilio.sends() == []


def test_a_campaign_message_in_quiet_hours_is_still_held(conversation, fake_twilio, sent_tasks):
    _closed(conversation.tenant)
    campaign = CampaignFactory(tenant=conversation.tenant, status="sending")
    message = MessageFactory(campaign=campaign, contact=conversation.contact, status=MessageStatus.PENDING)
    assert dispatch.messages_send_batch(message_ids=[message.pk]).held == 1
    assert fake_twilio.sends() == []


def test_the_frequency_cap_never_applies_to_answers_unless_the_tenant_says(conversation, api_alice, sent_tasks):
    tenant = conversation.tenant
    ComplianceSettings.objects.update_or_create(tenant=tenant, defaults={"frequency_cap": 1})
    campaign = CampaignFactory(tenant=tenant)
    MessageFactory(campaign=campaign, contact=conversation.contact, status="sent", sent_at=timezone.now())
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    answered = api_alice.post(url, {"body": "Sure"}, format="json").json()
    assert answered["message"]["status"] == "pending"
    InboxSettings.objects.filter(tenant=tenant).update(answer_frequency_cap=True)
    rules = api_alice.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["rules"]
    assert rules["frequency_cap"].startswith("The frequency cap applies: past 1 texts")
    capped = api_alice.post(url, {"body": "Again"}, format="json").json()
    assert capped["message"]["status"] == "capped"
