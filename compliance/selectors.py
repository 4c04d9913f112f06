"""Reads of the suppression list. The sender asks at fan-out and again at claim."""

from __future__ import annotations

from collections.abc import Iterable

from .models import Suppression


def is_suppressed(*, tenant_id: int, phone_number: str) -> bool:
    return Suppression.objects.filter(tenant_id=tenant_id, phone_number=phone_number).exists()


def suppressed_among(*, tenant_id: int, phone_numbers: Iterable[str]) -> set[str]:
    """The numbers of ``phone_numbers`` on the tenant's suppression list."""
    numbers = list(phone_numbers)
    if not numbers:
        return set()
    return set(
        Suppression.objects.filter(tenant_id=tenant_id, phone_number__in=numbers).values_list("phone_number", flat=True)
    )
