"""``GET /metrics``: platform-wide figures for Prometheus, computed on each scrape.

A custom collector (``PlatformCollector``) reads every figure from where it lives (the broker's lists, the click
stream, the maintained counters, a few index-backed queries) when Prometheus asks, so the answer is the same
whichever gunicorn process serves it and no process keeps counters of its own. Figures are platform-wide only: no
tenant, campaign, phone number or name ever appears in a label.

Each source is read on its own: one that fails (Redis down, a query past ``METRICS_QUERY_TIMEOUT_MS``) leaves its
metrics out and sets ``smscampaigns_scrape_error{source=…}`` to 1; the answer is still a 200. The endpoint is never
public: the caller's address must be in ``METRICS_ALLOWED_IPS`` (loopback by default; the address the API's
throttles see, ``common.addresses``) and, when ``METRICS_TOKEN`` is set, it must send ``Authorization: Bearer
<token>`` (compared in constant time). Anything else is a 403. The metrics are described in docs/operations.md,
"Prometheus".
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from analytics.selectors import HANDED_FROM, HANDED_TO
from campaigns.models import Message, MessageChannelCount, MessageStatus, MessageStatusCount
from common.addresses import client_address
from common.partitions import DEFAULT_SUFFIX, month_add, month_start, partition_month
from common.replica import replica_lag_seconds
from integrations.models import DeliveryStatus, EventDelivery
from links.capture import redis_client, stream_key
from links.writer import GROUP
from retention.services import PARTITIONED, partitions_of
from tracking.models import StatusEvent

logger = logging.getLogger(__name__)

PREFIX = "smscampaigns"
#: kombu's Redis transport keeps a queue's prioritised messages in lists of their own (``<queue>\x06\x16<step>``).
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_UNACKED_KEY = "unacked"


# --- access ------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(client_address(request) or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def _token_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_allowed(request: HttpRequest) -> bool:
    """Both gates: an allowed address, and the token when one is set."""
    return _address_allowed(request) and _token_ok(request)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the Prometheus text format; 403 (JSON) to a caller not allowed."""
    if not metrics_allowed(request):
        return JsonResponse({"detail": "Not allowed."}, status=403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


# --- the sources -------------------------------------------------------------------------------------------------


def _gauge(name: str, documentation: str, value: float | None = None, labels: Iterable[str] = ()):
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels) or None)
    if value is not None:
        family.add_metric([], value)
    return family


@lru_cache(maxsize=4)
def _broker_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def celery_metrics() -> list[Metric]:
    """The broker's queue lengths (every queue the project routes to) and the tasks workers hold unacknowledged."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return []
    client = _broker_client(url)
    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for step in KOMBU_PRIORITY_STEPS:
            pipe.llen(queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{step}")
    pipe.hlen(KOMBU_UNACKED_KEY)
    *lengths, unacked = pipe.execute()
    depth = _gauge(
        "celery_queue_length", "Tasks waiting in a Celery queue (Redis LLEN, all priorities)", None, ["queue"]
    )
    steps = len(KOMBU_PRIORITY_STEPS)
    for i, queue in enumerate(queues):
        depth.add_metric([queue], sum(lengths[i * steps : (i + 1) * steps]))
    return [
        depth,
        _gauge(
            "celery_unacked", "Tasks workers have taken but not yet acknowledged (the broker's unacked hash)", unacked
        ),
    ]


def click_metrics() -> list[Metric]:
    """The click stream the redirects write and the click writer drains (links/writer.py)."""
    client = redis_client()
    key = stream_key()
    pipe = client.pipeline(transaction=False)
    pipe.exists(key)
    pipe.xlen(key)
    pipe.llen(f"{key}:dead")
    exists, length, dead = pipe.execute()
    group = None
    if exists:
        group = next((g for g in client.xinfo_groups(key) if g.get("name") == GROUP), None)
    pending = int(group.get("pending") or 0) if group else 0
    lag = group.get("lag") if group else None
    if lag is None:  # no writer has read yet, or Redis cannot tell (entries deleted mid-stream): what is not held
        lag = max(0, length - pending)
    return [
        _gauge(
            "click_stream_length", "Click entries in the Redis stream (not yet written, or written but held)", length
        ),
        _gauge("click_writer_lag", "Click entries the writers' consumer group has not read yet", lag),
        _gauge("click_writer_pending", "Click entries read by a writer but not yet acknowledged", pending),
        _gauge("click_dead_letters", "Click events the database refused, kept in the dead-letter list", dead),
    ]


@contextmanager
def _timed_queries() -> Iterator[None]:
    """A transaction whose statements give up after ``METRICS_QUERY_TIMEOUT_MS`` (a scrape never hangs)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{settings.METRICS_QUERY_TIMEOUT_MS}ms"]
            )
        yield


