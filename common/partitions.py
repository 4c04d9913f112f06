# ruff: noqa: S608 - DDL built from table and column names in code and month bounds from dates, never user input
"""Monthly range partitions of append-only tables (PostgreSQL declarative partitioning), each month split by tenant.

A partitioned table ``T`` on a time column has one partition per calendar month (UTC), named
``T_pYYYYMM``, and a default partition ``T_pdefault`` that catches a row no month partition holds (a
clock far off, a month not created yet), so an insert never fails for want of a partition. The
months are created ahead by a periodic task (``retention``); creating a month whose rows already
sit in the default moves them first. Whole months are dropped when they expire, never rows.

Each month is itself partitioned by list on ``tenant_id``: a leaf ``T_pYYYYMM_t<id>`` for each tenant
with a retention of its own and a default leaf ``T_pYYYYMM_tdefault`` for every other tenant, so one
tenant's month can be dropped whole while the others' stay (``retention``). A tenant's leaf created in
a month that already holds its rows moves them out of the default leaf first.

PostgreSQL requires every unique index of a partitioned table to include the partition keys: the
primary key is ``(id, time, tenant_id)`` in the database (Django keeps ``id`` as the model's pk: ids
come from one sequence, so ``id`` alone still names one row). A uniqueness that cannot include the
time (the status callbacks' ``(tenant, sid, status)``) is kept per leaf (``per_partition_unique``), so
it holds within a month, not across a month's boundary.

Used by the migrations that partition a table and by ``retention.services``; no model imports here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

DEFAULT_SUFFIX = "_pdefault"
DEFAULT_LEAF = "default"


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def month_add(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def partition_month(table: str, name: str) -> dt.date | None:
    """The month a partition's name stands for; None for the default partition or another name."""
    prefix = f"{table}_p"
    digits = name[len(prefix) :] if name.startswith(prefix) else ""
    if len(digits) != 6 or not digits.isdigit():
        return None
    return dt.date(int(digits[:4]), int(digits[4:]), 1)


def _bound(month: dt.date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def unique_sql(partition: str, per_partition_unique: Sequence[Sequence[str]]) -> list[str]:
    return [
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{partition}_u{i}" ON "{partition}" ({", ".join(cols)})'
        for i, cols in enumerate(per_partition_unique)
    ]


def leaf_name(table: str, month: dt.date, tenant_id: int | None) -> str:
    """A month's leaf for one tenant, or (``None``) its default leaf."""
    return f"{partition_name(table, month)}_t{DEFAULT_LEAF if tenant_id is None else int(tenant_id)}"


def leaf_tenant(month_partition: str, name: str) -> int | None:
    """The tenant a leaf of ``month_partition`` is for; None for its default leaf (or another name)."""
    suffix = name[len(month_partition) + 2 :] if name.startswith(f"{month_partition}_t") else ""
    return int(suffix) if suffix.isdigit() else None


def month_partition_sql(
    table: str,
    column: str,
    month: dt.date,
    *,
    tenant_ids: Iterable[int] = (),
    per_partition_unique: Sequence[Sequence[str]] = (),
) -> list[str]:
    """Create ``month``'s partition, split by tenant (a leaf per id in ``tenant_ids`` and the default leaf),
    moving into it the rows of that month the default partition holds.

    Built detached and attached after the move (the default may not hold rows of an attached month);
    ATTACH creates the parent's indexes on every leaf. Run in one transaction: the default is locked meanwhile.
    """
    name, default = partition_name(table, month), f"{table}{DEFAULT_SUFFIX}"
    lo, hi = _bound(month), _bound(month_add(month, 1))
    leaves = [(leaf_name(table, month, None), "DEFAULT")]
    leaves += [(leaf_name(table, month, t), f"FOR VALUES IN ({int(t)})") for t in sorted(set(tenant_ids))]
    return [
        f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
        "PARTITION BY LIST (tenant_id)",
        *(f'CREATE TABLE "{leaf}" PARTITION OF "{name}" {bound}' for leaf, bound in leaves),
        f'WITH moved AS (DELETE FROM "{default}" WHERE "{column}" >= {lo} AND "{column}" < {hi} RETURNING *) '
        f'INSERT INTO "{name}" SELECT * FROM moved',
        f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})',
        *(statement for leaf, _ in leaves for statement in unique_sql(leaf, per_partition_unique)),
    ]


