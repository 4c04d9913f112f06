"""Claims and outcomes in groups: one statement per group, with every guarantee of the one-by-one path."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.counters import campaign_status_counts
from campaigns.models import CampaignStatus, Message
from campaigns.sending import dispatch, outcomes
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory
from campaigns.transitions import message_move
from compliance.models import Suppression
from compliance.services import suppression_add
from contacts.tests.factories import ContactFactory
from gateways import GatewayError, SendResult

pytestmark = pytest.mark.usefixtures("open_hours")


def _campaign(tenant, n=3):
    contacts = [ContactFactory(tenant=tenant) for _ in range(n)]
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.SENDING)
    messages_materialise(campaign_id=campaign.pk)
    return campaign, contacts


def _messages(campaign) -> list[Message]:
    return list(Message.objects.filter(campaign=campaign).order_by("id"))


def _recount(campaign_id: int) -> dict[str, int]:
    rows = Message.objects.filter(campaign_id=campaign_id).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}


def _counts(campaign_id: int) -> dict[str, int]:
    return {s: n for s, n in campaign_status_counts(campaign_id).items() if n}


def _claim(tenant, msgs):
    return dispatch.messages_claim(
        message_ids=[m.pk for m in msgs], tenant_id=tenant.pk, phone_numbers=[m.to for m in msgs]
    )


def test_one_statement_claims_the_pending_and_suppresses_the_opted_out(tenant_a, tenant_b):
    campaign, _ = _campaign(tenant_a, n=6)
    msgs = _messages(campaign)
    stop, erased, raw, taken = msgs[0], msgs[1], msgs[2], msgs[3]
    suppression_add(tenant=tenant_a, phone_number=stop.to, source="keyword")
    suppression_add(tenant=tenant_a, phone_number=erased.to, source="keyword")
    Suppression.objects.filter(tenant=tenant_a, phone_number=erased.to).update(phone_number="")  # hash only
    Suppression.objects.create(tenant=tenant_a, phone_number=raw.to, phone_hash="", source="import")  # no hash
    suppression_add(tenant=tenant_b, phone_number=msgs[4].to, source="keyword")  # another tenant's list
    message_move(message_id=taken.pk, to="sending", allowed_from=["pending"])  # another worker has it

    # A claim under another tenant (whose suppression list it would check) takes nothing.
    assert _claim(tenant_b, msgs) == (set(), set())
    with CaptureQueriesContext(connection) as queries:
        won, suppressed = _claim(tenant_a, msgs)
    assert won == {msgs[4].pk, msgs[5].pk}
    assert suppressed == {stop.pk, erased.pk, raw.pk}
    assert len(queries) <= 3  # claim, then the opted-out ones, then one look for leftovers
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("pk", "status"))
    assert [statuses[m.pk] for m in msgs] == ["suppressed"] * 3 + ["sending"] * 3
    assert all(m.claimed_at for m in Message.objects.filter(pk__in=won))
    assert _counts(campaign.pk) == _recount(campaign.pk)
    # Claiming again wins nothing: the compare-and-set is on the status.
    assert _claim(tenant_a, msgs) == (set(), set())
    assert _counts(campaign.pk) == _recount(campaign.pk)


@pytest.mark.django_db(transaction=True)
def test_concurrent_group_claims_win_each_message_once(tenant_a):
    campaign, _ = _campaign(tenant_a, n=40)
    msgs = _messages(campaign)
    wins: list[set[int]] = []
    barrier = threading.Barrier(4)

    def claimer(group):
        try:
            barrier.wait()
            wins.append(_claim(tenant_a, group)[0])
        finally:
            connections.close_all()

    # Overlapping groups in different orders: every message is asked for by two or more claimers.
    groups = [msgs, msgs[::-1], msgs[::2] + msgs[1::2], msgs[10:] + msgs[:10]]
    threads = [threading.Thread(target=claimer, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(wins) == 4
    assert sum(len(w) for w in wins) == 40
    assert set().union(*wins) == {m.pk for m in msgs}
    assert _recount(campaign.pk) == {"sending": 40} == _counts(campaign.pk)


def test_a_batch_costs_a_few_statements_not_a_few_per_message(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=30)
    ids = [m.pk for m in _messages(campaign)]
    with CaptureQueriesContext(connection) as queries:
        result = dispatch.messages_send_batch(message_ids=ids)
    assert result.sent == 30 and len(fake_twilio.sends()) == 30
    # One by one it was at least three per message (claim, suppression check, outcome): 90+. In groups:
    # the batch's reads, one claim, then an outcome statement and an orphan look-up per group of results.
    assert len(queries) <= 15, [q["sql"][:60] for q in queries.captured_queries]
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"queued"}
    assert Message.objects.filter(campaign=campaign, sid__startswith="SM").count() == 30
    assert _counts(campaign.pk) == _recount(campaign.pk) == {"queued": 30}


def _sender(campaign):
    campaign.refresh_from_db()
    return dispatch.Sender(campaign=campaign, tenant=campaign.tenant, result=dispatch.BatchResult())


def _outgoing(m: Message) -> dispatch.Outgoing:
    return dispatch.Outgoing(m.pk, m.campaign_id, m.to, m.body, m.segments)


def _done(value=None, error=None) -> Future:
    fut: Future = Future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)
    return fut


def test_outcomes_recorded_together_never_move_a_message_back(tenant_a, django_capture_on_commit_callbacks):
    campaign, _ = _campaign(tenant_a, n=6)
    msgs = _messages(campaign)
    now = timezone.now()
    for m in msgs:
        message_move(message_id=m.pk, to="sending", allowed_from=["pending"], claimed_at=now)
    # The delivery report of msgs[0] beat the sender's own record of it.
    message_move(message_id=msgs[0].pk, to="delivered", sid="SM" + "a" * 32)
    sender = _sender(campaign)
    items = [
        (_outgoing(msgs[0]), _done(SendResult(sid="SM" + "a" * 32, status="queued"))),
        (_outgoing(msgs[1]), _done(SendResult(sid="SM" + "b" * 32, status="accepted"))),
        (_outgoing(msgs[2]), _done(error=GatewayError("bad", code=21211, http_status=400, permanent=True))),
        (_outgoing(msgs[3]), _done(error=GatewayError("opted out", code=21610, http_status=400, permanent=True))),
        (_outgoing(msgs[4]), _done(error=GatewayError("boom", code=20500, http_status=500, outcome_unknown=True))),
        (_outgoing(msgs[5]), _done(error=GatewayError("slow down", code=20429, http_status=429, retryable=True))),
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        dispatch.record_outcomes(sender, items)
    got = {m.pk: m for m in Message.objects.filter(campaign=campaign)}
    assert got[msgs[0].pk].status == "delivered"  # not back to queued
    assert (got[msgs[1].pk].status, got[msgs[1].pk].sid) == ("accepted", "SM" + "b" * 32)
    assert got[msgs[1].pk].sent_at is not None
    assert (got[msgs[2].pk].status, got[msgs[2].pk].error_code) == ("failed", 21211)
    assert (got[msgs[3].pk].status, got[msgs[3].pk].error_code) == ("failed", 21610)
    assert Suppression.objects.filter(tenant=tenant_a, phone_number=msgs[3].to, source="carrier").exists()
    assert (got[msgs[4].pk].status, got[msgs[4].pk].error_code) == ("unknown", 20500)
    parked = got[msgs[5].pk]
    assert (parked.status, parked.claimed_at, parked.attempts) == ("sending", None, 1)  # the same message, parked
    assert len(callbacks) == 1  # its resend
    r = sender.result
    assert (r.sent, r.failed, r.unknown, r.parked) == (2, 2, 1, 1)
    assert _counts(campaign.pk) == _recount(campaign.pk)


def test_throttled_groups_are_no_bigger_than_the_senders_burst(tenant_a, settings):
    settings.SENDING_THROTTLE_ENABLED = True
    settings.REDIS_URL = ""  # the process-local limiter, fresh
    from campaigns.sending import throttle

    throttle._throttle = None
    try:
        tenant_a.sending_rate = 50  # a burst of a tenth of a second: 5 segments
        tenant_a.save(update_fields=["sending_rate"])
        campaign, _ = _campaign(tenant_a, n=12)
        sender = _sender(campaign)
        from collections import deque

        waiting = deque(_outgoing(m) for m in _messages(campaign))
        assert sender._wait_turn(waiting[0])
        first = sender._take(waiting, 64)
        assert 1 <= len(first) <= 6
        assert sender._wait_turn(waiting[0])  # waits for the next turn
        second = sender._take(waiting, 64)  # then takes only what the rate allows
        assert 1 <= len(second) <= 2
    finally:
        throttle._throttle = None


def test_slots_are_shared_and_given_back():
    slots = dispatch.Slots(3)
    assert slots.take(2) == 2
    assert slots.take(5) == 1
    assert slots.take(1) == 0
    slots.give(2)
    assert slots.take(5) == 2


def test_stop_between_batches_is_honoured_by_the_group_claim(fake_twilio, tenant_a):
    campaign, contacts = _campaign(tenant_a, n=5)
    suppression_add(tenant=tenant_a, phone_number=contacts[2].phone_number, source="keyword")
    result = dispatch.messages_send_batch(message_ids=[m.pk for m in _messages(campaign)])
    assert (result.sent, result.suppressed) == (4, 1)
    assert contacts[2].phone_number not in {r.form["To"] for r in fake_twilio.sends()}
    assert _counts(campaign.pk) == _recount(campaign.pk) == {"queued": 4, "suppressed": 1}


def test_one_bad_outcome_does_not_cost_the_group_its_sids(tenant_a, monkeypatch):
    """Should recording a group fail part-way, the outcomes are recorded one by one: a text
    that went out keeps its SID (its delivery reports must find it) and the counts stay true."""
    campaign, _ = _campaign(tenant_a, n=3)
    msgs = _messages(campaign)
    now = timezone.now()
    for m in msgs:
        message_move(message_id=m.pk, to="sending", allowed_from=["pending"], claimed_at=now)
    real_emit, calls = outcomes.message_moved_emit, []

    def emit_failing_once(**kwargs):
        calls.append(kwargs["message_id"])
        if len(calls) == 1:
            raise RuntimeError("event store down")
        return real_emit(**kwargs)

    monkeypatch.setattr(outcomes, "message_moved_emit", emit_failing_once)
    sender = _sender(campaign)
    items = [
        (_outgoing(msgs[0]), _done(SendResult(sid="SM" + "c" * 32, status="queued"))),
        (_outgoing(msgs[1]), _done(error=GatewayError("bad", code=21211, http_status=400, permanent=True))),
        (_outgoing(msgs[2]), _done(SendResult(sid="SM" + "d" * 32, status="queued"))),
    ]
    dispatch.record_outcomes(sender, items)
    got = {m.pk: m for m in Message.objects.filter(campaign=campaign)}
    assert (got[msgs[0].pk].status, got[msgs[0].pk].sid) == ("queued", "SM" + "c" * 32)
    assert (got[msgs[2].pk].status, got[msgs[2].pk].sid) == ("queued", "SM" + "d" * 32)
    assert (got[msgs[1].pk].status, got[msgs[1].pk].error_code) == ("failed", 21211)
    assert len(calls) == 2  # the group's attempt, then the refused message's own
    r = sender.result
    assert (r.sent, r.failed, r.unknown) == (2, 1, 0)  # the failed attempt counted nothing
    assert _counts(campaign.pk) == _recount(campaign.pk)
