# ruff: noqa: S608 - DDL and reads built from partition names made in code (common.partitions), never user input
"""Partition maintenance for the append-only tables: months created ahead, expired months dropped whole.

The tables (``PARTITIONED``) are partitioned by month on their time column, and each month by tenant
(``common.partitions``; their migrations did it). Each run creates the current month and
``PARTITIONS_AHEAD_MONTHS`` after it, gives every tenant with a retention of its own
(``Tenant.event_retention_months``) a leaf in each month that holds or may receive its rows, and drops
what has expired: a tenant's leaf when the month ended more than that tenant's months ago, the default
leaf (every other tenant's rows) after ``RETENTION_MONTHS``, and the whole month once nothing in it is
kept. ``DROP TABLE`` of a partition, never a ``DELETE`` of rows (no dead tuples, no vacuum debt, no long
lock); with ``RETENTION_ARCHIVE_DIR`` set, each partition is first written there as gzipped CSV. The
default partition is never dropped. What the dashboards show comes from maintained counters and buckets in
other tables (``campaigns.MessageStatusCount``, ``links.CampaignClickCount``, ``analytics.ClickBucket`` …),
which dropping raw events leaves as they are.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.partitions import (
    leaf_name,
    leaf_tenant,
    month_add,
    month_partition_sql,
    month_start,
    partition_month,
    partition_name,
    tenant_leaf_sql,
    unique_sql,
)

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
    archived: list[str] = field(default_factory=list)


def _is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [table])
        return cursor.fetchone()[0]


def partitions_of(table: str) -> list[str]:
    """The names of ``table``'s partitions (the default included), sorted; for a month, its leaves."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def _has_rows(table: str, tenant_id: int | None = None) -> bool:
    where = f" WHERE tenant_id = {int(tenant_id)}" if tenant_id is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}"{where})')
        return cursor.fetchone()[0]


def _run(statements: list[str]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _expired(month: dt.date, keep: int, current: dt.date) -> bool:
    """A month is kept while it ended less than ``keep`` months ago; 0 keeps it for ever."""
    return bool(keep) and month < month_add(current, -keep)


def _archive(name: str, result: MaintenanceResult) -> None:
    """Write partition ``name`` (a month or a leaf, every row below it) to ``RETENTION_ARCHIVE_DIR`` as gzipped CSV
    with a header, before it is dropped. Written to a temporary name and renamed: a file there is whole."""
    folder = settings.RETENTION_ARCHIVE_DIR
    if not folder:
        return
    path = Path(folder) / f"{name}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".gz.partial")
    with connection.cursor() as cursor, gzip.open(partial, "wb") as out:
        cursor.copy_expert(f'COPY (SELECT * FROM "{name}") TO STDOUT WITH (FORMAT csv, HEADER)', out)
    os.replace(partial, path)
    result.archived.append(str(path))


def _drop(parent: str, name: str, result: MaintenanceResult) -> None:
    _archive(name, result)
    _run([f'ALTER TABLE "{parent}" DETACH PARTITION "{name}"', f'DROP TABLE "{name}"'])
    result.dropped.append(name)


def retention_describe(months: int | None) -> str:
    """How long raw events are kept under a tenant's setting (``None``: the server's), in words."""
    kept = settings.RETENTION_MONTHS if months is None else months
    words = "for ever" if not kept else f"{kept} month{'s' if kept != 1 else ''} after their month ends"
    return f"{words} (the server's setting)" if months is None else words


def tenant_retentions() -> dict[int, int]:
    """Tenant id → months kept, for the tenants with a retention of their own."""
    from tenants.models import Tenant

    rows = Tenant.objects.filter(event_retention_months__isnull=False).values_list("pk", "event_retention_months")
    return dict(rows)


def _maintain_month(
    spec: Partitioned, month: dt.date, current: dt.date, keep: int, own: dict[int, int], result: MaintenanceResult
) -> None:
    """One month of one table: leaves made for the tenants with their own retention, expired leaves dropped."""
    parent = partition_name(spec.table, month)
    leaves = {leaf_tenant(parent, name): name for name in partitions_of(parent)}
    if None not in leaves:  # a month not split by tenant (made by hand, or by an older layout): the server's rule
        if _expired(month, keep, current):
            _drop(spec.table, parent, result)
        return
    for tenant_id, months in sorted(own.items()):
        # A leaf where rows may still come (a month not expired for the tenant) or sit (its rows in the default
        # leaf, to be dropped with the leaf right after): an expired month gets none, so no leaf is made only to go.
        if tenant_id in leaves or (_expired(month, months, current) and not _has_rows(leaves[None], tenant_id)):
            continue
        _run(tenant_leaf_sql(spec.table, month, tenant_id, per_partition_unique=spec.per_partition_unique))
        leaves[tenant_id] = leaf_name(spec.table, month, tenant_id)
        result.created.append(leaves[tenant_id])
    expired = {t: _expired(month, own.get(t, keep) if t is not None else keep, current) for t in leaves}
    if all(expired.values()):
        _drop(spec.table, parent, result)
        return
    for tenant_id, name in sorted(leaves.items(), key=lambda item: item[1]):
        if not expired[tenant_id]:
            continue
        if tenant_id is not None:
            _drop(parent, name, result)
        elif _has_rows(name):  # the default leaf stays a leaf (other tenants' rows of the month may still come)
            _drop(parent, name, result)
            _run(
                [f'CREATE TABLE "{name}" PARTITION OF "{parent}" DEFAULT', *unique_sql(name, spec.per_partition_unique)]
            )


def partitions_maintain(
    *, now: dt.datetime | None = None, ahead: int | None = None, retention_months: int | None = None
) -> MaintenanceResult:
    """Create the months from the current one to ``ahead`` after it; drop what ended more than its retention ago:
    a tenant's leaf after its ``event_retention_months``, the rest after ``retention_months`` (0: keep everything).
    Defaults from ``PARTITIONS_AHEAD_MONTHS`` and ``RETENTION_MONTHS``. Each partition is created or dropped in a
    transaction of its own."""
    current = month_start(now or timezone.now())
    ahead = settings.PARTITIONS_AHEAD_MONTHS if ahead is None else ahead
    keep = settings.RETENTION_MONTHS if retention_months is None else retention_months
    own = tenant_retentions()
    result = MaintenanceResult()
    for spec in PARTITIONED:
        if not _is_partitioned(spec.table):
            continue
        existing = set(partitions_of(spec.table))
        for n in range(ahead + 1):
            month = month_add(current, n)
            name = partition_name(spec.table, month)
            if name in existing:
                continue
            _run(
                month_partition_sql(
                    spec.table, spec.column, month, tenant_ids=own, per_partition_unique=spec.per_partition_unique
                )
            )
            result.created.append(name)
            existing.add(name)
        for name in sorted(existing):
            month = partition_month(spec.table, name)
            if month is not None:
                _maintain_month(spec, month, current, keep, own, result)
    if result.created or result.dropped:
        logger.info(
            "partitions: created %s, dropped %s, archived %d", result.created, result.dropped, len(result.archived)
        )
    return result
