"""Reads for contacts."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, F, Func, QuerySet

from .audience import apply_audience
from .models import Contact


def contacts_for_audience(
    *, tenant_id: int, audience: dict | None, consent_statuses: Iterable[str] | None = None
) -> QuerySet[Contact]:
    """The contacts a campaign's ``audience`` selects, by id. Empty audience = every contact.

    ``consent_statuses``: only contacts whose consent is one of these (a campaign passes what its purpose
    allows, ``compliance.selectors.consent_statuses_allowed``); ``None``: any.

    ``{"tags": ["vip", "nyc"]}`` selects contacts with any of those tags; ``rules``
    narrow it (all must hold) and ``exclude_tags`` take contacts out: see
    ``contacts.audience``. Built from subqueries (no joins, no DISTINCT), so it
    streams well through a server-side cursor.
    """
    qs = Contact.objects.filter(tenant_id=tenant_id)
    if consent_statuses is not None:
        qs = qs.filter(consent_status__in=list(consent_statuses))
    qs = apply_audience(qs, tenant_id=tenant_id, audience=audience or {})
    return qs.order_by("id")


def contacts_search(*, tenant_id: int, tag: list[str] | None = None, search: str = "") -> QuerySet[Contact]:
    """The API's and admin's contact list: any of ``tag``, and ``search`` over number, names and email."""
    from django.db.models import Q

    qs = Contact.objects.filter(tenant_id=tenant_id)
    if tag:
        qs = apply_audience(qs, tenant_id=tenant_id, audience={"tags": tag})
    search = (search or "").strip()
    if search:
        qs = qs.filter(
            Q(phone_number__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search)
        )
    return qs


#: Custom field names read for the merge-field check; a tenant with more is odd, and the list is said in errors.
MAX_CUSTOM_FIELD_NAMES = 500


def custom_field_names(*, tenant_id: int) -> list[str]:
    """The custom field names the tenant's contacts carry (imported columns become custom fields), sorted.

    One query over the tenant's contacts (the keys of their JSON): run when a body is checked, never per recipient.
    """
    keys = Func(F("custom_fields"), function="jsonb_object_keys", output_field=CharField())
    names = (
        Contact.objects.filter(tenant_id=tenant_id)
        .exclude(custom_fields={})
        .annotate(key=keys)
        .order_by("key")
        .values_list("key", flat=True)
        .distinct()
    )
    return list(names[:MAX_CUSTOM_FIELD_NAMES])
