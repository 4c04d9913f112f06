"""Unknown outcomes resolved by asking the gateway: through TwilioGateway and the local Twilio-compatible server."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from campaigns import sending
from campaigns.counters import campaign_status_counts
from campaigns.models import Campaign, CampaignStatus, Message, MessageCheck, MessageStatus
from campaigns.sending import dispatch, enqueue, resolution
from campaigns.sending.fanout import messages_materialise
from campaigns.sending.heartbeat import KEY as HEARTBEAT
from campaigns.tests.factories import CampaignFactory
from common import enqueue as common_enqueue
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("open_hours")


@pytest.fixture(autouse=True)
def _short_waits(settings):
    settings.TWILIO_HTTP_TIMEOUT = 1.0
    settings.SENDING_UNKNOWN_GRACE_SECONDS = 30


def _campaign(tenant, n=3, **kw):
    contacts = [ContactFactory(tenant=tenant) for _ in range(n)]
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING, started_at=timezone.now(), **kw)
    messages_materialise(campaign_id=campaign.pk)
    return campaign, contacts


def _ids(campaign) -> list[int]:
    return list(Message.objects.filter(campaign=campaign).order_by("id").values_list("pk", flat=True))


def _recount(campaign_id: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in Message.objects.filter(campaign_id=campaign_id).values_list("status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out


def _counts(campaign_id: int) -> dict[str, int]:
    return {s: n for s, n in campaign_status_counts(campaign_id).items() if n}


def _send(campaign) -> dispatch.BatchResult:
    return dispatch.messages_send_batch(message_ids=_ids(campaign))


def _resolve(at: dt.datetime) -> resolution.ResolveResult:
    return resolution.unknown_outcomes_resolve(now=at)


def test_cut_after_creating_is_found_and_recorded_once(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=3)
    fake_twilio.inject("cut_after", times=1)
    result = _send(campaign)
    assert (result.sent, result.unknown) == (2, 1)
    unknown = Message.objects.get(campaign=campaign, status=MessageStatus.UNKNOWN)
    assert unknown.check_after is not None and unknown.sid is None
    # Not a final word: the campaign is not sent while a message may have to be sent again.
    assert not sending.campaign_complete_if_done(campaign_id=campaign.pk)

    out = _resolve(unknown.check_after)
    assert (out.asked, out.found, out.resent) == (1, 1, 0)
    unknown.refresh_from_db()
    created = [m for m in fake_twilio.created() if m["to"] == unknown.to]
    assert len(created) == 1 and unknown.sid == created[0]["sid"]
    assert unknown.status == MessageStatus.QUEUED and unknown.check_after is None
    check = MessageCheck.objects.get(message=unknown)
    assert (check.method, check.outcome, check.sid, check.action) == ("list", "found", unknown.sid, "recorded")
    assert fake_twilio.created_count_by_to() == {c.phone_number: 1 for c in contacts}
    assert _counts(campaign.pk) == _recount(campaign.pk)
    assert sending.campaign_complete_if_done(campaign_id=campaign.pk)


def test_cut_before_creating_waits_out_the_grace_then_is_sent_once_more(
    fake_twilio, tenant_a, settings, django_capture_on_commit_callbacks
):
    campaign, contacts = _campaign(tenant_a, n=2)
    fake_twilio.inject("cut_before", times=1)
    assert _send(campaign).unknown == 1
    unknown = Message.objects.get(campaign=campaign, status=MessageStatus.UNKNOWN)

    # Asked at once: not there, but a request could still be in flight, so nothing is resent yet.
    out = _resolve(unknown.check_after)
    assert (out.asked, out.waiting, out.resent) == (1, 1, 0)
    unknown.refresh_from_db()
    grace_end = unknown.claimed_at + dt.timedelta(seconds=settings.SENDING_UNKNOWN_GRACE_SECONDS)
    assert unknown.status == MessageStatus.UNKNOWN and unknown.check_after > grace_end
    assert _resolve(grace_end - dt.timedelta(seconds=1)).asked == 0  # not due before the grace is over

    with django_capture_on_commit_callbacks() as callbacks:
        out = _resolve(unknown.check_after)
    assert out.resent == 1 and len(callbacks) == 1  # one send batch, enqueued after the commit
    unknown.refresh_from_db()
    assert (unknown.status, unknown.claimed_at, unknown.resends) == (MessageStatus.PENDING, None, 1)
    assert dispatch.messages_send_batch(message_ids=[unknown.pk]).sent == 1  # what that batch does
    unknown.refresh_from_db()
    # Sent again through the normal claim (the enqueued batch ran): one text, a real SID.
    assert unknown.status == MessageStatus.QUEUED and unknown.resends == 1 and unknown.sid
    assert fake_twilio.created_count_by_to() == {c.phone_number: 1 for c in contacts}
    actions = list(MessageCheck.objects.filter(message=unknown).order_by("id").values_list("outcome", "action"))
    assert actions == [("not_found", "ask_again"), ("not_found", "resent")]
    assert _counts(campaign.pk) == _recount(campaign.pk)


def test_a_gateway_error_then_a_timeout_past_the_create_are_found(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=3)
    fake_twilio.inject("error_503", times=1)
    fake_twilio.inject("stall_after", times=1, stall=1.5)  # created, answered after the client gave up
    result = _send(campaign)
    assert result.unknown == 2
    out = _resolve(timezone.now() + dt.timedelta(seconds=5))
    # The 503 created nothing (waits out the grace); the stalled one was created and is found.
    assert (out.found, out.waiting) == (1, 1)
    assert fake_twilio.created_count_by_to() == {
        c.phone_number: 1 for c in contacts if Message.objects.get(campaign=campaign, to=c.phone_number).sid
    }


def test_a_copy_another_message_carries_is_not_taken(fake_twilio, tenant_a, tenant_b):
    """Two campaigns text the same number; one copy reached Twilio: only its own message takes it."""
    contact = ContactFactory(tenant=tenant_a)
    first = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING, body="First offer")
    second = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING, body="Second offer")
    for c in (first, second):
        messages_materialise(campaign_id=c.pk)
    fake_twilio.inject("cut_after", times=1)
    _send(first)
    fake_twilio.inject("cut_before", times=1)
    _send(second)
    later = timezone.now() + dt.timedelta(seconds=5)
    out = _resolve(later)
    assert (out.found, out.waiting) == (1, 1)
    m1 = Message.objects.get(campaign=first)
    m2 = Message.objects.get(campaign=second)
    assert m1.status == MessageStatus.QUEUED and m1.sid == fake_twilio.created()[0]["sid"]
    assert m2.status == MessageStatus.UNKNOWN and m2.sid is None
    assert fake_twilio.created_count_by_to() == {contact.phone_number: 1}


def test_a_failing_question_backs_off_then_is_listed_for_a_person(fake_twilio, tenant_a, settings):
    settings.SENDING_RESOLVE_GIVE_UP_SECONDS = 600
    campaign, _ = _campaign(tenant_a, n=1)
    fake_twilio.inject("cut_before", times=1)
    _send(campaign)
    msg = Message.objects.get(campaign=campaign)
    fake_twilio.inject_lookup("error_503")
    t0 = msg.check_after
    out = _resolve(t0)
    assert out.errors == 1 and out.gave_up == 0
    msg.refresh_from_db()
    assert msg.check_after > t0 and msg.unresolved_reason == ""
    out = _resolve(t0 + dt.timedelta(seconds=601))
    assert out.gave_up == 1
    msg.refresh_from_db()
    assert msg.status == MessageStatus.UNKNOWN and "could not be asked" in msg.unresolved_reason
    assert _resolve(t0 + dt.timedelta(hours=2)).asked == 0  # left for a person

    fake_twilio.clear_faults()
    assert resolution.unknown_check_again(message_ids=[msg.pk]) == 1
    msg.refresh_from_db()
    assert msg.unresolved_reason == "" and msg.check_after is not None
    out = _resolve(timezone.now() + dt.timedelta(seconds=settings.SENDING_UNKNOWN_GRACE_SECONDS + 1))
    assert out.resent == 1
    outcomes = list(MessageCheck.objects.filter(message=msg).order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["error", "error", "retry", "not_found"]


def test_a_canceled_campaigns_message_is_canceled_not_resent(fake_twilio, tenant_a):
    campaign, _ = _campaign(tenant_a, n=1)
    fake_twilio.inject("cut_before", times=1)
    _send(campaign)
    assert sending.campaign_cancel(campaign=campaign)
    out = _resolve(timezone.now() + dt.timedelta(minutes=5))
    assert out.canceled == 1
    assert Message.objects.get(campaign=campaign).status == MessageStatus.CANCELED
    assert len(fake_twilio.created()) == 0


def test_messaging_service_sender_is_matched_on_the_service(fake_twilio, tenant_a):
    tenant_a.sender = "MG" + "1" * 32
    tenant_a.save()
    campaign, _ = _campaign(tenant_a, n=1)
    fake_twilio.inject("cut_after", times=1)
    _send(campaign)
    out = _resolve(timezone.now() + dt.timedelta(seconds=5))
    assert out.found == 1
    msg = Message.objects.get(campaign=campaign)
    assert msg.status == MessageStatus.ACCEPTED and msg.sid == fake_twilio.created()[0]["sid"]
    lookups = fake_twilio.lookups()
    assert lookups and all("From" not in r.form and "From=" not in r.path for r in lookups)


def test_claimed_but_never_handed_go_back_to_pending(tenant_a):
    campaign, _ = _campaign(tenant_a, n=3)
    ids = _ids(campaign)
    numbers = list(Message.objects.filter(pk__in=ids).order_by("id").values_list("to", flat=True))
    won, _ = dispatch.messages_claim(message_ids=ids, tenant_id=tenant_a.pk, phone_numbers=numbers)
    assert won == set(ids)
    assert dispatch.messages_unclaim(message_ids=ids[:2]) == set(ids[:2])
    statuses = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert [statuses[i] for i in ids] == ["pending", "pending", "sending"]
    assert Message.objects.get(pk=ids[0]).claimed_at is None
    assert _counts(campaign.pk) == _recount(campaign.pk)


def test_a_submit_that_fails_returns_its_claims(fake_twilio, tenant_a):
    campaign, _ = _campaign(tenant_a, n=4)
    pool, _slots = dispatch.http_pool()
    with mock.patch.object(pool, "submit", side_effect=RuntimeError("pool shut down")):
        with pytest.raises(RuntimeError):
            _send(campaign)
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"pending"}
    assert _send(campaign).sent == 4 and len(fake_twilio.created()) == 4


def test_the_tick_kicks_a_stalled_campaign_once_per_stall(tenant_a, settings, django_capture_on_commit_callbacks):
    campaign, _ = _campaign(tenant_a, n=3)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - dt.timedelta(minutes=5))
    cache.delete(HEARTBEAT.format(campaign.pk))
    with django_capture_on_commit_callbacks() as callbacks:
        result = sending.tick_run()
    assert result.stalled == 1 and len(callbacks) == 1  # one batch with the three pending messages
    with django_capture_on_commit_callbacks() as callbacks:
        assert sending.tick_run().stalled == 0  # the kick counts as activity
    assert callbacks == []


def test_send_is_202_with_the_broker_down_and_the_tick_starts_it(
    api_alice, tenant_a, settings, django_capture_on_commit_callbacks
):
    ContactFactory(tenant=tenant_a)
    campaign = CampaignFactory(tenant=tenant_a)
    down = mock.patch.object(common_enqueue.current_app, "send_task", side_effect=BrokerDown("connection refused"))
    with down, django_capture_on_commit_callbacks(execute=True):
        resp = api_alice.post(f"/api/v1/campaigns/{campaign.pk}/send/", {}, format="json")
    assert resp.status_code == 202
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.fanned_out_at is None
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - dt.timedelta(minutes=5))
    cache.delete(HEARTBEAT.format(campaign.pk))
    with mock.patch.object(common_enqueue.current_app, "send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=True):
            assert sending.tick_run().stalled == 1
    send_task.assert_called_once_with(enqueue.FANOUT, args=(), kwargs={"campaign_id": campaign.pk})


def test_answers_not_in_by_the_deadline_are_left_for_the_next_run(fake_twilio, tenant_a, settings):
    campaign, _ = _campaign(tenant_a, n=2)
    fake_twilio.inject("cut_after", times=2)
    assert _send(campaign).unknown == 2
    fake_twilio.latency = 0.5
    settings.SENDING_RESOLVE_RUN_SECONDS = 0  # the run stops waiting at once
    out = _resolve(timezone.now() + dt.timedelta(seconds=5))
    assert (out.asked, out.unanswered, out.found) == (0, 2, 0)
    assert not MessageCheck.objects.exists()
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"unknown"}
    fake_twilio.latency = 0.0
    settings.SENDING_RESOLVE_RUN_SECONDS = 60
    assert _resolve(timezone.now() + dt.timedelta(seconds=5)).found == 2
