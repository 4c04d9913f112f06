"""Re-encrypting every stored secret with the first ``FIELD_ENCRYPTION_KEY`` (``rotate_encryption_keys``).

Until every value is under the first key, an older key cannot be removed. The
fields are found, not listed: every stored ``EncryptedTextField`` of every
installed model, so a new encrypted field is rotated without a change here.

Values are read and written as stored, by raw SQL (through the ORM the field
would decrypt on read and encrypt afresh on write). A batch at a time, in
primary key order:

- read a batch of ciphertexts, without a lock;
- re-encrypt those not under the first key (``crypto.reencrypt``);
- write them in ONE conditional UPDATE (its own transaction) that changes a row
  only while it still holds the ciphertext read: the app may change a secret
  meanwhile, and its write wins. Such rows are read again and retried.

Safe while the app runs, and idempotent: a value already under the first key is
never rewritten, so a re-run (or the rest of an interrupted run) writes only what
is left. A value no configured key decrypts is counted and its primary key
reported, never touched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models

from .crypto import EncryptedTextField, Undecryptable, reencrypt

#: A row whose conditional write lost to a concurrent change is read again this many times.
RETRIES = 3
#: How many unreadable primary keys one field's report lists (its count is always exact).
UNREADABLE_LISTED = 100


@dataclass
class FieldRotation:
    """What one field's pass did. Every row scanned ends in one of the counts (or was
    deleted or emptied during the run)."""

    model: str
    field: str
    scanned: int = 0
    reencrypted: int = 0  # with ``dry_run``: would be
    current: int = 0
    unreadable: int = 0
    unreadable_pks: list[Any] = field(default_factory=list)
    changing: int = 0  # still changed by someone else after every retry: run again

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def encrypted_fields() -> list[models.Field]:
    """Every stored ``EncryptedTextField`` of every installed model, by model label and field name."""
    found = [
        f
        for model in apps.get_models()
        if not model._meta.proxy
        for f in model._meta.local_concrete_fields
        if isinstance(f, EncryptedTextField)
    ]
    return sorted(found, key=lambda f: (f.model._meta.label, f.name))


def encrypted_field_rotate(*, field: models.Field, batch_size: int = 500, dry_run: bool = False) -> FieldRotation:
    """Re-encrypt one field's stored values with the first key (``dry_run``: only count them)."""
    report = FieldRotation(model=field.model._meta.label, field=field.name)
    after = None
    while True:
        rows = _read(field, after=after, size=batch_size)
        if not rows:
            return report
        after = rows[-1][0]
        report.scanned += len(rows)
        todo = dict(rows)
        for _ in range(1 + RETRIES):
            changes = _changes(todo, report)
            if dry_run or not changes:
                report.reencrypted += len(changes)
                todo = {}
                break
            written = _write(field, changes)
            report.reencrypted += len(written)
            todo = _reread(field, [pk for pk in changes if pk not in written])
            if not todo:
                break
        report.changing += len(todo)


def _changes(values: dict[Any, str], report: FieldRotation) -> dict[Any, tuple[str, str]]:
    """``{pk: (stored, re-encrypted)}`` of the values not under the first key; counts the others."""
    changes = {}
    for pk, value in values.items():
        try:
            new = reencrypt(value)
        except Undecryptable:
            report.unreadable += 1
            if len(report.unreadable_pks) < UNREADABLE_LISTED:
                report.unreadable_pks.append(pk)
            continue
        if new is None:
            report.current += 1
        else:
            changes[pk] = (value, new)
    return changes


def _names(field: models.Field) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return quote(field.model._meta.db_table), quote(field.model._meta.pk.column), quote(field.column)


def _read(field: models.Field, *, after: Any, size: int) -> list[tuple[Any, str]]:
    table, pk, column = _names(field)
    where, params = f"{column} IS NOT NULL AND {column} <> ''", []
    if after is not None:
        where += f" AND {pk} > %s"
        params.append(after)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {column} FROM {table} WHERE {where} ORDER BY {pk} LIMIT %s",  # noqa: S608 - names from model meta
            [*params, size],
        )
        return cursor.fetchall()


def _reread(field: models.Field, pks: list[Any]) -> dict[Any, str]:
    """The stored values of ``pks`` now (rows deleted or emptied meanwhile drop out)."""
    if not pks:
        return {}
    table, pk, column = _names(field)
    pk_type = field.model._meta.pk.rel_db_type(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {column} FROM {table} WHERE {pk} = ANY(%s::{pk_type}[]) "  # noqa: S608 - names from model meta
            f"AND {column} IS NOT NULL AND {column} <> ''",
            [pks],
        )
        return dict(cursor.fetchall())


def _write(field: models.Field, changes: dict[Any, tuple[str, str]]) -> set[Any]:
    """One conditional UPDATE: each row takes its new value only if it still holds the old one. The pks written."""
    table, pk, column = _names(field)
    pk_type = field.model._meta.pk.rel_db_type(connection)
    pks = list(changes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {column} = v.new "  # noqa: S608 - names from model meta
            f"FROM unnest(%s::{pk_type}[], %s::text[], %s::text[]) AS v(pk, old, new) "
            f"WHERE t.{pk} = v.pk AND t.{column} = v.old RETURNING t.{pk}",
            [pks, [changes[p][0] for p in pks], [changes[p][1] for p in pks]],
        )
        return {row[0] for row in cursor.fetchall()}
