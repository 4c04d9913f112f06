"""Each month of the status callback history split by tenant (``common.partitions``), so that a tenant with a
retention of its own (``Tenant.event_retention_months``) can have its months dropped whole.

The primary key becomes ``(id, received_at, tenant_id)`` in the database; every month's table becomes, as it
is (no copy), the default leaf of its month. Irreversible (the rows are kept, the old layout not).
"""

from django.db import migrations

from common.partitions import month_partitions, split_months_by_tenant_sql

TABLE, COLUMN = "tracking_statusevent", "received_at"


def split(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        months = month_partitions(cursor, TABLE)
    keys = [(f"{TABLE}_pkey", "PRIMARY KEY", ("id", COLUMN))]
    for statement in split_months_by_tenant_sql(table=TABLE, column=COLUMN, months=months, keys=keys):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0002_statusevent_partitioned")]

    operations = [migrations.RunPython(split, elidable=False)]