def _fetchone(sql: str, params: list | tuple = ()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def message_metrics() -> list[Metric]:
    """Messages by status and the sends so far, summed from the maintained counters (never a scan of messages).

    Sent: arrivals into a status the gateway reports (``analytics.selectors.HANDED_TO``) from one before the hand-
    over (``HANDED_FROM``), as the dashboard's "sent" series counts them. A deleted campaign takes its counters with
    it, which Prometheus' ``rate()`` reads as a counter reset."""
    table = MessageStatusCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, SUM(count), "  # noqa: S608 - name from model meta
            "SUM(count) FILTER (WHERE count > 0 AND status = ANY(%s) AND from_status = ANY(%s)) "
            f'FROM "{table}" GROUP BY status',
            [sorted(HANDED_TO), sorted(HANDED_FROM)],
        )
        rows = cursor.fetchall()
    by_status = dict.fromkeys(MessageStatus.values, 0)
    sent = 0
    for status, total, handed in rows:
        by_status[status] = int(total or 0)
        sent += int(handed or 0)
    family = _gauge("messages", "Messages by current status, platform-wide (the maintained counters)", None, ["status"])
    for status, total in by_status.items():
        family.add_metric([status], total)
    sent_family = CounterMetricFamily(
        f"{PREFIX}_messages_sent", "Messages handed to the gateway (accepted by it), platform-wide, since the start"
    )
    sent_family.add_metric([], sent)
    return [family, sent_family]


def unknown_metrics() -> list[Metric]:
    """Unknown outcomes (the partial index ``message_unknown_due`` holds exactly these rows): all of them, those the
    resolver gave up on (a person must look), and the age of the oldest since its claim."""
    table = Message._meta.db_table
    unknown, needs_person, oldest = _fetchone(
        f"SELECT count(*), count(*) FILTER (WHERE unresolved_reason <> ''), "  # noqa: S608 - name from model meta
        f"COALESCE(EXTRACT(EPOCH FROM now() - min(COALESCE(claimed_at, created_at))), 0) "
        f'FROM "{table}" WHERE status = %s',
        [MessageStatus.UNKNOWN],
    )
    return [
        _gauge("messages_unknown", "Messages whose gateway outcome is unknown (asked about by the resolver)", unknown),
        _gauge("messages_needs_person", "Unknown outcomes the resolver gave up on: a person must look", needs_person),
        _gauge("messages_unknown_oldest_seconds", "Age of the oldest unknown outcome, since its claim", float(oldest)),
    ]


def status_callback_metrics() -> list[Metric]:
    """What a status callback leaves behind it. A callback is applied in its own request (one statement), so nothing
    queues for it; what can lag is the counter deltas it inserted (folded by the squash every 10 s) and the callbacks
    that came before their message's SID was recorded (orphans, applied when it is, or by the sweep)."""
    counts, channels = MessageStatusCount._meta.db_table, MessageChannelCount._meta.db_table
    unsquashed, oldest = _fetchone(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(minute)), 0) "  # noqa: S608 - name from model meta
        f'FROM "{counts}" WHERE NOT is_squashed'
    )
    (unsquashed_channels,) = _fetchone(f'SELECT count(*) FROM "{channels}" WHERE NOT is_squashed')  # noqa: S608
    (orphans,) = _fetchone(f'SELECT count(*) FROM "{StatusEvent._meta.db_table}" WHERE message_id IS NULL')  # noqa: S608
    rows = _gauge("counter_rows_unsquashed", "Counter delta rows not yet folded by the squash", None, ["table"])
    rows.add_metric(["status"], unsquashed)
    rows.add_metric(["channel"], unsquashed_channels)
    return [
        rows,
        _gauge(
            "counter_lag_seconds",
            "Age of the oldest status move whose counter delta the squash has not folded (minute resolution)",
            max(0.0, float(oldest)),
        ),
        _gauge("status_callback_orphans", "Status callbacks kept because no message carried their SID yet", orphans),
    ]


