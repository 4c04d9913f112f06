"""Read replicas: which reads may go to one, and how far behind it is.

``DATABASE_REPLICA_URL`` (optional) adds the ``replica`` alias. Nothing reads from it unless it asks:
the dashboards, the exports and the analytics wrap their reads in ``replica_reads()`` or name
``replica()`` in ``.using(…)``. Every other read, every write, and any read inside a transaction on
the primary (it may need to see its own writes) stays on ``default``. Without the alias both helpers
mean ``default``, so the same code runs on one database.

A replica is behind by its replication lag: ``replica_lag_seconds()`` says by how much, and the
dashboard shows it. Reads that decide something (a claim, a cap, a send) never use it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)


def replica() -> str:
    """The alias for reads that may be a little stale: ``replica`` when configured, else ``default``."""
    return REPLICA if REPLICA in connections.settings else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads() -> Iterator[str]:
    """Within the block, the ORM's reads go to the replica (when configured); writes never do."""
    token = _replica_reads.set(True)
    try:
        yield replica()
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """``DATABASE_ROUTERS``: reads go to the replica only inside ``replica_reads()`` and outside a transaction
    on the primary; writes, migrations and everything else are the primary's."""

    def db_for_read(self, model, **hints) -> str | None:
        if not _replica_reads.get():
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None  # read-your-writes: a transaction reads what it wrote, on the primary
        return replica()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return True  # the replica holds the primary's rows: an object read there relates to one read here

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS  # a replica gets its schema by replication


#: How far the replica is behind: 0 when it has replayed everything it received (an idle primary makes
#: ``pg_last_xact_replay_timestamp()`` old without the replica being behind) or is not in recovery.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""


def replica_lag_seconds() -> float:
    """Seconds the replica's data is behind the primary's (``now() - pg_last_xact_replay_timestamp()`` on the
    replica), rounded to 0.1; 0 without a replica. A replica that cannot be reached raises, as any read would."""
    alias = replica()
    if alias == DEFAULT_DB_ALIAS:
        return 0.0
    with connections[alias].cursor() as cursor:
        cursor.execute(LAG_SQL)
        (lag,) = cursor.fetchone()
    return round(max(0.0, float(lag or 0)), 1)
