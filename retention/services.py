"""Partition maintenance for the append-only tables: months created ahead, expired months dropped whole.

The tables (``PARTITIONED``) are partitioned by month on their time column (``common.partitions``;
their migrations did it). Each run creates the current month and ``PARTITIONS_AHEAD_MONTHS`` after it,
and drops the months that ended more than ``RETENTION_MONTHS`` ago: ``DROP TABLE`` of a partition,
never a ``DELETE`` of rows (no dead tuples, no vacuum debt, no long lock). The default partition is
never dropped. What the dashboards show comes from maintained counters and buckets in other tables
(``campaigns.MessageStatusCount``, ``links.CampaignClickCount``, ``analytics.ClickBucket`` …), which
dropping raw events leaves as they are.

Retention is global: partitions are by time for every tenant, so one tenant cannot keep its raw events
longer or shorter than another's (docs/operations.md, "Retention").
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.partitions import DEFAULT_SUFFIX, month_add, month_partition_sql, month_start, partition_month

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partitioned:
    table: str
    column: str
    per_partition_unique: tuple[tuple[str, ...], ...] = ()


#: The partitioned tables: the status callback history and the clicks.
PARTITIONED = (
    Partitioned("tracking_statusevent", "received_at", per_partition_unique=(("tenant_id", "sid", "status"),)),
    Partitioned("links_click", "clicked_at"),
)


@dataclass
class MaintenanceResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [table])
        return cursor.fetchone()[0]


def partitions_of(table: str) -> list[str]:
    """The names of ``table``'s partitions (the default included), sorted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def partitions_maintain(
    *, now: dt.datetime | None = None, ahead: int | None = None, retention_months: int | None = None
) -> MaintenanceResult:
    """Create the months from the current one to ``ahead`` after it; drop those that ended more than
    ``retention_months`` ago (0: keep everything). Defaults from ``PARTITIONS_AHEAD_MONTHS`` and
    ``RETENTION_MONTHS``. Each partition is created or dropped in its own transaction."""
    current = month_start(now or timezone.now())
    ahead = settings.PARTITIONS_AHEAD_MONTHS if ahead is None else ahead
    keep = settings.RETENTION_MONTHS if retention_months is None else retention_months
    result = MaintenanceResult()
    for spec in PARTITIONED:
        if not _is_partitioned(spec.table):
            continue
        existing = set(partitions_of(spec.table))
        for n in range(ahead + 1):
            month = month_add(current, n)
            name = f"{spec.table}_p{month:%Y%m}"
            if name in existing:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in month_partition_sql(
                    spec.table, spec.column, month, per_partition_unique=spec.per_partition_unique
                ):
                    cursor.execute(statement)
            result.created.append(name)
        if keep:
            oldest_kept = month_add(current, -keep)  # a month is kept while it ended less than ``keep`` months ago
            for name in sorted(existing):
                month = partition_month(spec.table, name)
                if name.endswith(DEFAULT_SUFFIX) or month is None or month >= oldest_kept:
                    continue
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}"')
                    cursor.execute(f'DROP TABLE "{name}"')
                result.dropped.append(name)
    if result.created or result.dropped:
        logger.info("partitions: created %s, dropped %s", result.created, result.dropped)
    return result
