"""``rotate_encryption_keys``: every stored secret re-encrypted with the first FIELD_ENCRYPTION_KEY.

One JSON line for the phone hash keys, one per encrypted field, then a summary
line. Exits non-zero when a value no configured key decrypts was found (listed by
model and primary key, left as it is) or a row kept changing under it. Never
prints a secret or a ciphertext. Steps around it: docs/operations.md.
"""

from __future__ import annotations

import argparse
import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from compliance.services import phone_hash_keys_pin
from tenants.keyrotation import encrypted_field_rotate, encrypted_fields


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key of FIELD_ENCRYPTION_KEY (and pin the phone hash "
        "keys), so that the other keys can be removed. Safe to run while the app runs, and to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; write nothing.")
        parser.add_argument("--batch-size", type=_positive, default=500, help="Rows per read and UPDATE (500).")

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        try:
            state, n_keys = phone_hash_keys_pin(dry_run=dry_run)
        except ImproperlyConfigured:  # pinned, but under no configured key: reported below with the other values
            state, n_keys = "unreadable", 0
        self._line({"phone_hash_keys": state, "keys": n_keys, "dry_run": dry_run})
        totals = {"fields": 0, "scanned": 0, "reencrypted": 0, "current": 0, "unreadable": 0, "changing": 0}
        for field in encrypted_fields():
            report = encrypted_field_rotate(field=field, batch_size=batch_size, dry_run=dry_run)
            self._line({**report.as_dict(), "dry_run": dry_run})
            totals["fields"] += 1
            for key in ("scanned", "reencrypted", "current", "unreadable", "changing"):
                totals[key] += getattr(report, key)
        self._line({"summary": totals, "dry_run": dry_run})
        if totals["unreadable"]:
            raise CommandError(
                f"{totals['unreadable']} encrypted value(s) could not be decrypted with any configured key; "
                "they were left as they are (model and pk above). Keep the key they were written with."
            )
        if totals["changing"]:
            raise CommandError(f"{totals['changing']} value(s) kept changing during the run; run it again.")

    def _line(self, data: dict) -> None:
        self.stdout.write(json.dumps(data, default=str))
