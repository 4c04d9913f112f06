"""Clicks partitioned by month on ``clicked_at`` (docs/architecture.md, "Partitioned tables").

The primary key becomes ``(id, clicked_at)`` and the writer's deduplication ``(event_id, clicked_at)``
in the database (Django keeps ``id`` as the pk): an event's time comes with the event, so a batch
written twice lands in the same partition and is still written once. Nothing references this table.
Irreversible (the rows are kept, the old layout not).
"""

from django.db import migrations, models
from django.utils import timezone

from common.partitions import months_to_create, partition_table_sql

TABLE, COLUMN = "links_click", "clicked_at"
INDEXES = [
    f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY (id, clicked_at)',
    f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_event_id_key" UNIQUE (event_id, clicked_at)',
    f'CREATE INDEX "click_tenant_time" ON "{TABLE}" (tenant_id, clicked_at)',
    f'CREATE INDEX "click_campaign_time" ON "{TABLE}" (campaign_id, clicked_at)',
    f'CREATE INDEX "click_link_time" ON "{TABLE}" (link_id, clicked_at)',
    f'CREATE INDEX "links_click_contact_id_656e618a" ON "{TABLE}" (contact_id)',
    f'CREATE INDEX "links_click_message_id_cf19117f" ON "{TABLE}" (message_id)',
    *(
        f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) REFERENCES "{target}" (id) '
        "DEFERRABLE INITIALLY DEFERRED"
        for name, column, target in (
            ("links_click_campaign_id_083f4c8a_fk_campaigns_campaign_id", "campaign_id", "campaigns_campaign"),
            ("links_click_contact_id_656e618a_fk_contacts_contact_id", "contact_id", "contacts_contact"),
            ("links_click_link_id_873d3412_fk_links_shortlink_id", "link_id", "links_shortlink"),
            ("links_click_message_id_cf19117f_fk_campaigns_message_id", "message_id", "campaigns_message"),
            ("links_click_tenant_id_900e0b2e_fk_tenants_tenant_id", "tenant_id", "tenants_tenant"),
        )
    ),
]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT min("{COLUMN}") FROM "{TABLE}"')  # noqa: S608 - constant names
        (first,) = cursor.fetchone()
    for statement in partition_table_sql(
        table=TABLE, column=COLUMN, months=months_to_create(first, timezone.now(), ahead=3), indexes=INDEXES
    ):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("links", "0003_link_domains_expiry")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="click",
                    name="event_id",
                    field=models.UUIDField(help_text="Unique with clicked_at (the table is partitioned on it)"),
                )
            ],
        )
    ]
