"""Reads: a segment's contacts and its live count, and the filter a campaign's audience uses for it."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from contacts.models import Contact

from .conditions import definition_q
from .models import Segment


def segments_for(*, tenant_id: int) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant_id=tenant_id)


def segment_get(*, tenant_id: int, segment_id) -> Segment | None:
    """The tenant's segment of that id, or ``None`` (another tenant's, or no such id)."""
    if not isinstance(segment_id, int) or isinstance(segment_id, bool):
        return None
    return Segment.objects.filter(tenant_id=tenant_id, pk=segment_id).first()


def segment_filter(*, tenant_id: int, segment_id: int, now: dt.datetime | None = None) -> Q:
    """The ``Q`` on ``Contact`` for the tenant's segment ``segment_id``, read now (one query).

    A segment that is gone (deleted, or another tenant's) selects nobody: an audience never widens to everyone.
    """
    definition = Segment.objects.filter(tenant_id=tenant_id, pk=segment_id).values_list("definition", flat=True).first()
    if not definition:
        return Q(pk__in=[])
    return definition_q(tenant_id=tenant_id, definition=definition, now=now)


def definition_contacts(*, tenant_id: int, definition: dict, now: dt.datetime | None = None) -> QuerySet[Contact]:
    """The tenant's contacts a (validated) definition selects, in id order."""
    q = definition_q(tenant_id=tenant_id, definition=definition, now=now)
    return Contact.objects.filter(tenant_id=tenant_id).filter(q).order_by("id")


def segment_contacts(*, segment: Segment, now: dt.datetime | None = None) -> QuerySet[Contact]:
    return definition_contacts(tenant_id=segment.tenant_id, definition=segment.definition, now=now)


def definition_count(*, tenant_id: int, definition: dict) -> dict:
    """``{"count": n, "by_consent": {"granted": …, "unknown": …, "revoked": …}}`` in one grouped query."""
    rows = (
        definition_contacts(tenant_id=tenant_id, definition=definition)
        .order_by()
        .values("consent_status")
        .annotate(n=Count("id"))
    )
    by_consent = {"granted": 0, "unknown": 0, "revoked": 0}
    for row in rows:
        by_consent[row["consent_status"]] = row["n"]
    return {"count": sum(by_consent.values()), "by_consent": by_consent}


def segment_count(*, segment: Segment) -> dict:
    return definition_count(tenant_id=segment.tenant_id, definition=segment.definition)


def segment_campaigns_in_flight(*, segment: Segment) -> list[str]:
    """Names of the campaigns not yet sent or canceled whose audience is this segment."""
    from campaigns.models import Campaign, CampaignStatus

    return list(
        Campaign.objects.filter(tenant_id=segment.tenant_id, audience__segment=segment.pk)
        .exclude(status__in=[CampaignStatus.SENT, CampaignStatus.CANCELED])
        .values_list("name", flat=True)[:5]
    )
