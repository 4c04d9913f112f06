"""End to end: real Celery worker processes on Redis, the real database, a Twilio-compatible server.

The worker runs as ``celery -A smscampaigns worker`` (prefork), pointed at the
pytest database (``transactional_db``: rows are committed, so it sees them)
and at ``FakeTwilio`` through ``TWILIO_API_BASE_URL``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from campaigns.models import Campaign, Message
from campaigns.tests.conftest import always_open
from compliance.services import suppression_add
from contacts.tests.factories import ContactFactory
from gateways.base import status_callback_url
from gateways.fake_twilio import FakeTwilio
from links.models import ShortLink
from links.services import short_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(django_settings.BASE_DIR)


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A ``celery worker`` subprocess in its own process group (SIGKILL takes its children too)."""

    def __init__(self, env: dict[str, str], beat: bool = False) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="e2e-worker-", suffix=".log", delete=False)  # noqa: SIM115
        cmd = [
            sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool=prefork", "--concurrency=2",
            "--loglevel=INFO", "-n", f"e2e-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if beat:
            cmd += ["-B", "-s", self.log.name + ".beat"]
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=BASE_DIR, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while "ready." not in Path(self.log.name).read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + Path(self.log.name).read_text()[-3000:])
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def errors(self) -> str:
        text = Path(self.log.name).read_text()
        return "\n".join(line for line in text.splitlines() if "ERROR" in line or "Traceback" in line)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(Path(self.log.name).read_text().splitlines()[-lines:])


@pytest.fixture
def fake():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def workers(transactional_db, redis_url, fake, settings):
    """Start workers with ``workers.start()``; all are stopped before the database is flushed."""
    redis.Redis.from_url(redis_url).flushdb()  # no stale tasks from an earlier run
    settings.TWILIO_API_BASE_URL = fake.base_url
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CONN_MAX_AGE": "0",
        "SMS_GATEWAY": "twilio",
        "TWILIO_API_BASE_URL": fake.base_url,
        "PUBLIC_BASE_URL": django_settings.PUBLIC_BASE_URL,
        "SHORT_LINK_BASE_URL": django_settings.SHORT_LINK_BASE_URL,
        "SENDING_THROTTLE_ENABLED": "1",
        "SENDING_BATCH_SIZE": "20",
        "SENDING_TICK_SECONDS": "1",
        "SENDING_CLAIM_TIMEOUT": "3",
        # A claim the kill cut before its request reached the gateway is reaped to ``unknown``, and the resolver
        # finds nothing until the grace period has passed (a request could still be in flight): 50 s by default
        # (TWILIO_HTTP_TIMEOUT 10 s), longer than the waits below. Short timings, as in faults/harness.py.
        "TWILIO_HTTP_TIMEOUT": "2",
        "SENDING_UNKNOWN_GRACE_SECONDS": "8",
        # A task the kill took between the broker's pop and its unacked record is lost to the broker: the tick's
        # stall sweep kicks the campaign again after this long (60 s in production, past the waits below).
        "SENDING_STALL_SECONDS": "5",
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    started: list[Worker] = []

    class Pool:
        def start(self, beat: bool = False) -> Worker:
            worker = Worker(env, beat=beat)
            started.append(worker)
            return worker

        def errors(self) -> str:
            return "\n".join(w.errors() for w in started)

        def tails(self) -> str:
            return "\n".join(f"--- worker {i} ---\n{w.tail()}" for i, w in enumerate(started))

    yield Pool()
    for worker in started:
        worker.kill()  # the test is over; a warm shutdown would only cost time


def _tenant_ready(tenant, fake, rate):
    always_open(tenant)
    tenant.sending_rate = rate
    tenant.save(update_fields=["sending_rate"])
    fake.accounts[tenant.twilio_account_sid] = tenant.twilio_auth_token


