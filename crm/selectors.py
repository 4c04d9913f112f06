"""Reads for crm: connections by token, an order's attribution, REST hooks' polling."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from contacts.models import Contact
from contacts.phone import InvalidPhoneNumber, phone_normalize
from integrations.models import Event
from integrations.selectors import attribution_window
from links.capture import utm_campaign_value
from links.models import ShortLink
from tenants.models import Tenant

from .models import CrmConnection
from .shopify import Order

#: Links of one contact looked at for an order (their most recently clicked first).
CANDIDATE_LINKS = 20


def connection_for_token(*, token: str, kind: str) -> CrmConnection | None:
    """The active connection of ``kind`` whose URL carries ``token`` (another kind's token: none)."""
    if not token or len(token) > 64:
        return None
    return CrmConnection.objects.select_related("tenant").filter(token=token, kind=kind, active=True).first()


def phones_normalize(*, tenant: Tenant, phones: list[str]) -> list[str]:
    numbers = []
    for phone in phones:
        try:
            numbers.append(phone_normalize(phone, default_country=tenant.default_country))
        except InvalidPhoneNumber:
            continue
    return list(dict.fromkeys(numbers))


def order_contact(*, tenant: Tenant, order: Order) -> Contact | None:
    """The buyer among the tenant's contacts: by a number on the order, else by their Shopify customer id."""
    numbers = phones_normalize(tenant=tenant, phones=order.phones)
    if numbers:
        by_phone = {c.phone_number: c for c in Contact.objects.filter(tenant=tenant, phone_number__in=numbers)}
        for number in numbers:
            if number in by_phone:
                return by_phone[number]
    if order.customer_id:
        return Contact.objects.filter(
            tenant=tenant, external_ids__source="shopify", external_ids__external_id=order.customer_id
        ).first()
    return None


def order_link(
    *, tenant: Tenant, order: Order, contact: Contact | None, at: dt.datetime
) -> tuple[ShortLink | None, str]:
    """The short link that brought the order, and how it was found:

    1. ``code``: the short-link code the order carries (note attribute or landing URL), the tenant's own;
    2. ``utm``: the buyer's link clicked within the attribution window before the order whose campaign's
       ``utm_campaign`` is the landing URL's (``utm_source=sms``);
    3. ``last_click``: else the buyer's most recently clicked link within the window.

    A journey's message is a message of its step's carrier campaign, so its link names that campaign."""
    if order.code:
        link = ShortLink.objects.filter(tenant=tenant, code=order.code).select_related("message__contact").first()
        if link is not None:
            return link, "code"
    if contact is None:
        return None, ""
    window = attribution_window()
    candidates = list(
        ShortLink.objects.filter(
            tenant=tenant,
            message__contact_id=contact.pk,
            first_clicked_at__lte=at,
            last_clicked_at__gte=at - window,
        )
        .select_related("campaign")
        .order_by("-last_clicked_at", "-id")[:CANDIDATE_LINKS]
    )
    if not candidates:
        return None, ""
    if order.utm_campaign and order.utm_source == "sms":
        for link in candidates:
            if (
                link.campaign is not None
                and utm_campaign_value(link.campaign_id, link.campaign.name) == order.utm_campaign
            ):
                return link, "utm"
    return candidates[0], "last_click"


def events_poll(*, tenant_id: int, type: str, since: dt.datetime | None, limit: int) -> QuerySet[Event]:
    """The tenant's recorded events of ``type``, newest first (after ``since`` when given)."""
    qs = Event.objects.filter(tenant_id=tenant_id, type=type)
    if since is not None:
        qs = qs.filter(created_at__gt=since)
    return qs.order_by("-created_at", "-id")[:limit]
