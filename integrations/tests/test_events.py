"""The one-line emitters build the documented payloads."""

from __future__ import annotations

from types import SimpleNamespace

from campaigns.tests.factories import CampaignFactory, MessageFactory
from integrations import events
from integrations.models import Event
from links.tests.factories import ShortLinkFactory

from .factories import EventSubscriptionFactory


def test_message_events_follow_the_status(tenant_a):
    EventSubscriptionFactory(tenant=tenant_a)
    message = MessageFactory(tenant=tenant_a, sid="SM" + "1" * 32, error_code=30003)
    assert events.message_event_emit(message=message, status="queued") is None
    sent = events.message_event_emit(message=message, status="sent")
    failed = events.message_event_emit(message=message, status="undelivered")
    assert sent.type == "message.sent" and sent.contact_id == message.contact_id
    assert sent.payload == {
        "message_id": message.pk,
        "campaign_id": message.campaign_id,
        "contact_id": message.contact_id,
        "to": message.to,
        "status": "sent",
        "sid": message.sid,
    }
    assert failed.type == "message.failed" and failed.payload["error_code"] == 30003


def test_click_events_skip_bots_and_carry_device_and_country(tenant_a):
    EventSubscriptionFactory(tenant=tenant_a)
    message = MessageFactory(tenant=tenant_a)
    link = ShortLinkFactory(tenant=tenant_a, campaign=message.campaign, message=message)
    bot = SimpleNamespace(link=link, is_bot=True)
    assert events.click_event_emit(click=bot) is None
    human = SimpleNamespace(link=link, is_bot=False, device_type="mobile", os="iOS", browser="Safari", country="US")
    event = events.click_event_emit(click=human)
    assert event.type == "link.clicked" and event.contact_id == message.contact_id
    assert event.payload["code"] == link.code and event.payload["country"] == "US"
    assert event.payload["device_type"] == "mobile"
    # A broken click object is logged, never raised.
    assert events.click_event_emit(click=object()) is None


def test_opt_reply_and_campaign_events(tenant_a):
    EventSubscriptionFactory(tenant=tenant_a)
    out = events.contact_opt_event_emit(
        tenant_id=tenant_a.pk, phone_number="+14155550100", opted_out=True, source="keyword", contact_id=4
    )
    back = events.contact_opt_event_emit(
        tenant_id=tenant_a.pk, phone_number="+14155550100", opted_out=False, source="keyword", contact_id=4
    )
    reply = events.reply_event_emit(tenant_id=tenant_a.pk, from_number="+14155550100", body="Thanks", contact_id=4)
    finished = events.campaign_finished_event_emit(campaign=CampaignFactory(tenant=tenant_a), stats={"sent": 3})
    assert [e.type for e in (out, back, reply, finished)] == [
        "contact.opted_out",
        "contact.opted_in",
        "reply.received",
        "campaign.finished",
    ]
    assert finished.contact_id is None and finished.payload["stats"] == {"sent": 3}
    assert Event.objects.filter(tenant=tenant_a).count() == 4
