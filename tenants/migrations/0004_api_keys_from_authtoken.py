"""DRF authtoken tokens become API keys with the same secret, then the plaintext tokens are deleted.

A token is 40 hex digits with no dot: its key keeps the token's first 8 characters as prefix and a SHA-512 of the
whole token as hash, which ``ApiKeyManager.match`` finds (a dotless key is looked up by its first 8 characters),
so every integration keeps working with the token it has. The token's user keeps it (scope ``full``, named
"API token", created when the token was). A token of a user without a tenant (a superuser) is dropped: the API
refused such a user everywhere.

``rest_framework.authtoken`` is no longer installed, so its table is read with SQL, and only where it exists
(a database made before API keys); its rows are deleted so no plaintext secret stays behind. The table itself
stays (empty), as does Django's record of its migrations: putting the app back would find them consistent.
"""

from __future__ import annotations

from django.db import migrations
from rest_framework_api_key.crypto import KeyGenerator

TOKEN_TABLE = "authtoken_token"
LEGACY_PREFIX_LENGTH = 8


def tokens_to_api_keys(apps, schema_editor) -> int:
    """Returns how many keys it made (the tests call it on a table they make)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if TOKEN_TABLE not in connection.introspection.table_names(cursor):
            return 0
        cursor.execute(
            f"SELECT t.key, t.user_id, t.created, u.tenant_id FROM {TOKEN_TABLE} t "  # noqa: S608 - a constant
            "JOIN tenants_user u ON u.id = t.user_id ORDER BY t.created"
        )
        rows = cursor.fetchall()
    ApiKey = apps.get_model("tenants", "ApiKey")
    hasher = KeyGenerator()
    made = 0
    for token, user_id, created, tenant_id in rows:
        if tenant_id is None:
            continue
        key = ApiKey.objects.create(
            tenant_id=tenant_id,
            user_id=user_id,
            created_by_id=user_id,
            name="API token",
            scope="full",
            prefix=token[:LEGACY_PREFIX_LENGTH],
            hashed_key=hasher.hash(token),
        )
        ApiKey.objects.filter(pk=key.pk).update(created=created)  # auto_now_add overrode it
        made += 1
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TOKEN_TABLE}")  # noqa: S608 - a constant
    return made


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_api_keys")]

    operations = [migrations.RunPython(tokens_to_api_keys, migrations.RunPython.noop)]
