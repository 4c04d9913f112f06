"""GET /metrics: Prometheus' text, the seeded figures read back, never public, and a failing source is reported,
not a 500.

Tenants A and B (Alice's and Bob's) own the messages; the answer is platform-wide and names neither them nor a
recipient.
"""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from campaigns.counters import counts_add
from campaigns.models import Message
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from integrations.tests.factories import EventDeliveryFactory
from links.capture import stream_key
from links.writer import GROUP
from smscampaigns import metrics
from tracking.models import StatusEvent

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token-0123456789"
OUTSIDE = "203.0.113.9"


def _scrape(client: Client | None = None, **extra):
    return (client or Client()).get("/metrics", **extra)


def _families(response) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label pairs: value}}, every family parsed by prometheus_client's own parser."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        assert family.documentation, f"{family.name} has no HELP text"
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _one(families, name: str, **labels) -> float:
    return families[name][tuple(sorted(labels.items()))]


@pytest.fixture
def broker(settings):
    """The suite's Redis (the broker too, in tests), its queue and click keys emptied before and after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, decode_responses=True)
    keys = [stream_key(), f"{stream_key()}:dead", metrics.KOMBU_UNACKED_KEY]
    for queue in settings.CELERY_TASK_QUEUES:
        keys += [queue.name, *(f"{queue.name}{metrics.KOMBU_PRIORITY_SEP}{step}" for step in (3, 6, 9))]
    client.delete(*keys)
    yield client
    client.delete(*keys)


def test_the_text_parses_and_every_source_is_read(broker):
    response = _scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = _families(response)
    for source in metrics.SOURCES:
        assert _one(families, "smscampaigns_scrape_error", source=source) == 0, source
    for name in (
        "smscampaigns_celery_queue_length",
        "smscampaigns_click_writer_lag",
        "smscampaigns_messages",
        "smscampaigns_messages_sent_total",
        "smscampaigns_messages_unknown",
        "smscampaigns_messages_needs_person",
        "smscampaigns_counter_rows_unsquashed",
        "smscampaigns_status_callback_orphans",
        "smscampaigns_webhook_delivery_lag_seconds",
        "smscampaigns_replica_lag_seconds",
        "smscampaigns_partition_default_rows",
    ):
        assert name in families, name


def test_queue_depth_is_the_brokers_list_length(broker, settings):
    broker.lpush("celery", *["task"] * 3)
    broker.lpush(f"celery{metrics.KOMBU_PRIORITY_SEP}9", "urgent")  # a prioritised task counts in its queue
    broker.lpush(settings.WEBHOOKS_QUEUE, "delivery")
    broker.hset(metrics.KOMBU_UNACKED_KEY, mapping={"tag-1": "x", "tag-2": "y"})
    families = _families(_scrape())
    assert _one(families, "smscampaigns_celery_queue_length", queue="celery") == 4
    assert _one(families, "smscampaigns_celery_queue_length", queue=settings.WEBHOOKS_QUEUE) == 1
    assert _one(families, "smscampaigns_celery_unacked") == 2


def test_click_writer_lag_pending_and_dead_letters(broker):
    key = stream_key()
    broker.xgroup_create(key, GROUP, id="0", mkstream=True)
    for n in range(5):
        broker.xadd(key, {"d": f'{{"n": {n}}}'})
    broker.xreadgroup(GROUP, "writer-test", {key: ">"}, count=2)  # read, not acknowledged: pending
    broker.rpush(f"{key}:dead", "{}")
    families = _families(_scrape())
    assert _one(families, "smscampaigns_click_stream_length") == 5
    assert _one(families, "smscampaigns_click_writer_pending") == 2
    assert _one(families, "smscampaigns_click_writer_lag") == 3
    assert _one(families, "smscampaigns_click_dead_letters") == 1


def test_click_stream_never_read_counts_as_lag(broker):
    broker.xadd(stream_key(), {"d": "{}"})  # no writer has made its group yet
    families = _families(_scrape())
    assert (_one(families, "smscampaigns_click_writer_lag"), _one(families, "smscampaigns_click_writer_pending")) == (
        1,
        0,
    )


def _sent_world(tenant_a, tenant_b):
    """Three of A's messages and one of B's, moved as the sender and the webhooks move them."""
    campaign_a = CampaignFactory(tenant=tenant_a, name="Alice's spring sale")
    campaign_b = CampaignFactory(tenant=tenant_b, name="Bob's launch")
    a1, a2, a3 = (MessageFactory(campaign=campaign_a, to=f"+4477009000{n}") for n in range(3))
    (b1,) = (MessageFactory(campaign=campaign_b, to="+14155550123"),)
    counts_add(campaign_id=campaign_a.id, deltas={S.PENDING: 3})
    counts_add(campaign_id=campaign_b.id, deltas={S.PENDING: 1})
    for n, message in enumerate((a1, a2, b1)):
        assert message_move(message_id=message.id, to=S.SENDING, claimed_at=timezone.now()) == S.PENDING
        assert message_move(message_id=message.id, to=S.ACCEPTED, sid=f"SM{n:032x}") == S.SENDING
    assert message_move(message_id=a2.id, to=S.DELIVERED) == S.ACCEPTED  # a callback: not a second send
    assert message_move(message_id=a3.id, to=S.SENDING, claimed_at=timezone.now()) == S.PENDING
    assert message_move(message_id=a3.id, to=S.UNKNOWN) == S.SENDING
    return a1, a2, a3, b1


def test_messages_by_status_and_sends_from_the_counters(broker, tenant_a, tenant_b):
    _sent_world(tenant_a, tenant_b)
    families = _families(_scrape())
    by_status = {dict(labels)["status"]: value for labels, value in families["smscampaigns_messages"].items()}
    assert by_status == {**dict.fromkeys(S.values, 0), S.ACCEPTED: 2, S.DELIVERED: 1, S.UNKNOWN: 1}
    assert _one(families, "smscampaigns_messages_sent_total") == 3
    # Only the counters are read: a message row the counters do not know of changes nothing.
    MessageFactory(campaign=CampaignFactory(tenant=tenant_a), status=S.DELIVERED)
    assert _one(_families(_scrape()), "smscampaigns_messages_sent_total") == 3


def test_unknown_and_needs_a_person(broker, tenant_a, tenant_b):
    *_rest, a3, _b1 = _sent_world(tenant_a, tenant_b)
    b_unknown = MessageFactory(campaign=CampaignFactory(tenant=tenant_b), status=S.UNKNOWN)
    Message.objects.filter(pk=b_unknown.pk).update(
        unresolved_reason="Twilio could not be asked for 6.0 h", claimed_at=timezone.now() - dt.timedelta(hours=7)
    )
    families = _families(_scrape())
    assert _one(families, "smscampaigns_messages_unknown") == 2
    assert _one(families, "smscampaigns_messages_needs_person") == 1
    assert 7 * 3600 - 60 < _one(families, "smscampaigns_messages_unknown_oldest_seconds") < 7 * 3600 + 60


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT count(*), count(*) FILTER (WHERE unresolved_reason <> '') FROM campaigns_message "
            "WHERE status = 'unknown'",
            "message_unknown_due",
        ),
        ("SELECT count(*) FROM campaigns_messagestatuscount WHERE NOT is_squashed", "msgcount_unsquashed"),
        ("SELECT count(*) FROM campaigns_messagechannelcount WHERE NOT is_squashed", "msgchannel_unsquashed"),
        # Each partition's copy of statusevent_orphans (PostgreSQL names it after its columns).
        ("SELECT count(*) FROM tracking_statusevent WHERE message_id IS NULL", "_tenant_id_sid_idx"),
        (
            "SELECT count(*), min(next_attempt_at) FROM integrations_eventdelivery "
            "WHERE status = 'pending' AND next_attempt_at <= now()",
            "integrations_eventdelivery",  # delivery_due_idx or the status index: the planner's pick
        ),
    ],
)
def test_the_backlog_queries_can_use_their_indexes(sql, index):
    """Each count reads a (partial) index, not the table: the planner told to avoid a sequential scan, as it would
    on millions of rows (on a near-empty table it prefers one). The orphans' index is each partition's copy of
    ``statusevent_orphans``."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_status_callback_backlog_and_default_partition(broker, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    counts_add(campaign_id=campaign.id, deltas={S.PENDING: 2, S.BLOCKED: 1})
    # A callback whose SID no message carries yet; dated past every month partition: it lands in the default one.
    StatusEvent.objects.create(
        tenant=tenant_a, sid="SM" + "a" * 32, status="delivered", received_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    )
    families = _families(_scrape())
    assert _one(families, "smscampaigns_counter_rows_unsquashed", table="status") == 2
    assert 0 <= _one(families, "smscampaigns_counter_lag_seconds") < 120
    assert _one(families, "smscampaigns_status_callback_orphans") == 1
    assert _one(families, "smscampaigns_partition_default_rows", table="tracking_statusevent") == 1


