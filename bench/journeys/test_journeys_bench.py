"""The journeys benchmark, small (500 runs), so CI sees it still runs and its checks still hold."""

from __future__ import annotations

import pytest

from bench.journeys.run import (
    _Sender,
    counts_check,
    fanout_measure,
    journey_measure,
    memory_summary,
    setup,
)
from campaigns.models import Message
from journeys.models import JourneyRun, RunStatus, StepRun

pytestmark = pytest.mark.django_db

N = 500


def test_the_bench_moves_every_run_through_wait_and_send_once(django_capture_on_commit_callbacks):
    ids = setup(N)
    assert (
        JourneyRun.objects.filter(journey_id=ids["journey"], status=RunStatus.ACTIVE, step_id=ids["wait"]).count() == N
    )
    fan = fanout_measure(ids)
    assert fan["created"] == N  # the ceiling made its messages
    Message.objects.filter(campaign_id=ids["campaign"]).delete()  # as the bench's TRUNCATE (not in a transaction)

    sender = _Sender()
    with sender, django_capture_on_commit_callbacks(execute=True):
        measured = journey_measure(ids, batch_size=100, sender=sender)
    # Before the checks, the checks themselves can fail: the messages were only counted once the batches committed.
    assert counts_check(ids, enqueued_ids=0) == [f"messages handed to the sender: 0, not {N}"]
    assert counts_check(ids, enqueued_ids=len(sender.ids)) == []
    assert measured["wait_steps"] == measured["send_steps"] == measured["messages"] == measured["completed"] == N
    assert len(measured["wait_batches"]) == len(measured["send_batches"]) == N // 100
    assert sender.tasks >= 1
    body = Message.objects.filter(campaign_id=ids["carrier"]).values_list("body", flat=True).first()
    assert body.startswith("Hi First")
    assert "over 10 batches" in memory_summary(measured["wait_batches"] + measured["send_batches"])

    # A second advance finds nothing due, and a lost message is what the checks catch.
    measured_again = journey_measure(ids, batch_size=100, sender=sender)
    assert measured_again["wait_steps"] == measured_again["send_steps"] == 0
    StepRun.objects.filter(step_id=ids["send"]).order_by("pk").first().delete()
    Message.objects.filter(campaign_id=ids["carrier"]).order_by("pk").first().delete()
    failures = counts_check(ids, enqueued_ids=len(sender.ids))
    assert f"messages: {N - 1:,}, not {N:,}" in failures
    assert f"send step records (sent): {N - 1:,}, not {N:,}" in failures
