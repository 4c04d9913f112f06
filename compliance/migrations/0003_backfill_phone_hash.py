"""Give suppressions made before hashing existed their keyed hash."""

from django.db import migrations


def backfill(apps, schema_editor):
    # Not phone_hash: it reads the pinned keys, whose table (0006) does not exist yet. None are pinned
    # before it, so this is the same hash.
    from compliance.hashing import phone_hash_unpinned as phone_hash

    Suppression = apps.get_model("compliance", "Suppression")
    for s in Suppression.objects.filter(phone_hash="").exclude(phone_number="").iterator():
        s.phone_hash = phone_hash(tenant_id=s.tenant_id, phone_number=s.phone_number)
        s.save(update_fields=["phone_hash"])


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_inbound_consent_audit")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