def test_webhook_delivery_lag(broker, tenant_a):
    EventDeliveryFactory(tenant=tenant_a, next_attempt_at=timezone.now() - dt.timedelta(minutes=10))
    EventDeliveryFactory(tenant=tenant_a, next_attempt_at=timezone.now() + dt.timedelta(minutes=10))  # not due
    EventDeliveryFactory(tenant=tenant_a, status="succeeded", next_attempt_at=timezone.now() - dt.timedelta(days=1))
    families = _families(_scrape())
    assert _one(families, "smscampaigns_webhook_deliveries_due") == 1
    assert 590 < _one(families, "smscampaigns_webhook_delivery_lag_seconds") < 660


def test_no_tenant_name_or_phone_number_in_the_answer(broker, tenant_a, tenant_b):
    _sent_world(tenant_a, tenant_b)
    text = _scrape().content.decode()
    for secret in ("Alice", "Bob", "spring sale", "+44770090000", "+14155550123", tenant_a.name, tenant_b.name):
        assert secret not in text


# --- access ------------------------------------------------------------------------------------------------------


def test_loopback_only_by_default(broker):
    assert _scrape().status_code == 200  # the test client's 127.0.0.1
    assert _scrape(REMOTE_ADDR="::1").status_code == 200
    refused = _scrape(REMOTE_ADDR=OUTSIDE)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Not allowed."}
    assert b"smscampaigns_" not in refused.content


