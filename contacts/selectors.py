"""Reads for contacts."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Contact


def contacts_for_audience(*, tenant_id: int, audience: dict | None) -> QuerySet[Contact]:
    """The contacts a campaign's ``audience`` selects. Empty audience = every contact.

    ``{"tags": ["vip", "nyc"]}`` selects contacts with any of those tags.
    """
    qs = Contact.objects.filter(tenant_id=tenant_id)
    audience = audience or {}
    tags = audience.get("tags") or []
    if tags:
        qs = qs.filter(tags__name__in=tags).distinct()
    return qs.order_by("id")
