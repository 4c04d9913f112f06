"""Racing callbacks on real PostgreSQL connections: statuses never regress, counters equal a recount."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.test import Client

from campaigns.counters import campaign_status_counts, squash_status_counts
from campaigns.models import Message, can_move
from campaigns.tests.factories import CampaignFactory
from tracking.models import StatusEvent
from tracking.services import status_callback_receive
from tracking.tests.conftest import callback, sent_message, signed_post

pytestmark = pytest.mark.django_db(transaction=True)  # threads must see each other's commits


def _run_threads(n: int, work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def runner(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _assert_counters_match_recount(campaign_id: int) -> None:
    counts = {k: v for k, v in campaign_status_counts(campaign_id).items() if v}
    recount = Counter(Message.objects.filter(campaign_id=campaign_id).values_list("status", flat=True))
    assert counts == dict(recount)


def test_concurrent_callbacks_for_one_message(tenant_a, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    msg = sent_message(tenant_a)
    statuses = ["sending", "sent", "delivered", "sent", "delivered", "queued", "sending", "delivered"]
    results: list[int] = []

    def work(i: int) -> None:
        resp = signed_post(Client(), callback(msg, statuses[i], tenant_a), tenant_a.twilio_auth_token)
        results.append(resp.status_code)

    assert _run_threads(len(statuses), work) == []
    assert results == [204] * len(statuses)
    msg.refresh_from_db()
    assert msg.status == "delivered"
    assert sorted(StatusEvent.objects.filter(sid=msg.sid).values_list("status", flat=True)) == [
        "delivered",
        "queued",
        "sending",
        "sent",
    ]
    _assert_counters_match_recount(msg.campaign_id)


def test_counters_equal_a_recount_after_a_random_storm(tenant_a):
    rng = random.Random(6)
    campaign = CampaignFactory(tenant=tenant_a)
    messages = [sent_message(tenant_a, campaign=campaign) for _ in range(40)]
    choices = ["sending", "sent", "delivered", "undelivered", "failed", "read", "sent", "delivered"]
    storm = [(m.sid, rng.choice(choices)) for m in messages for _ in range(4)]
    rng.shuffle(storm)
    threads = 8
    stop = threading.Event()

    def work(i: int) -> None:
        for sid, status in storm[i::threads]:
            params = callback(sid, status, tenant_a)
            if status in ("undelivered", "failed"):
                params["ErrorCode"] = "30003"
            status_callback_receive(tenant=tenant_a, params=params)

    def squash_meanwhile() -> None:  # folding counters while the storm blows loses nothing
        try:
            while not stop.is_set():
                squash_status_counts()
        finally:
            connections.close_all()

    squasher = threading.Thread(target=squash_meanwhile)
    squasher.start()
    try:
        assert _run_threads(threads, work) == []
    finally:
        stop.set()
        squasher.join(30)
    # Every message ended where no status it received could move it further.
    for m in messages:
        m.refresh_from_db()
        received = {s for sid, s in storm if sid == m.sid}
        mapped = {"queued" if s == "sending" else s for s in received}
        assert not any(can_move(m.status, s) for s in mapped), (m.status, received)
    _assert_counters_match_recount(campaign.pk)
    squash_status_counts()
    _assert_counters_match_recount(campaign.pk)
    assert StatusEvent.objects.count() == len(set(storm))


def test_the_prepared_statement_is_reused_and_survives_a_server_reset(tenant_a, settings):
    from django.test.utils import CaptureQueriesContext

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    messages = [sent_message(tenant_a) for _ in range(3)]
    client = Client()
    with CaptureQueriesContext(connection) as first:
        signed_post(client, callback(messages[0], "delivered", tenant_a), tenant_a.twilio_auth_token)
    with CaptureQueriesContext(connection) as second:
        signed_post(client, callback(messages[1], "delivered", tenant_a), tenant_a.twilio_auth_token)
    assert any(q["sql"].startswith("PREPARE ") for q in first.captured_queries)
    assert [q["sql"].split("(")[0] for q in second.captured_queries] == [
        next(q["sql"] for q in first.captured_queries if q["sql"].startswith("EXECUTE ")).split("(")[0]
    ]
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")  # the server forgets every prepared statement
    assert (
        signed_post(client, callback(messages[2], "delivered", tenant_a), tenant_a.twilio_auth_token).status_code == 204
    )
    assert [m.__class__.objects.get(pk=m.pk).status for m in messages] == ["delivered"] * 3
    _assert_counters_match_recount(messages[0].campaign_id)


def test_racing_rcs_callbacks_count_the_channel_once(tenant_a, settings):
    """Each callback reads the channel it replaces from the locked row: eight racing RCS callbacks for one
    message count it on RCS once, however they interleave."""
    from campaigns.counters import campaign_channel_counts

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    campaign = CampaignFactory(tenant=tenant_a)
    messages = [sent_message(tenant_a, campaign=campaign) for _ in range(3)]
    statuses = ["sent", "delivered", "read", "sent", "delivered", "read", "queued", "read"]
    jobs = [(m, s) for m in messages for s in statuses]
    results: list[int] = []

    def work(i: int) -> None:
        client = Client()
        for msg, status in jobs[i::8]:
            params = callback(msg, status, tenant_a, ChannelPrefix="rcs", To="rcs:+14155550123")
            results.append(signed_post(client, params, tenant_a.twilio_auth_token).status_code)

    assert _run_threads(8, work) == []
    assert results == [204] * len(jobs)
    assert set(Message.objects.filter(campaign=campaign).values_list("status", "channel")) == {("read", "rcs")}
    assert campaign_channel_counts(campaign.pk) == {"rcs": 3}
    _assert_counters_match_recount(campaign.pk)