def test_a_forwarded_for_header_does_not_make_an_outsider_local(broker):
    assert _scrape(REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


def test_allowed_networks(broker, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert _scrape(REMOTE_ADDR="10.1.2.3").status_code == 200
    assert _scrape().status_code == 403  # loopback is no longer listed
    settings.METRICS_ALLOWED_IPS = []
    assert _scrape().status_code == 403  # nobody


def test_token_required_when_set(broker, settings):
    settings.METRICS_TOKEN = TOKEN
    assert _scrape().status_code == 403  # no token
    assert _scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403  # wrong token
    assert _scrape(HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403  # not a bearer token
    assert _scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    # The token does not open the endpoint to an address not listed.
    assert _scrape(REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["0.0.0.0/0", "::/0"]
    assert _scrape(REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert _scrape(REMOTE_ADDR=OUTSIDE).status_code == 403


def test_only_get(broker):
    assert Client().post("/metrics").status_code == 405


# --- failing sources ---------------------------------------------------------------------------------------------


def test_redis_down_is_a_scrape_error_not_a_500(settings, tenant_a, tenant_b):
    _sent_world(tenant_a, tenant_b)
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = _scrape()
    assert response.status_code == 200
    families = _families(response)
    assert _one(families, "smscampaigns_scrape_error", source="celery") == 1
    assert _one(families, "smscampaigns_scrape_error", source="clicks") == 1
    assert "smscampaigns_celery_queue_length" not in families
    assert "smscampaigns_click_writer_lag" not in families
    # The database's figures are still there.
    assert _one(families, "smscampaigns_scrape_error", source="messages") == 0
    assert _one(families, "smscampaigns_messages_sent_total") == 3


def test_a_slow_query_gives_up_and_the_next_source_still_reads(broker, settings, monkeypatch, tenant_a):
    def slow() -> list:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return []

    settings.METRICS_QUERY_TIMEOUT_MS = 50
    monkeypatch.setitem(metrics.SOURCES, "unknown", (slow, True))
    EventDeliveryFactory(tenant=tenant_a, next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    response = _scrape()
    assert response.status_code == 200
    families = _families(response)
    assert _one(families, "smscampaigns_scrape_error", source="unknown") == 1
    assert "smscampaigns_messages_unknown" not in families
    assert _one(families, "smscampaigns_scrape_error", source="webhooks") == 0  # after it, same connection
    assert _one(families, "smscampaigns_webhook_deliveries_due") == 1
