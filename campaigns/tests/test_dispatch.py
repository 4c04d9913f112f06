from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.counters import campaign_status_counts
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.sending import dispatch
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory
from compliance.models import Suppression
from compliance.rules import next_send_time
from compliance.services import suppression_add
from contacts.tests.factories import ContactFactory
from gateways.base import status_callback_url

pytestmark = pytest.mark.usefixtures("open_hours")


def _campaign(tenant, n=3, **kw):
    contacts = [ContactFactory(tenant=tenant) for _ in range(n)]
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING, **kw)
    messages_materialise(campaign_id=campaign.pk)
    return campaign, contacts


def _ids(campaign):
    return list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))


def test_each_recipient_gets_one_request_with_the_tenants_account(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=4)
    result = dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert result.sent == 4
    sends = fake_twilio.sends()
    assert sorted(r.form["To"] for r in sends) == sorted(c.phone_number for c in contacts)
    bodies = dict(Message.objects.filter(campaign=campaign).values_list("to", "body"))
    for r in sends:
        assert r.auth == (tenant_a.twilio_account_sid, tenant_a.twilio_auth_token)
        assert r.account_sid == tenant_a.twilio_account_sid
        assert r.form["From"] == tenant_a.sender
        assert r.form["StatusCallback"] == status_callback_url()
        assert r.form["Body"] == bodies[r.form["To"]]
    for m in Message.objects.filter(campaign=campaign):
        assert m.status == MessageStatus.QUEUED and m.sid.startswith("SM") and m.sent_at
    assert campaign_status_counts(campaign.pk)["queued"] == 4
    # The same batch again sends nothing: every message was claimed already.
    again = dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert again.sent == 0 and len(fake_twilio.sends()) == 4
    assert sending.campaign_complete_if_done(campaign_id=campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_errors_by_class(fake_twilio, tenant_a, django_capture_on_commit_callbacks):
    campaign, contacts = _campaign(tenant_a, n=5)
    bad, opted, limited, broken, ok = (c.phone_number for c in contacts)
    fake_twilio.fail_numbers = {bad: (400, 21211), opted: (400, 21610), limited: (429, 20429), broken: (500, 20500)}
    with django_capture_on_commit_callbacks() as callbacks:
        result = dispatch.messages_send_batch(message_ids=_ids(campaign))
    msgs = {m.to: m for m in Message.objects.filter(campaign=campaign)}
    assert (msgs[bad].status, msgs[bad].error_code) == ("failed", 21211)
    assert (msgs[opted].status, msgs[opted].error_code) == ("failed", 21610)
    assert Suppression.objects.get(tenant=tenant_a, phone_number=opted).source == "carrier"
    assert msgs[broken].status == "unknown"  # may have gone out: never resent
    assert msgs[ok].status == "queued"
    # 429: the same message stays claimed (parked) and is retried, never copied.
    assert (msgs[limited].status, msgs[limited].claimed_at, msgs[limited].attempts) == ("sending", None, 1)
    assert (result.sent, result.failed, result.unknown, result.parked) == (1, 2, 1, 1)
    assert len(callbacks) == 1  # the resend
    assert Message.objects.filter(campaign=campaign).count() == 5

    fake_twilio.fail_numbers = {}
    assert dispatch.parked_message_send(message_id=msgs[limited].pk, attempt=1) == "sent"
    assert dispatch.parked_message_send(message_id=msgs[limited].pk, attempt=1) == "lost"  # a duplicate task
    assert Message.objects.get(pk=msgs[limited].pk).status == "queued"
    assert [r.form["To"] for r in fake_twilio.sends()].count(limited) == 2  # refused once, sent once
    assert [r.form["To"] for r in fake_twilio.sends()].count(broken) == 1


def test_bad_credentials_pause_the_campaign_without_burning_the_list(fake_twilio, tenant_a):
    campaign, _ = _campaign(tenant_a, n=6)
    fake_twilio.accounts[tenant_a.twilio_account_sid] = "another-token"
    dispatch.messages_send_batch(message_ids=_ids(campaign))
    campaign.refresh_from_db()
    tenant_a.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "20003" in campaign.paused_reason
    assert "20003" in tenant_a.sending_paused_reason
    statuses = list(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    # Nothing burned: what was in flight is parked (claimed, not failed), the rest waits.
    assert set(statuses) <= {"pending", "sending"}
    assert not Message.objects.filter(campaign=campaign, status="sending", claimed_at__isnull=False).exists()
    refused = len(fake_twilio.sends())
    assert refused == statuses.count("sending")

    # Credentials fixed, resumed: everything goes, once.
    fake_twilio.accounts[tenant_a.twilio_account_sid] = tenant_a.twilio_auth_token
    assert sending.campaign_resume(campaign=campaign)
    tenant_a.refresh_from_db()
    assert tenant_a.sending_paused_reason == ""
    sending.campaign_requeue(campaign_id=campaign.pk)  # what the enqueued kick does, minus the broker
    for mid, attempts in Message.objects.filter(campaign=campaign, status="sending").values_list("pk", "attempts"):
        dispatch.parked_message_send(message_id=mid, attempt=attempts)
    dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"queued"}
    accepted = fake_twilio.sends()[refused:]
    assert len(accepted) == 6 and len({r.form["To"] for r in accepted}) == 6


def test_opt_out_after_fanout_is_honoured_at_claim(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=3)
    suppression_add(tenant=tenant_a, phone_number=contacts[1].phone_number, source="keyword")
    dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert contacts[1].phone_number not in [r.form["To"] for r in fake_twilio.sends()]
    assert Message.objects.get(contact=contacts[1]).status == "suppressed"
    assert len(fake_twilio.sends()) == 2


def test_paused_campaign_sends_nothing(fake_twilio, tenant_a):
    campaign, _ = _campaign(tenant_a, n=2)
    assert sending.campaign_pause(campaign=campaign, reason="wait")
    dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert fake_twilio.sends() == []
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"pending"}


