"""Read receipts and channels through the signed status webhook (issue #17).

Twilio sends ``MessageStatus=read`` only for channels with read receipts (RCS, WhatsApp) and names the channel
in ``ChannelPrefix`` and the prefixed addresses (``rcs:+1…``, ``whatsapp:+1…``). Every callback here is signed
with twilio's ``RequestValidator`` and posted over HTTP; counters are checked against a recount of the rows.
"""

from __future__ import annotations

import pytest

from campaigns.counters import campaign_channel_counts, campaign_status_counts, squash_status_counts
from campaigns.models import Message, MessageChannelCount
from campaigns.tests.factories import CampaignFactory
from campaigns.transitions import message_move
from tracking.models import StatusEvent
from tracking.services import callback_channel
from tracking.tests.conftest import callback, sent_message
from tracking.tests.factories import new_sid

TO = "+14155550123"


def rcs(message, status: str, tenant, **extra) -> dict:
    """An RCS message's callback as Twilio sends it: the channel in ChannelPrefix and in the addresses."""
    return callback(message, status, tenant, ChannelPrefix="rcs", To=f"rcs:{TO}", From="rcs:acme_agent", **extra)


def whatsapp(message, status: str, tenant) -> dict:
    return callback(
        message,
        status,
        tenant,
        ChannelPrefix="whatsapp",
        ChannelToAddress=TO,
        To=f"whatsapp:{TO}",
        From="whatsapp:+14155550000",
    )


def _reload(message) -> Message:
    message.refresh_from_db()
    return message


def _recount(campaign_id: int) -> dict[str, int]:
    """The maintained counters, checked against the rows (status and channel)."""
    counts = {k: v for k, v in campaign_status_counts(campaign_id).items() if v}
    actual: dict[str, int] = {}
    channels: dict[str, int] = {}
    for status, channel in Message.objects.filter(campaign_id=campaign_id).values_list("status", "channel"):
        actual[status] = actual.get(status, 0) + 1
        if channel != "sms":
            channels[channel] = channels.get(channel, 0) + 1
    assert counts == actual
    assert campaign_channel_counts(campaign_id) == channels
    return counts


def test_read_after_delivered_moves_forward_and_is_counted(tenant_a, post):
    msg = sent_message(tenant_a)
    for status in ("sent", "delivered", "read"):
        assert post(rcs(msg, status, tenant_a), tenant_a.twilio_auth_token).status_code == 204
    msg = _reload(msg)
    assert (msg.status, msg.channel) == ("read", "rcs")
    assert msg.delivered_at is not None and msg.read_at is not None and msg.read_at >= msg.delivered_at
    assert _recount(msg.campaign_id) == {"read": 1}
    assert campaign_channel_counts(msg.campaign_id) == {"rcs": 1}  # three callbacks, one message


def test_a_late_delivered_never_moves_read_back(tenant_a, post):
    msg = sent_message(tenant_a, status="sent")
    post(rcs(msg, "delivered", tenant_a), tenant_a.twilio_auth_token)
    post(rcs(msg, "read", tenant_a), tenant_a.twilio_auth_token)
    read_at = _reload(msg).read_at
    for status in ("delivered", "sent", "queued"):
        assert post(rcs(msg, status, tenant_a), tenant_a.twilio_auth_token).status_code == 204
    msg = _reload(msg)
    assert msg.status == "read" and msg.read_at == read_at
    assert set(StatusEvent.objects.filter(sid=msg.sid).values_list("status", flat=True)) == {
        "delivered",
        "read",
        "sent",
        "queued",
    }
    assert _recount(msg.campaign_id) == {"read": 1}


