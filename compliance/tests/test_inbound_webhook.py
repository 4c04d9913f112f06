from __future__ import annotations

import datetime as dt
import itertools
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns.tests.factories import CampaignFactory, MessageFactory
from compliance.models import (
    ConsentEvent,
    ConsentKind,
    InboundKind,
    InboundMessage,
    Suppression,
    SuppressionSource,
)
from compliance.selectors import compliance_settings_get, is_suppressed, replies_inbox
from compliance.services import suppression_add
from compliance.tests.test_keywords import OPT_OUT_PHRASES, OPT_OUT_WORDS
from contacts.models import ConsentStatus, Contact
from contacts.tests.factories import ContactFactory

PATH = "/webhooks/twilio/inbound/"
NUMBER = "+14155550123"
_sids = itertools.count(1)


def post(tenant, body="", *, token=None, from_number=NUMBER, extra=None, sid=None, account_sid=None):
    params = {
        "MessageSid": sid or f"SM{next(_sids):032x}",
        "AccountSid": account_sid or tenant.twilio_account_sid,
        "From": from_number,
        "To": tenant.sender,
        "Body": body,
        "NumMedia": "0",
        **(extra or {}),
    }
    token = tenant.twilio_auth_token if token is None else token
    signature = RequestValidator(token).compute_signature(settings.PUBLIC_BASE_URL + PATH, params) if token else ""
    return Client().post(PATH, params, HTTP_X_TWILIO_SIGNATURE=signature)


def reply_text(response) -> str | None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own answer, in a test
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


@pytest.mark.parametrize("body", OPT_OUT_WORDS + [w.lower() + "!" for w in OPT_OUT_WORDS] + OPT_OUT_PHRASES)
def test_every_opt_out_word_and_phrase_suppresses_at_once(tenant_a, body):
    answer = reply_text(post(tenant_a, body))
    # The suppression holds the moment the webhook has answered.
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    suppression = Suppression.objects.get(tenant=tenant_a)
    assert suppression.source == SuppressionSource.KEYWORD
    assert suppression.inbound.body == body  # the message behind it
    assert suppression.inbound.kind == InboundKind.OPT_OUT
    assert "unsubscribed" in answer and tenant_a.name in answer
    assert ConsentEvent.objects.get(tenant=tenant_a).kind == ConsentKind.REVOKED


def test_opt_out_type_stop_suppresses_without_a_second_confirmation(tenant_a):
    answer = reply_text(post(tenant_a, "Arrête", extra={"OptOutType": "STOP"}))
    assert answer is None  # Twilio's Advanced Opt-Out already answered
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_second_stop_is_not_confirmed_again(tenant_a):
    assert reply_text(post(tenant_a, "STOP")) is not None
    assert reply_text(post(tenant_a, "stop")) is None
    assert Suppression.objects.filter(tenant=tenant_a).count() == 1
    assert ConsentEvent.objects.filter(tenant=tenant_a, kind=ConsentKind.REVOKED).count() == 1


def test_stop_uses_the_tenants_template(tenant_a):
    cfg = compliance_settings_get(tenant=tenant_a)
    cfg.stop_confirmation = "{brand}: no more texts. {not-a-field}"
    cfg.save()
    assert reply_text(post(tenant_a, "STOP")) == "Acme: no more texts. {not-a-field}"


def test_stop_inside_a_sentence_is_kept_and_flagged_not_suppressed(tenant_a):
    assert reply_text(post(tenant_a, "Can you stop by and fix my order?")) is None
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    reply = InboundMessage.objects.get(tenant=tenant_a)
    assert reply.kind == InboundKind.REPLY and reply.needs_review
    plain = post(tenant_a, "Thanks, see you Saturday", from_number="+14155550999")
    assert reply_text(plain) is None
    # The inbox lists the flagged one first, even though it is older.
    assert list(replies_inbox(tenant_id=tenant_a.pk))[0] == reply


