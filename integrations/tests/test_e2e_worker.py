"""End to end: a real Celery worker on the Redis broker delivers to a real receiver on loopback.

The receiver is down (connection refused) when the events happen; it comes up
a few seconds later. Every event of the sequence must then arrive exactly once,
signed, and each contact's events in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from integrations import services
from integrations.models import DeliveryAttempt, DeliveryStatus, EventDelivery

from .factories import EventSubscriptionFactory
from .receiver import Receiver, free_port
from .test_signature_from_docs import verify_from_steps

ROOT = Path(__file__).resolve().parents[2]

BACKOFF = {
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOKS_RETRY_MAX_DELAY_SECONDS": "1.5",
    "WEBHOOKS_DISPATCH_INTERVAL_SECONDS": "0.5",
    "WEBHOOKS_TIMEOUT_SECONDS": "2",
}


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(redis_url, settings, tmp_path):
    queue = f"webhooks-e2e-{uuid.uuid4().hex[:8]}"
    settings.WEBHOOKS_QUEUE = queue
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    for name, value in BACKOFF.items():
        setattr(settings, name, float(value))
    env = {
        **os.environ,
        **BACKOFF,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CACHE_KEY_PREFIX": f"e2e-{queue}",
        "WEBHOOKS_QUEUE": queue,
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "CONN_MAX_AGE": "0",
    }
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "smscampaigns",
            "worker",
            "-B",
            "-s",
            str(tmp_path / "beat-schedule"),
            "-Q",
            queue,
            "--pool=threads",
            "--concurrency=4",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in (tmp_path / "worker.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("worker did not start:\n" + (tmp_path / "worker.log").read_text()[-3000:])
            time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_every_event_arrives_once_in_order_after_the_receiver_was_down(tenant_a, tenant_b, worker):
    port = free_port()  # nothing listens there yet: the receiver is down
    sub = EventSubscriptionFactory(tenant=tenant_a, url=f"http://127.0.0.1:{port}/hooks")
    EventSubscriptionFactory(tenant=tenant_b, url=f"http://127.0.0.1:{free_port()}/never")  # not tenant A's events

    expected: dict[str, tuple[int | None, str]] = {}
    for contact_id in (101, 102, 103):
        for type_ in ("message.sent", "message.delivered", "link.clicked"):
            event = services.event_emit(
                tenant_id=tenant_a.pk, type=type_, payload={"contact_id": contact_id}, contact_id=contact_id
            )
            expected[str(event.id)] = (contact_id, type_)
    finished = services.event_emit(tenant_id=tenant_a.pk, type="campaign.finished", payload={"campaign_id": 1})
    expected[str(finished.id)] = (None, "campaign.finished")

    # Down for a while: the worker's attempts are refused.
    deadline = time.monotonic() + 30
    while DeliveryAttempt.objects.filter(delivery__subscription=sub).count() < 3:
        assert time.monotonic() < deadline, "the worker never tried the endpoint"
        time.sleep(0.2)
    time.sleep(2)
    assert not EventDelivery.objects.filter(subscription=sub, status=DeliveryStatus.SUCCEEDED).exists()

    receiver = Receiver(port=port).start()
    try:
        deadline = time.monotonic() + 45
        while len({r.headers["webhook-id"] for r in receiver.received}) < len(expected):
            assert time.monotonic() < deadline, f"got {len(receiver.received)} of {len(expected)}"
            time.sleep(0.2)
        time.sleep(2)  # anything duplicated would arrive now
        received = list(receiver.received)
    finally:
        receiver.stop()

    ids = [r.headers["webhook-id"] for r in received]
    assert sorted(ids) == sorted(expected), "every event exactly once"
    for r in received:
        assert verify_from_steps(sub.secret, r.headers, r.body)
        assert json.loads(r.body)["type"] == expected[r.headers["webhook-id"]][1]
    for contact_id in (101, 102, 103):
        order = [expected[i][1] for i in ids if expected[i][0] == contact_id]
        assert order == ["message.sent", "message.delivered", "link.clicked"], order
    statuses = set(EventDelivery.objects.filter(subscription=sub).values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SUCCEEDED}
    failed_first = DeliveryAttempt.objects.filter(delivery__subscription=sub, succeeded=False)
    assert failed_first.exists() and {a.error for a in failed_first} == {"Connection refused."}
