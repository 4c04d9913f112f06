"""Writes to the suppression list."""

from __future__ import annotations

from tenants.models import Tenant

from .models import Suppression


def suppression_add(*, tenant: Tenant, phone_number: str, source: str, note: str = "") -> Suppression:
    """Suppress a number (idempotent: the first record, with its source, is kept)."""
    suppression, _ = Suppression.objects.get_or_create(
        tenant=tenant, phone_number=phone_number, defaults={"source": source, "note": note}
    )
    return suppression


def suppression_remove(*, tenant: Tenant, phone_number: str) -> int:
    """Lift a suppression (an opt-in). Returns how many rows went."""
    deleted, _ = Suppression.objects.filter(tenant=tenant, phone_number=phone_number).delete()
    return deleted