def test_start_after_stop_resubscribes(tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    post(tenant_a, "STOP")
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.REVOKED
    answer = reply_text(post(tenant_a, "Start"))
    assert "subscribed again" in answer
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    kinds = list(ConsentEvent.objects.filter(tenant=tenant_a).order_by("id").values_list("kind", flat=True))
    assert kinds == [ConsentKind.REVOKED, ConsentKind.GRANTED]
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.GRANTED


@pytest.mark.parametrize("word", ["UNSTOP", "YES"])
def test_unstop_and_yes_resubscribe_a_keyword_opt_out(tenant_a, word):
    post(tenant_a, "STOP")
    assert reply_text(post(tenant_a, word)) is not None
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_start_without_an_earlier_stop_changes_nothing(tenant_a):
    assert reply_text(post(tenant_a, "START")) is None
    assert not Suppression.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert InboundMessage.objects.get().kind == InboundKind.OPT_IN


@pytest.mark.parametrize("source", [SuppressionSource.ADMIN, SuppressionSource.CARRIER, SuppressionSource.IMPORT])
def test_start_never_lifts_a_suppression_made_another_way(tenant_a, source):
    suppression_add(tenant=tenant_a, phone_number=NUMBER, source=source)
    assert reply_text(post(tenant_a, "START")) is None
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert InboundMessage.objects.get().needs_review


def test_opt_out_type_start(tenant_a):
    post(tenant_a, "STOP")
    assert reply_text(post(tenant_a, "whatever", extra={"OptOutType": "START"})) is None
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


@pytest.mark.parametrize("word", ["HELP", "info", "Help!"])
def test_help_answers_the_tenants_help_text(tenant_a, word):
    tenant_a.help_text = "{brand} support: help@acme.example or 555-0100. Reply STOP to opt out."
    tenant_a.save()
    assert reply_text(post(tenant_a, word)) == "Acme support: help@acme.example or 555-0100. Reply STOP to opt out."
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert InboundMessage.objects.get().kind == InboundKind.HELP


def test_join_then_yes_is_a_double_opt_in(tenant_a):
    prompt = reply_text(post(tenant_a, "JOIN"))
    assert "reply YES to confirm" in prompt
    assert not Contact.objects.filter(tenant=tenant_a, phone_number=NUMBER).exists()
    requested = ConsentEvent.objects.get(tenant=tenant_a)
    assert requested.kind == ConsentKind.REQUESTED and requested.disclosure_text == prompt

    assert "subscribed" in reply_text(post(tenant_a, "yes"))
    contact = Contact.objects.get(tenant=tenant_a, phone_number=NUMBER)
    assert contact.consent_status == ConsentStatus.GRANTED
    granted = ConsentEvent.objects.filter(tenant=tenant_a).order_by("-id").first()
    assert granted.kind == ConsentKind.GRANTED
    assert granted.disclosure_text == prompt and granted.disclosure_version == "1"
    assert granted.inbound.kind == InboundKind.CONFIRM


def test_join_alone_grants_nothing_and_a_bare_yes_is_a_reply(tenant_a):
    post(tenant_a, "JOIN")
    assert not ConsentEvent.objects.filter(kind=ConsentKind.GRANTED).exists()
    assert reply_text(post(tenant_a, "YES", from_number="+14155550777")) is None
    assert InboundMessage.objects.get(from_number="+14155550777").kind == InboundKind.REPLY


def test_a_reply_is_linked_to_the_contact_and_the_latest_campaign(tenant_a):
    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    now = timezone.now()
    older = MessageFactory(
        campaign=CampaignFactory(tenant=tenant_a), contact=contact, sent_at=now - dt.timedelta(days=2)
    )
    latest = MessageFactory(campaign=CampaignFactory(tenant=tenant_a), contact=contact, sent_at=now)
    assert older.campaign != latest.campaign
    assert reply_text(post(tenant_a, "Do you have it in blue?")) is None
    reply = InboundMessage.objects.get()
    assert reply.contact == contact and reply.message == latest and reply.campaign == latest.campaign
    assert reply.kind == InboundKind.REPLY and not reply.needs_review


def test_stop_to_tenant_a_leaves_tenant_b_alone(tenant_a, tenant_b):
    post(tenant_a, "STOP")
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)
    assert not is_suppressed(tenant_id=tenant_b.pk, phone_number=NUMBER)
    assert not Suppression.objects.filter(tenant=tenant_b).exists()


def test_repeated_message_sid_changes_nothing(tenant_a):
    post(tenant_a, "STOP", sid="SM" + "a" * 32)
    post(tenant_a, "START", sid="SM" + "a" * 32)  # a retry carrying another body is not acted on
    assert InboundMessage.objects.count() == 1
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


@pytest.mark.parametrize("forgery", ["no-signature", "wrong-token", "other-tenants-token", "unknown-account"])
def test_forged_requests_are_refused_and_record_nothing(tenant_a, tenant_b, forgery):
    kwargs = {
        "no-signature": {"token": ""},
        "wrong-token": {"token": "not-the-token"},
        "other-tenants-token": {"token": tenant_b.twilio_auth_token},
        "unknown-account": {"account_sid": "AC" + "f" * 32},
    }[forgery]
    response = post(tenant_a, "STOP", **kwargs)
    assert response.status_code == 403
    assert b"Traceback" not in response.content
    assert not InboundMessage.objects.exists()
    assert not Suppression.objects.exists()
    assert not is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_get_is_not_allowed(db):
    assert Client().get(PATH).status_code == 405


def test_stop_suppresses_the_contacts_pending_messages_at_once(tenant_a, tenant_b):
    from campaigns.counters import campaign_status_counts, counts_add
    from campaigns.models import MessageStatus

    contact = ContactFactory(tenant=tenant_a, phone_number=NUMBER)
    campaign = CampaignFactory(tenant=tenant_a)
    pending = MessageFactory(campaign=campaign, contact=contact)
    counts_add(campaign_id=campaign.pk, deltas={MessageStatus.PENDING: 1})
    other_tenant = MessageFactory(
        campaign=CampaignFactory(tenant=tenant_b), contact=ContactFactory(tenant=tenant_b, phone_number=NUMBER)
    )
    post(tenant_a, "STOP")
    pending.refresh_from_db()
    other_tenant.refresh_from_db()
    assert pending.status == MessageStatus.SUPPRESSED
    assert other_tenant.status == MessageStatus.PENDING
    counts = campaign_status_counts(campaign.pk)
    assert counts[MessageStatus.SUPPRESSED] == 1 and counts[MessageStatus.PENDING] == 0


def test_sender_is_normalised_to_e164(tenant_a):
    post(tenant_a, "STOP", from_number="whatsapp:+14155550123")
    assert is_suppressed(tenant_id=tenant_a.pk, phone_number=NUMBER)


def test_a_keyword_from_something_that_is_not_a_number_is_kept_for_review(tenant_a):
    assert reply_text(post(tenant_a, "STOP", from_number="messenger:some-very-long-user-id-123")) is None
    assert not Suppression.objects.exists()
    assert InboundMessage.objects.get().needs_review