def test_quiet_hours_hold_then_release(fake_twilio, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    tenant_a.quiet_hours_start, tenant_a.quiet_hours_end = dt.time(9), dt.time(17)
    tenant_a.save()
    contact = ContactFactory(tenant=tenant_a, phone_number="+14155550142", timezone="America/Los_Angeles")
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    messages_materialise(campaign_id=campaign.pk)
    night = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC)  # midnight in California
    from unittest import mock

    with mock.patch("campaigns.sending.dispatch.timezone.now", return_value=night):
        result = dispatch.messages_send_batch(message_ids=_ids(campaign))
    assert result.held == 1 and fake_twilio.sends() == []
    msg = Message.objects.get(contact=contact)
    assert msg.status == "pending"
    assert msg.hold_until == dt.datetime(2026, 6, 1, 16, 0, tzinfo=dt.UTC)  # 9am PDT
    # Before the window the tick releases nothing; at 9am it hands the message on.
    with django_capture_on_commit_callbacks() as early:
        assert sending.tick_run(now=night + dt.timedelta(hours=8)).released == 0
    assert early == []
    with django_capture_on_commit_callbacks() as callbacks:
        assert sending.tick_run(now=msg.hold_until).released == 1
    assert len(callbacks) == 1
    assert Message.objects.get(pk=msg.pk).hold_until is None


def test_tick_starts_scheduled_reaps_lost_claims_and_finishes(tenant_a, django_capture_on_commit_callbacks, settings):
    lost, _ = _campaign(tenant_a, n=1)
    msg = Message.objects.get(campaign=lost)
    scheduled = CampaignFactory(tenant=tenant_a)
    sending.campaign_send(campaign=scheduled, send_at=timezone.now() + dt.timedelta(minutes=5))
    assert scheduled.status == CampaignStatus.SCHEDULED
    from campaigns.transitions import message_move

    message_move(message_id=msg.pk, to="sending", allowed_from=["pending"], claimed_at=timezone.now())
    later = timezone.now() + dt.timedelta(seconds=settings.SENDING_CLAIM_TIMEOUT + 1, minutes=5)
    with django_capture_on_commit_callbacks() as callbacks:
        result = sending.tick_run(now=later)
    assert (result.started, result.reaped, result.finished) == (1, 1, 0)
    assert len(callbacks) == 1  # the scheduled campaign's fan-out
    assert Campaign.objects.get(pk=scheduled.pk).status == CampaignStatus.SENDING
    reaped = Message.objects.get(pk=msg.pk)
    assert reaped.status == "unknown"
    assert reaped.check_after == later  # a question for the gateway, asked at once
    # Not sent while its one message may still have to be sent again.
    assert Campaign.objects.get(pk=lost.pk).status == CampaignStatus.SENDING


def test_tick_takes_a_lock(tenant_a):
    from django.core.cache import cache

    from campaigns import tasks

    cache.add("lock:campaigns.sending_tick", "someone-else", timeout=30)
    try:
        assert tasks.sending_tick() == {"skipped": "locked"}
    finally:
        cache.delete("lock:campaigns.sending_tick")
    assert tasks.sending_tick()["finished"] == 0  # ran, and released its lock
    assert cache.get("lock:campaigns.sending_tick") is None


