"""Reconciliation against the local Twilio-compatible server, orphan sweeps, job locks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import Message
from gateways import OutboundSMS, get_gateway
from tracking import tasks
from tracking.models import StatusEvent
from tracking.services import callback_parse, messages_reconcile, status_callback_receive
from tracking.tests.conftest import callback, sent_message
from tracking.tests.factories import new_sid


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _handed_over(tenant, fake_twilio, *, status="sent", ago=dt.timedelta(hours=2), to="+14155550123"):
    """A message really sent to the fake Twilio, stuck in ``status`` since ``ago``."""
    result = get_gateway().send(tenant, OutboundSMS(to=to, body="Hi"))
    return sent_message(tenant, status=status, sid=result.sid, sent_at=timezone.now() - ago)


def test_stuck_messages_are_settled_from_twilio(tenant_a, tenant_b, fake_twilio):
    delivered = _handed_over(tenant_a, fake_twilio)
    undelivered = _handed_over(tenant_b, fake_twilio, status="queued")
    still_sent = _handed_over(tenant_a, fake_twilio)
    fresh = _handed_over(tenant_a, fake_twilio, ago=dt.timedelta(minutes=1))
    fake_twilio.set_status(delivered.sid, "delivered")
    fake_twilio.set_status(undelivered.sid, "undelivered", error_code=30005)
    fake_twilio.set_status(fresh.sid, "delivered")

    result = messages_reconcile()

    assert result == {"checked": 3, "moved": 2, "unchanged": 1, "not_found": 0, "errors": 0}
    statuses = dict(Message.objects.values_list("sid", "status"))
    assert statuses[delivered.sid] == "delivered"
    assert statuses[undelivered.sid] == "undelivered"
    assert statuses[still_sent.sid] == "sent"
    assert statuses[fresh.sid] == "sent"  # not stuck long enough to ask
    undelivered.refresh_from_db()
    assert undelivered.error_code == 30005
    # Each tenant's messages were fetched with that tenant's own credentials.
    fetches = [r for r in fake_twilio.requests if r.method == "GET"]
    assert {(r.account_sid, r.auth[0]) for r in fetches} == {
        (tenant_a.twilio_account_sid, tenant_a.twilio_account_sid),
        (tenant_b.twilio_account_sid, tenant_b.twilio_account_sid),
    }
    # The answer is in the history, marked as ours.
    event = StatusEvent.objects.get(sid=undelivered.sid)
    assert event.fields["source"] == "reconciliation" and event.tenant_id == tenant_b.pk

    # A message that stays "sent" is not asked about again on the next run.
    assert messages_reconcile()["checked"] == 0


def test_reconcile_skips_unknown_sids_and_old_messages(tenant_a, fake_twilio, settings):
    gone = sent_message(tenant_a, status="sent", sent_at=timezone.now() - dt.timedelta(hours=2))
    ancient = _handed_over(tenant_a, fake_twilio, ago=dt.timedelta(days=30))
    fake_twilio.set_status(ancient.sid, "delivered")
    result = messages_reconcile()
    assert result["checked"] == 1 and result["not_found"] == 1
    ancient.refresh_from_db()
    gone.refresh_from_db()
    assert (ancient.status, gone.status) == ("sent", "sent")


def test_reconcile_task_takes_a_lock_and_says_what_it_did(tenant_a, fake_twilio):
    msg = _handed_over(tenant_a, fake_twilio)
    fake_twilio.set_status(msg.sid, "delivered")
    cache.add("lock:tracking.reconcile", "someone-else", 60)
    assert tasks.messages_reconcile() == {"skipped": "locked"}
    assert Message.objects.get(pk=msg.pk).status == "sent"
    cache.delete("lock:tracking.reconcile")
    assert tasks.messages_reconcile()["moved"] == 1
    assert cache.get("lock:tracking.reconcile") is None  # released after the run
    assert Message.objects.get(pk=msg.pk).status == "delivered"


def test_orphan_sweep_applies_orphans_whose_sid_turned_up(tenant_a, tenant_b):
    sid, never = new_sid(), new_sid()
    status_callback_receive(tenant=tenant_a, params=callback(sid, "delivered", tenant_a))
    status_callback_receive(tenant=tenant_a, params=callback(never, "delivered", tenant_a))
    # The SID is recorded without the sender applying orphans (a crash in between).
    msg = sent_message(tenant_a, sid=sid)
    result = tasks.status_orphans_sweep()
    assert result == {"sids": 1, "applied": 1, "still_orphaned": 1}
    msg.refresh_from_db()
    assert msg.status == "delivered"
    assert StatusEvent.objects.get(sid=never).message_id is None  # stays visible as an orphan


def test_squash_task(tenant_a):
    from campaigns.tasks import status_counts_squash

    msg = sent_message(tenant_a)
    status_callback_receive(tenant=tenant_a, params=callback(msg, "delivered", tenant_a))
    assert status_counts_squash()["squashed"] >= 1


def test_callback_parse_keeps_every_field():
    cb = callback_parse({"MessageSid": "SM" + "a" * 32, "SmsStatus": "Sending", "ErrorCode": "0", "X": "y"})
    assert (cb.raw_status, cb.status, cb.error_code, cb.fields["X"]) == ("sending", "queued", None, "y")


def test_the_periodic_jobs_are_scheduled_on_beat(settings):
    from smscampaigns.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "tracking.tasks.messages_reconcile",
        "tracking.tasks.status_orphans_sweep",
    } <= scheduled
    assert scheduled <= set(app.tasks)


def test_reconcile_pages_past_messages_asked_about_lately(tenant_a, fake_twilio):
    from tracking.services import RECHECK_KEY

    messages = [_handed_over(tenant_a, fake_twilio, ago=dt.timedelta(hours=3 - i / 10)) for i in range(6)]
    for m in messages:
        fake_twilio.set_status(m.sid, "delivered")
    for m in messages[:4]:  # the four oldest were asked about a moment ago
        cache.set(RECHECK_KEY.format(m.pk), 1, 60)
    assert messages_reconcile(limit=1) == {"checked": 1, "moved": 1, "unchanged": 0, "not_found": 0, "errors": 0}
    assert Message.objects.get(pk=messages[4].pk).status == "delivered"


def test_reconcile_stops_asking_for_a_tenant_whose_credentials_are_refused(tenant_a, fake_twilio):
    for _ in range(3):
        _handed_over(tenant_a, fake_twilio)
    fake_twilio.accounts[tenant_a.twilio_account_sid] = "rotated-at-twilio"
    result = messages_reconcile()
    assert (result["checked"], result["errors"]) == (1, 1)