def _wait(predicate, timeout: float, what: str, pool=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{_state()}\n{pool.tails() if pool else ''}")
        time.sleep(0.1)


def _state() -> str:
    """What the campaigns and their messages are doing: the first thing to read when a wait times out."""
    lines = []
    for campaign in Campaign.objects.order_by("pk"):
        counts = Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
        lines.append(
            f"campaign {campaign.pk}: {campaign.status}, fanned out {campaign.fanned_out_at}, messages {dict(counts)}"
        )
    for m in Message.objects.filter(status__in=["pending", "sending", "unknown"]).order_by("pk")[:10]:
        lines.append(f"  message {m.pk}: {m.status}, claimed {m.claimed_at}, check after {m.check_after}")
    return "\n".join(lines)


def _status(campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


def test_worker_sends_one_request_per_eligible_recipient(workers, fake, tenant_a, tenant_b, api_alice):
    _tenant_ready(tenant_a, fake, rate=500)
    _tenant_ready(tenant_b, fake, rate=500)
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(30)]
    ContactFactory(tenant=tenant_b, phone_number="+14155559999")  # another tenant's: never texted
    opted_out = contacts[3].phone_number
    suppression_add(tenant=tenant_a, phone_number=opted_out, source="keyword")
    invalid = contacts[4].phone_number
    fake.fail_numbers = {invalid: (400, 21211)}
    campaign = api_alice.post(
        "/api/v1/campaigns/", {"name": "E2E", "body": "Hi {{first_name}} {{link}}", "link_url": "https://x.example/s"},
        format="json",
    ).json()  # fmt: skip
    campaign = Campaign.objects.get(pk=campaign["id"])
    workers.start()
    assert api_alice.post(f"/api/v1/campaigns/{campaign.pk}/send/", {}, format="json").status_code == 202
    assert api_alice.post(f"/api/v1/campaigns/{campaign.pk}/send/", {}, format="json").status_code == 409
    _wait(lambda: _status(campaign) == "sent", 30, "the campaign to be sent", workers)

    sends = fake.sends()
    eligible = {c.phone_number for c in contacts} - {opted_out}
    requested = Counter(r.form["To"] for r in sends)
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    missing = Counter(eligible) - requested
    assert requested == Counter(eligible), (
        requested - Counter(eligible),
        list(Message.objects.filter(to__in=list(missing)).values_list("to", "status", "error_message")),
    )
    links = {
        link.message.to: link.code for link in ShortLink.objects.filter(campaign=campaign).select_related("message")
    }
    assert len(set(links.values())) == len(eligible)
    for r in sends:
        assert r.auth == (tenant_a.twilio_account_sid, tenant_a.twilio_auth_token)
        assert r.account_sid == tenant_a.twilio_account_sid
        assert r.form["From"] == tenant_a.sender
        assert r.form["StatusCallback"] == status_callback_url()
        assert short_url(links[r.form["To"]]) in r.form["Body"]
    assert statuses[opted_out] == "suppressed" and statuses[invalid] == "failed"
    assert {s for to, s in statuses.items() if to not in (opted_out, invalid)} == {"queued"}

    # The same batch, twice more, through the broker: nobody gets a second request.
    from campaigns.tasks import messages_send

    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    messages_send.delay(message_ids=ids)
    messages_send.delay(message_ids=ids)
    time.sleep(1.5)
    assert len(fake.sends()) == len(eligible)
    assert workers.errors() == ""


def test_sigkill_mid_campaign_then_restart(workers, fake, tenant_a):
    _tenant_ready(tenant_a, fake, rate=40)
    fake.latency = 0.05
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(80)]
    campaign = Campaign.objects.create(tenant=tenant_a, name="Kill", body="Hello {{first_name}}")
    first = workers.start(beat=True)
    from campaigns.sending import campaign_send

    campaign_send(campaign=campaign)
    _wait(lambda: len(fake.sends()) >= 15, 20, "sending to start", workers)
    first.kill()
    at_kill = len(fake.sends())
    assert at_kill < len(contacts), "the campaign finished before the kill: nothing was tested"
    workers.start(beat=True)
    _wait(lambda: _status(campaign) == "sent", 45, "the campaign to finish after the restart", workers)

    tos = [r.form["To"] for r in fake.sends()]
    assert len(tos) == len(set(tos)), "a recipient got two requests"
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert len(statuses) == len(contacts)
    assert set(statuses.values()) <= {"queued", "unknown"}  # nothing pending, nothing stuck claimed
    for to, status in statuses.items():
        if status == "queued":
            assert tos.count(to) == 1
    unknown = [to for to, s in statuses.items() if s == "unknown"]
    assert len(unknown) <= 2 * django_settings.SENDING_CONCURRENCY  # only what was in flight at the kill
    assert len(tos) > at_kill  # the restarted worker carried on


def test_stop_mid_campaign_is_honoured(workers, fake, tenant_a):
    _tenant_ready(tenant_a, fake, rate=10)
    contacts = [ContactFactory(tenant=tenant_a) for _ in range(30)]
    campaign = Campaign.objects.create(tenant=tenant_a, name="Stop", body="Deals today")
    workers.start()
    from campaigns.sending import campaign_send

    campaign_send(campaign=campaign)
    _wait(lambda: len(fake.sends()) >= 5, 20, "sending to start", workers)
    # Batches run side by side, so "later" is not the contact order: take numbers whose
    # messages are still waiting, the last ones of their batches.
    victims = list(
        Message.objects.filter(campaign=campaign, status="pending").order_by("-id").values_list("to", flat=True)[:4]
    )
    assert len(victims) == 4
    stopped_at = {}
    for number in victims:
        suppression_add(tenant=tenant_a, phone_number=number, source="keyword")  # what the STOP webhook records
        stopped_at[number] = time.monotonic()
    _wait(lambda: _status(campaign) == "sent", 30, "the campaign to finish", workers)
    sends = fake.sends()
    late = [r for r in sends if r.form["To"] in stopped_at and r.at >= stopped_at[r.form["To"]]]
    assert late == [], "a message went out after its recipient's STOP was recorded"
    # A victim claimed in the milliseconds before its STOP may have gone out just before it;
    # every other one is suppressed, never sent.
    spared = [v for v in victims if v not in {r.form["To"] for r in sends}]
    assert len(spared) >= 3
    statuses = dict(Message.objects.filter(campaign=campaign).values_list("to", "status"))
    assert {statuses[v] for v in spared} == {"suppressed"}
    assert len(sends) == len(contacts) - len(spared)
