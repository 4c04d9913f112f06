"""Each month of the clicks split by tenant (``common.partitions``), so that a tenant with a retention of its
own (``Tenant.event_retention_months``) can have its months dropped whole.

The primary key becomes ``(id, clicked_at, tenant_id)`` and the writer's deduplication
``(event_id, clicked_at, tenant_id)`` in the database (an event's tenant comes with it, as its time does:
a replayed event is still written once); every month's table becomes, as it is (no copy), the default leaf of
its month. Irreversible (the rows are kept, the old layout not).
"""

from django.db import migrations

from common.partitions import month_partitions, split_months_by_tenant_sql

TABLE, COLUMN = "links_click", "clicked_at"


def split(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        months = month_partitions(cursor, TABLE)
    keys = [(f"{TABLE}_pkey", "PRIMARY KEY", ("id", COLUMN)), (f"{TABLE}_event_id_key", "UNIQUE", ("event_id", COLUMN))]
    for statement in split_months_by_tenant_sql(table=TABLE, column=COLUMN, months=months, keys=keys):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("links", "0004_click_partitioned")]

    operations = [migrations.RunPython(split, elidable=False)]