def test_cancel_cancels_waiting_messages(tenant_a):
    campaign, _ = _campaign(tenant_a, n=3)
    assert sending.campaign_cancel(campaign=campaign)
    assert campaign.status == CampaignStatus.CANCELED
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"canceled"}
    counts = campaign_status_counts(campaign.pk)
    assert (counts["pending"], counts["canceled"]) == (0, 3)
    assert not sending.campaign_cancel(campaign=campaign)


def test_cancel_of_an_ab_campaign_keeps_each_variants_figures_true(tenant_a):
    """Canceled messages leave their own variant's queue: nothing stays "queued" in the A/B figures."""
    from analytics.selectors import campaign_variants

    for _ in range(12):
        ContactFactory(tenant=tenant_a)
    campaign = CampaignFactory(
        tenant=tenant_a,
        status=CampaignStatus.SENDING,
        variants=[{"body": "A", "percent": 50}, {"body": "B", "percent": 50}],
    )
    messages_materialise(campaign_id=campaign.pk)
    assert sending.campaign_cancel(campaign=campaign)
    rows = {row["variant"]: row for row in campaign_variants(campaign=campaign)["variants"]}
    for variant in (0, 1):
        expected = Message.objects.filter(campaign=campaign, variant=variant).count()
        assert rows[variant]["recipients"] == expected
        assert rows[variant]["queued"] == 0
    assert sum(r["recipients"] for r in rows.values()) == 12


def test_progress_sent_total_rate_time_left(fake_twilio, tenant_a):
    campaign, _ = _campaign(tenant_a, n=5)
    before = sending.campaign_progress(campaign=campaign)
    assert (before.total, before.handed_over, before.waiting) == (5, 0, 5)
    assert before.seconds_left == 5 / tenant_a.effective_sending_rate  # no rate yet: the sender's
    ids = _ids(campaign)
    dispatch.messages_send_batch(message_ids=ids[:3])
    progress = sending.campaign_progress(campaign=campaign)
    assert (progress.total, progress.handed_over, progress.waiting) == (5, 3, 2)
    assert progress.rate == 3 / 60
    assert progress.seconds_left == 2 / (3 / 60)


def test_an_unloadable_zone_falls_back_to_the_numbers_zone(tenant_a):
    """A contact zone that does not exist is ignored: the number's own zone (here Pacific) decides."""
    tenant_a.quiet_hours_start, tenant_a.quiet_hours_end = dt.time(8), dt.time(21)
    now = dt.datetime(2026, 6, 1, 18, 0, tzinfo=dt.UTC)  # 11am in San Francisco
    assert next_send_time(tenant=tenant_a, phone_number="+14155550100", timezone="Mars/Base", now=now) == now
    late = dt.datetime(2026, 6, 1, 5, 0, tzinfo=dt.UTC)  # 10pm in San Francisco: held
    assert next_send_time(tenant=tenant_a, phone_number="+14155550100", timezone="Mars/Base", now=late) > late


def test_429_gives_up_after_max_attempts(fake_twilio, tenant_a, settings, django_capture_on_commit_callbacks):
    settings.SENDING_MAX_ATTEMPTS = 2
    campaign, contacts = _campaign(tenant_a, n=1)
    fake_twilio.fail_numbers = {contacts[0].phone_number: (429, 20429)}
    with django_capture_on_commit_callbacks():
        dispatch.messages_send_batch(message_ids=_ids(campaign))
        assert dispatch.parked_message_send(message_id=_ids(campaign)[0], attempt=1) == "done"
    msg = Message.objects.get(campaign=campaign)
    assert (msg.status, msg.error_code, msg.attempts) == ("failed", 20429, 2)
    assert len(fake_twilio.sends()) == 2  # the same message, twice refused, never a copy


def test_kick_enqueues_waiting_and_parked(tenant_a, django_capture_on_commit_callbacks):
    campaign, _ = _campaign(tenant_a, n=3)
    parked = Message.objects.filter(campaign=campaign).first()
    from campaigns.transitions import message_move

    message_move(message_id=parked.pk, to="sending", allowed_from=["pending"])  # claimed, claimed_at empty
    with django_capture_on_commit_callbacks() as callbacks:
        assert sending.campaign_requeue(campaign_id=campaign.pk) == 3
    assert len(callbacks) == 2  # one send batch for the two waiting, one resend for the parked one
