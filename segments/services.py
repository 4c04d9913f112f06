"""Writes: segments are created, changed and deleted here, with their definition validated."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from tenants.models import Tenant

from .conditions import DefinitionError, definition_validate
from .models import Segment
from .selectors import segment_campaigns_in_flight


class SegmentError(ValueError):
    """Bad input: ``errors`` maps a field (``name``, ``definition``) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors


class SegmentInUse(Exception):
    pass


def _checked(*, tenant_id: int, name: str, definition, exclude_pk: int | None = None) -> tuple[str, dict]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["A segment needs a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    elif Segment.objects.filter(tenant_id=tenant_id, name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = [f"You have a segment named {name!r} already."]
    try:
        definition = definition_validate(definition)
    except DefinitionError as exc:
        errors["definition"] = [str(exc)]
    if errors:
        raise SegmentError(errors)
    return name, definition


def segment_create(*, tenant: Tenant, name: str, definition, description: str = "", user=None) -> Segment:
    name, definition = _checked(tenant_id=tenant.pk, name=name, definition=definition)
    try:
        with transaction.atomic():
            return Segment.objects.create(
                tenant=tenant, name=name, definition=definition, description=(description or "")[:500], created_by=user
            )
    except IntegrityError:  # the same name saved at the same moment
        raise SegmentError({"name": [f"You have a segment named {name!r} already."]}) from None


def segment_update(*, segment: Segment, name: str | None = None, definition=None, description: str | None = None):
    name, definition = _checked(
        tenant_id=segment.tenant_id,
        name=segment.name if name is None else name,
        definition=segment.definition if definition is None else definition,
        exclude_pk=segment.pk,
    )
    segment.name, segment.definition = name, definition
    if description is not None:
        segment.description = description[:500]
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise SegmentError({"name": [f"You have a segment named {name!r} already."]}) from None
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Refused while a campaign that is not sent or canceled uses it (its audience would become nobody)."""
    using = segment_campaigns_in_flight(segment=segment)
    if using:
        raise SegmentInUse(f"Used by campaigns not yet sent: {', '.join(using)}. Change their audience first.")
    segment.delete()