def webhook_metrics() -> list[Metric]:
    """Outbound event webhooks (integrations): deliveries due and how long the oldest due one has waited."""
    table = EventDelivery._meta.db_table
    due, lag = _fetchone(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)), 0) "  # noqa: S608
        f'FROM "{table}" WHERE status = %s AND next_attempt_at <= now()',
        [DeliveryStatus.PENDING],
    )
    return [
        _gauge("webhook_deliveries_due", "Event webhook deliveries due (pending, their attempt time passed)", due),
        _gauge("webhook_delivery_lag_seconds", "How long the oldest due event webhook delivery has waited", float(lag)),
    ]


def replica_metrics() -> list[Metric]:
    return [
        _gauge(
            "replica_lag_seconds",
            "How far the read replica is behind the primary (0 without one)",
            replica_lag_seconds(),
        )
    ]


def partition_metrics() -> list[Metric]:
    """The monthly partitions (retention): rows that fell into a default partition, and months made ahead."""
    rows = _gauge(
        "partition_default_rows", "Rows in a partitioned table's default partition (should be 0)", None, ["table"]
    )
    ahead = _gauge("partition_months_ahead", "Month partitions made after the current month", None, ["table"])
    this_month = month_start(timezone.now())
    for spec in PARTITIONED:
        names = partitions_of(spec.table)
        if not names:
            continue
        default = f"{spec.table}{DEFAULT_SUFFIX}"
        if default in names:
            (count,) = _fetchone(f'SELECT count(*) FROM "{default}"')  # noqa: S608 - a name from PARTITIONED
            rows.add_metric([spec.table], count)
        months = [m for m in (partition_month(spec.table, n) for n in names) if m is not None]
        ahead.add_metric([spec.table], sum(1 for m in months if m >= month_add(this_month, 1)))
    return [rows, ahead]


#: source name → (reader, reads the database)
SOURCES: dict[str, tuple[Callable[[], list[Metric]], bool]] = {
    "celery": (celery_metrics, False),
    "clicks": (click_metrics, False),
    "messages": (message_metrics, True),
    "unknown": (unknown_metrics, True),
    "status_callbacks": (status_callback_metrics, True),
    "webhooks": (webhook_metrics, True),
    "replica": (replica_metrics, False),
    "partitions": (partition_metrics, True),
}


class PlatformCollector(Collector):
    """Reads every source on each ``collect()``; a failing source is left out and reported, never raised."""

    def collect(self) -> Iterator[Metric]:
        errors = _gauge(
            "scrape_error",
            "1 when a source could not be read on this scrape (its metrics are absent)",
            None,
            ["source"],
        )
        durations = _gauge("scrape_duration_seconds", "Time taken to read a source on this scrape", None, ["source"])
        for name, (reader, uses_database) in SOURCES.items():
            started = time.monotonic()
            try:
                with _timed_queries() if uses_database else nullcontext():
                    metrics = reader()
            except Exception as exc:  # noqa: BLE001 - any failure is the source's, reported in the answer
                logger.warning("metrics: source %s could not be read: %s", name, type(exc).__name__)
                errors.add_metric([name], 1)
            else:
                errors.add_metric([name], 0)
                yield from metrics
            durations.add_metric([name], round(time.monotonic() - started, 6))
        yield errors
        yield durations
