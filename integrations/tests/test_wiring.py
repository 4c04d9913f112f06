"""Events flow from where things happen: the status webhook, the inbound webhook, the click writer."""

from __future__ import annotations

import pytest

from compliance.tests.test_inbound_webhook import post as inbound_post
from integrations.models import Event, EventType
from integrations.tests.factories import EventSubscriptionFactory
from links.capture import click_event
from links.services import clicks_record
from links.tests.factories import ShortLinkFactory
from tracking.tests.conftest import callback, sent_message, signed_post

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


@pytest.fixture
def subscribed(tenant_a, tenant_b):
    EventSubscriptionFactory(tenant=tenant_a)
    return tenant_a


def _types(tenant) -> list[str]:
    return list(Event.objects.filter(tenant=tenant).order_by("created_at", "id").values_list("type", flat=True))


def test_status_webhook_emits_message_events(subscribed, tenant_b, client, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    mine = sent_message(subscribed)
    theirs = sent_message(tenant_b)
    for status in ("sent", "delivered"):
        assert signed_post(client, callback(mine, status, subscribed), subscribed.twilio_auth_token).status_code < 300
    signed_post(client, callback(theirs, "delivered", tenant_b), tenant_b.twilio_auth_token)
    assert _types(subscribed) == [EventType.MESSAGE_SENT, EventType.MESSAGE_DELIVERED]
    event = Event.objects.filter(tenant=subscribed, type=EventType.MESSAGE_DELIVERED).get()
    assert event.payload["message_id"] == mine.pk and event.contact_id == mine.contact_id
    assert _types(tenant_b) == []  # tenant B has no endpoint: nothing recorded


def test_repeated_callback_emits_once(subscribed, client):
    msg = sent_message(subscribed)
    for _ in range(3):
        signed_post(client, callback(msg, "failed", subscribed, ErrorCode=30003), subscribed.twilio_auth_token)
    assert _types(subscribed) == [EventType.MESSAGE_FAILED]


def test_stop_and_start_and_reply_emit_contact_events(subscribed):
    inbound_post(subscribed, "STOP")
    inbound_post(subscribed, "START")
    inbound_post(subscribed, "What time do you open?")
    assert _types(subscribed) == [EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN, EventType.REPLY_RECEIVED]
    opted_out = Event.objects.get(tenant=subscribed, type=EventType.CONTACT_OPTED_OUT)
    assert opted_out.payload["phone_number"] == "+14155550123" and opted_out.payload["source"] == "keyword"


def test_click_writer_emits_human_clicks_only(subscribed):
    link = ShortLinkFactory(tenant=subscribed)
    written = clicks_record(
        events=[
            click_event(code=link.code, user_agent=IPHONE, ip="203.0.113.9", method="GET"),
            click_event(code=link.code, user_agent="Slackbot-LinkExpanding 1.0", ip="203.0.113.9", method="GET"),
        ]
    )
    assert written == 2
    assert _types(subscribed) == [EventType.LINK_CLICKED]
    payload = Event.objects.get(tenant=subscribed).payload
    assert payload["code"] == link.code and payload["device_type"] == "mobile"


def test_send_time_failure_and_campaign_finish_emit_events(subscribed, fake_twilio):
    from campaigns import sending
    from campaigns.models import CampaignStatus, Message
    from campaigns.sending import dispatch
    from campaigns.sending.fanout import messages_materialise
    from campaigns.tests.conftest import always_open
    from campaigns.tests.factories import CampaignFactory
    from contacts.tests.factories import ContactFactory

    always_open(subscribed)
    bad, good = ContactFactory(tenant=subscribed), ContactFactory(tenant=subscribed)
    fake_twilio.fail_numbers = {bad.phone_number: (400, 21211)}
    campaign = CampaignFactory(tenant=subscribed, status=CampaignStatus.SENDING, body="Hi")
    messages_materialise(campaign_id=campaign.pk)
    dispatch.messages_send_batch(
        message_ids=list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    )
    assert sending.campaign_complete_if_done(campaign_id=campaign.pk)
    assert sending.campaign_complete_if_done(campaign_id=campaign.pk) is False  # finished once
    assert _types(subscribed) == [EventType.MESSAGE_FAILED, EventType.CAMPAIGN_FINISHED]
    failed = Event.objects.get(tenant=subscribed, type=EventType.MESSAGE_FAILED).payload
    assert failed["to"] == bad.phone_number and failed["error_code"] == 21211
    finished = Event.objects.get(tenant=subscribed, type=EventType.CAMPAIGN_FINISHED).payload
    assert (
        finished["campaign_id"] == campaign.pk and finished["stats"]["failed"] == 1 and finished["stats"]["queued"] == 1
    )
    assert good.pk  # the other recipient was handed over (queued), no event for that
