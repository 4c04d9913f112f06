"""The status callback history partitioned by month on ``received_at`` (docs/architecture.md, "Partitioned tables").

The primary key becomes ``(id, received_at)`` in the database (Django keeps ``id`` as the pk); the
deduplication ``(tenant_id, sid, status)`` becomes a unique index per partition (it cannot include the
time), so a callback repeated across a month's boundary is kept twice: harmless, the message only
moves forward. Nothing references this table. Irreversible (the rows are kept, the old layout not).
"""

from django.db import migrations
from django.utils import timezone

from common.partitions import months_to_create, partition_table_sql

TABLE, COLUMN = "tracking_statusevent", "received_at"
DEDUP = [("tenant_id", "sid", "status")]
INDEXES = [
    f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY (id, received_at)',
    f'CREATE INDEX "statusevent_orphans" ON "{TABLE}" (tenant_id, sid) WHERE message_id IS NULL',
]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT min("{COLUMN}") FROM "{TABLE}"')  # noqa: S608 - constant names
        (first,) = cursor.fetchone()
    months = months_to_create(first, timezone.now(), ahead=3)
    for statement in partition_table_sql(
        table=TABLE, column=COLUMN, months=months, indexes=INDEXES, per_partition_unique=DEDUP
    ):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, elidable=False)],
            state_operations=[
                migrations.RemoveConstraint(model_name="statusevent", name="statusevent_unique_tenant_sid_status")
            ],
        )
    ]