def tenant_leaf_sql(
    table: str, month: dt.date, tenant_id: int, *, per_partition_unique: Sequence[Sequence[str]] = ()
) -> list[str]:
    """Give ``tenant_id`` a leaf of its own in ``month``'s partition, moving its rows out of the default leaf.

    Built detached and attached after the move (the default leaf may not hold rows of an attached tenant).
    """
    parent, leaf, default = (
        partition_name(table, month),
        leaf_name(table, month, tenant_id),
        leaf_name(table, month, None),
    )
    tenant = int(tenant_id)
    return [
        f'CREATE TABLE "{leaf}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
        f'WITH moved AS (DELETE FROM "{default}" WHERE tenant_id = {tenant} RETURNING *) '
        f'INSERT INTO "{leaf}" SELECT * FROM moved',
        f'ALTER TABLE "{parent}" ATTACH PARTITION "{leaf}" FOR VALUES IN ({tenant})',
        *unique_sql(leaf, per_partition_unique),
    ]


def month_partitions(cursor, table: str) -> list[dt.date]:
    """The months ``table`` has a partition for (a migration's view: from the catalogue, not the models)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [table],
    )
    return sorted(m for (name,) in cursor.fetchall() if (m := partition_month(table, name)) is not None)


def split_months_by_tenant_sql(
    *, table: str, column: str, months: Iterable[dt.date], keys: Sequence[tuple[str, str, Sequence[str]]]
) -> list[str]:
    """Turn the plain month partitions ``months`` of ``table`` into months split by tenant, their rows kept.

    ``keys`` (name, kind, columns) are the unique constraints to make again with ``tenant_id`` added, as
    the split requires. Each month's table becomes, unchanged and uncopied, the default leaf of a new
    month partition. For a migration (one transaction).
    """
    sql = [f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE']
    for name, kind, columns in keys:
        sql += [
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {kind} ({", ".join([*columns, "tenant_id"])})',
        ]
    for month in sorted(set(months)):
        name, default_leaf = partition_name(table, month), leaf_name(table, month, None)
        lo, hi = _bound(month), _bound(month_add(month, 1))
        sql += [
            f'ALTER TABLE "{table}" DETACH PARTITION "{name}"',
            f'ALTER TABLE "{name}" RENAME TO "{default_leaf}"',
            f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
            "PARTITION BY LIST (tenant_id)",
            f'ALTER TABLE "{name}" ATTACH PARTITION "{default_leaf}" DEFAULT',
            f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})',
        ]
    return sql


def partition_table_sql(
    *,
    table: str,
    column: str,
    months: Iterable[dt.date],
    indexes: Sequence[str],
    per_partition_unique: Sequence[Sequence[str]] = (),
) -> list[str]:
    """Turn the plain table ``table`` into one partitioned by month on ``column``, its rows kept.

    A new partitioned table is made beside it with a partition per month in ``months`` and the default,
    the rows copied in (before the indexes: one sort per index beats an index insert per row), the old
    table dropped (nothing may reference it: a foreign key into a partitioned table would need the time
    too) and the new one renamed in its place; then ``indexes`` (statements on ``table``: the primary key,
    indexes, foreign keys) and the id sequence set past the highest id. For a migration (one transaction).
    """
    new = f"{table}__partitioned"
    sql = [
        f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE',
        f'CREATE TABLE "{new}" (LIKE "{table}" INCLUDING DEFAULTS) PARTITION BY RANGE ("{column}")',
        f'ALTER TABLE "{new}" ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY',
    ]
    for month in sorted(set(months)):
        lo, hi = _bound(month), _bound(month_add(month, 1))
        part = partition_name(table, month)
        sql.append(f'CREATE TABLE "{part}" PARTITION OF "{new}" FOR VALUES FROM ({lo}) TO ({hi})')
    sql += [
        f'CREATE TABLE "{table}{DEFAULT_SUFFIX}" PARTITION OF "{new}" DEFAULT',
        f'INSERT INTO "{new}" SELECT * FROM "{table}"',
        f'DROP TABLE "{table}"',
        f'ALTER TABLE "{new}" RENAME TO "{table}"',
        *indexes,
    ]
    for month in sorted(set(months)):
        sql += unique_sql(partition_name(table, month), per_partition_unique)
    sql += unique_sql(f"{table}{DEFAULT_SUFFIX}", per_partition_unique)
    sql.append(
        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
        f'COALESCE((SELECT max(id) FROM "{table}"), 0) + 1, false)'
    )
    return sql


def months_to_create(first: dt.date | None, now: dt.datetime, *, ahead: int, oldest: int = 24) -> list[dt.date]:
    """The months a table being partitioned gets: from its oldest row's (at most ``oldest`` months back; older rows
    go to the default partition) to ``ahead`` months after ``now``'s."""
    current = month_start(now)
    start = max(month_start(first) if first else current, month_add(current, -oldest))
    start = min(start, current)
    months, month = [], start
    while month <= month_add(current, ahead):
        months.append(month)
        month = month_add(month, 1)
    return months
