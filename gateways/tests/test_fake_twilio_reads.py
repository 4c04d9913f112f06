"""Read receipts end to end over real HTTP: the Twilio gateway sends to the local Twilio-compatible server, which
posts Twilio's signed status callbacks to the live webhook; the stats API then counts the read.

A tenant whose Messaging Service has an RCS sender (``FakeTwilio.rcs_services``, as at Twilio, which tries RCS
first and falls back by itself) gets RCS callbacks, a read receipt included; a tenant sending from a phone number
gets the SMS lifecycle it always got, and no read.
"""

from __future__ import annotations

import pytest

from campaigns.counters import counts_add
from campaigns.models import Message
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from gateways import OutboundSMS, get_gateway
from gateways.base import status_callback_url
from gateways.fake_twilio import FakeTwilio
from tracking.models import StatusEvent

pytestmark = pytest.mark.django_db(transaction=True)  # the live server must see the rows

MG_RCS = "MG" + "7" * 32


@pytest.fixture
def twilio_world(live_server, settings, tenant_a, tenant_b):
    tenant_a.sender = MG_RCS  # sender_type stays as it is: a Messaging Service SID is a valid sender
    tenant_a.save()
    server = FakeTwilio(accounts={t.twilio_account_sid: t.twilio_auth_token for t in (tenant_a, tenant_b)})
    server.rcs_services.add(MG_RCS)
    server.start()
    settings.TWILIO_API_BASE_URL = server.base_url
    settings.SMS_GATEWAY = "twilio"
    settings.PUBLIC_BASE_URL = live_server.url  # what the StatusCallback points at and signatures are made over
    yield server
    server.stop()


def _send_one(tenant) -> Message:
    """What the sender does for one message: the gateway call, then the SID and status recorded."""
    campaign = CampaignFactory(tenant=tenant)
    message = MessageFactory(campaign=campaign, status="sending")
    counts_add(campaign_id=campaign.pk, deltas={"sending": 1})
    result = get_gateway().send(tenant, OutboundSMS(to=message.to, body="Hi", status_callback=status_callback_url()))
    assert message_move(message_id=message.pk, to=result.status, sid=result.sid)
    message.refresh_from_db()
    return message


def test_an_rcs_message_reports_its_read_through_the_webhook(twilio_world, tenant_a, api_alice, api_bob):
    message = _send_one(tenant_a)
    [created] = twilio_world.created()
    assert created["messaging_service_sid"] == MG_RCS and created["status"] == "accepted"
    assert twilio_world.channel_of(message.sid) == "rcs"

    assert twilio_world.report_lifecycle(message.sid) == [204, 204, 204]  # sent, delivered, read
    message.refresh_from_db()
    assert (message.status, message.channel) == ("read", "rcs") and message.read_at is not None
    read = StatusEvent.objects.get(sid=message.sid, status="read")
    assert read.fields["ChannelPrefix"] == "rcs" and read.fields["To"].startswith("rcs:+")

    url = f"/api/v1/campaigns/{message.campaign_id}/stats/"
    stats = api_alice.get(url).json()
    assert (stats["delivered"], stats["read"], stats["read_rate"], stats["channels"]) == (1, 1, 1.0, {"rcs": 1})
    assert api_bob.get(url).status_code == 404
    # Twilio's own resource agrees (what reconciliation would ask).
    assert get_gateway().fetch(tenant_a, message.sid).status == "read"


def test_a_read_hook_for_any_message_and_sms_stays_as_it_was(twilio_world, tenant_b, api_bob):
    message = _send_one(tenant_b)  # a phone-number sender: SMS, no read receipts
    assert twilio_world.channel_of(message.sid) == "sms"
    assert twilio_world.report_lifecycle(message.sid) == [204, 204]  # sent, delivered: no read
    message.refresh_from_db()
    assert (message.status, message.channel) == ("delivered", "sms")
    stats = api_bob.get(f"/api/v1/campaigns/{message.campaign_id}/stats/").json()
    assert (stats["read"], stats["read_rate"]) == (0, None)

    # The test hook: any status, for any message (here a read receipt SMS would never send), signed as Twilio signs.
    assert twilio_world.report(message.sid, "read") == 204
    message.refresh_from_db()
    assert message.status == "read"
    # A forged callback (another token) is refused by the webhook and changes nothing.
    assert twilio_world.report(message.sid, "undelivered", 30003, auth_token="not-the-token") == 403