@pytest.mark.parametrize("before", ["queued", "sent", "accepted"])
def test_read_before_delivered_is_accepted_and_counted_once(tenant_a, post, api_alice, before):
    """A read receipt implies delivery: the message goes straight to read, counted once as delivered and read."""
    msg = sent_message(tenant_a, status=before)
    assert post(rcs(msg, "read", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _reload(msg).status == "read"
    assert _recount(msg.campaign_id) == {"read": 1}
    stats = api_alice.get(f"/api/v1/campaigns/{msg.campaign_id}/stats/").json()
    assert (stats["delivered"], stats["read"], stats["read_rate"], stats["recipients"]) == (1, 1, 1.0, 1)
    # The delivery report that comes late changes nothing, counts nothing.
    assert post(rcs(msg, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert _reload(msg).status == "read"
    again = api_alice.get(f"/api/v1/campaigns/{msg.campaign_id}/stats/").json()
    assert (again["delivered"], again["read"], again["read_rate"]) == (1, 1, 1.0)
    assert again["delivery_rate"] == 1.0


def test_duplicate_read_callbacks_are_counted_once(tenant_a, post):
    msg = sent_message(tenant_a, status="delivered")
    for _ in range(3):
        assert post(whatsapp(msg, "read", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert StatusEvent.objects.filter(sid=msg.sid).count() == 1
    assert _reload(msg).channel == "whatsapp"
    assert _recount(msg.campaign_id) == {"read": 1}
    assert MessageChannelCount.objects.filter(campaign_id=msg.campaign_id).count() == 1


def test_read_on_undelivered_or_failed_stays_terminal(tenant_a, post):
    undelivered = sent_message(tenant_a, status="undelivered")
    failed = sent_message(tenant_a, status="failed", campaign=undelivered.campaign)
    for msg in (undelivered, failed):
        assert post(rcs(msg, "read", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert (_reload(undelivered).status, _reload(failed).status) == ("undelivered", "failed")
    assert _recount(undelivered.campaign_id) == {"undelivered": 1, "failed": 1}


def test_the_channel_twilio_names_is_recorded(tenant_a, post, api_alice):
    campaign = CampaignFactory(tenant=tenant_a)
    on_rcs = sent_message(tenant_a, campaign=campaign)
    on_whatsapp = sent_message(tenant_a, campaign=campaign)
    by_address = sent_message(tenant_a, campaign=campaign)  # no ChannelPrefix: the rcs: address says it
    on_mms = sent_message(tenant_a, campaign=campaign, sid="MM" + new_sid()[2:])
    on_sms = sent_message(tenant_a, campaign=campaign)
    odd = sent_message(tenant_a, campaign=campaign)
    token = tenant_a.twilio_auth_token
    assert post(rcs(on_rcs, "delivered", tenant_a), token).status_code == 204
    assert post(whatsapp(on_whatsapp, "delivered", tenant_a), token).status_code == 204
    assert post(callback(by_address, "sent", tenant_a, To=f"rcs:{TO}"), token).status_code == 204
    assert post(callback(on_mms, "delivered", tenant_a), token).status_code == 204
    assert post(callback(on_sms, "delivered", tenant_a), token).status_code == 204
    # A channel that is no short word is ignored, never refused (Twilio adds fields without notice).
    assert post(callback(odd, "delivered", tenant_a, ChannelPrefix="No Such Channel!"), token).status_code == 204
    channels = {m.pk: _reload(m).channel for m in (on_rcs, on_whatsapp, by_address, on_mms, on_sms, odd)}
    assert channels == {
        on_rcs.pk: "rcs",
        on_whatsapp.pk: "whatsapp",
        by_address.pk: "rcs",
        on_mms.pk: "mms",
        on_sms.pk: "sms",
        odd.pk: "sms",
    }
    _recount(campaign.pk)
    assert campaign_channel_counts(campaign.pk) == {"rcs": 2, "whatsapp": 1, "mms": 1}
    rows = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/messages/").json()["results"]
    assert {r["id"]: r["channel"] for r in rows} == channels


def test_a_channel_that_changes_moves_its_counters(tenant_a, post):
    """Twilio falls back from RCS to SMS by itself: the last moving callback's channel is the message's."""
    msg = sent_message(tenant_a)
    post(rcs(msg, "sent", tenant_a), tenant_a.twilio_auth_token)
    assert campaign_channel_counts(msg.campaign_id) == {"rcs": 1}
    post(whatsapp(msg, "delivered", tenant_a), tenant_a.twilio_auth_token)  # (a test of the counting only)
    assert _reload(msg).channel == "whatsapp"
    assert campaign_channel_counts(msg.campaign_id) == {"whatsapp": 1}
    _recount(msg.campaign_id)


def test_callback_channel_reads_twilios_fields():
    sid = new_sid()
    assert callback_channel({"ChannelPrefix": "whatsapp", "To": "whatsapp:+1"}, sid) == "whatsapp"
    assert callback_channel({"ChannelPrefix": " RCS "}, sid) == "rcs"
    assert callback_channel({"To": "rcs:+14155550123", "From": "rcs:brand_agent"}, sid) == "rcs"
    assert callback_channel({"From": "whatsapp:+14155550000", "To": "+14155550123"}, sid) == "whatsapp"
    assert callback_channel({"To": "+14155550123", "From": "+14155550000"}, sid) is None
    assert callback_channel({"To": "+14155550123"}, "MM" + sid[2:]) == "mms"
    assert callback_channel({"ChannelPrefix": "x" * 40}, sid) is None


def test_stats_read_rate_is_over_channels_that_report_reads(tenant_a, post, api_alice, api_bob, api_charlie):
    campaign = CampaignFactory(tenant=tenant_a)
    token = tenant_a.twilio_auth_token
    read_rcs, unread_rcs, read_whatsapp = (sent_message(tenant_a, campaign=campaign) for _ in range(3))
    plain = [sent_message(tenant_a, campaign=campaign) for _ in range(3)]
    post(rcs(read_rcs, "read", tenant_a), token)
    post(rcs(unread_rcs, "delivered", tenant_a), token)
    post(whatsapp(read_whatsapp, "delivered", tenant_a), token)
    post(whatsapp(read_whatsapp, "read", tenant_a), token)
    for msg in plain:
        post(callback(msg, "delivered", tenant_a), token)
    url = f"/api/v1/campaigns/{campaign.pk}/stats/"
    stats = api_alice.get(url).json()
    assert (stats["delivered"], stats["read"], stats["read_rate"]) == (6, 2, round(2 / 3, 4))
    assert stats["read_channels"] == ["rcs", "whatsapp"]
    assert stats["channels"] == {"rcs": 2, "whatsapp": 1}
    assert stats["delivery_rate"] == 1.0
    for outsider in (api_bob, api_charlie):
        assert outsider.get(url).status_code == 404


def test_sms_only_campaign_has_no_read_rate(tenant_a, post, api_alice):
    """SMS never reports reads: the rate is null (unknown), not 0 (nobody read it)."""
    msg = sent_message(tenant_a)
    post(callback(msg, "delivered", tenant_a), tenant_a.twilio_auth_token)
    stats = api_alice.get(f"/api/v1/campaigns/{msg.campaign_id}/stats/").json()
    assert (stats["read"], stats["read_rate"], stats["channels"]) == (0, None, {})
    assert "opened" not in stats and "open_rate" not in stats


def test_a_read_that_beats_the_sender_is_applied_with_its_channel(tenant_a, post):
    """An orphan read receipt (the callback came before the send task recorded the SID) keeps its channel."""
    from tracking.services import status_orphans_apply

    msg = sent_message(tenant_a, status="sending", sid=None)
    sid = new_sid()
    assert post(rcs(sid, "read", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    message_move(message_id=msg.pk, to="queued", sid=sid)
    assert status_orphans_apply(tenant_id=tenant_a.pk, sid=sid) == 1
    msg = _reload(msg)
    assert (msg.status, msg.channel) == ("read", "rcs") and msg.read_at is not None
    _recount(msg.campaign_id)


def test_channel_counters_survive_a_squash(tenant_a, post):
    campaign = CampaignFactory(tenant=tenant_a)
    messages = [sent_message(tenant_a, campaign=campaign) for _ in range(4)]
    for msg in messages:
        post(rcs(msg, "sent", tenant_a), tenant_a.twilio_auth_token)
    post(whatsapp(messages[0], "delivered", tenant_a), tenant_a.twilio_auth_token)
    before = campaign_channel_counts(campaign.pk)
    assert before == {"rcs": 3, "whatsapp": 1}
    squash_status_counts()
    assert campaign_channel_counts(campaign.pk) == before
    assert not MessageChannelCount.objects.filter(campaign_id=campaign.pk, is_squashed=False).exists()
    _recount(campaign.pk)


def test_an_rcs_callback_is_still_one_statement(tenant_a, post, django_assert_max_num_queries):
    """Recording the channel adds no query to the webhook: the channel counters are a CTE of the same one."""
    warm, msg = sent_message(tenant_a), sent_message(tenant_a)
    post(callback(warm, "sent", tenant_a), tenant_a.twilio_auth_token)  # the tokens and endpoints, cached
    with django_assert_max_num_queries(1):
        assert post(rcs(msg, "read", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    with django_assert_max_num_queries(1):
        assert post(callback(warm, "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    assert (_reload(msg).status, _reload(warm).status) == ("read", "delivered")


def test_the_simulator_reports_reads_for_rcs_handsets(tenant_a):
    from gateways.tasks import simulator_report

    msg = sent_message(tenant_a)
    for status in ("sent", "delivered", "read"):
        simulator_report(tenant_id=tenant_a.pk, sid=msg.sid, to=msg.to, status=status, error_code=None, channel="rcs")
    msg = _reload(msg)
    assert (msg.status, msg.channel) == ("read", "rcs")
    assert StatusEvent.objects.get(sid=msg.sid, status="read").fields["ChannelPrefix"] == "rcs"
    _recount(msg.campaign_id)
