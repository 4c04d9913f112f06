"""Reads for integrations: conversion attribution.

A conversion counts for a campaign when it happened within
``CONVERSION_ATTRIBUTION_WINDOW_DAYS`` after the recipient's first human click
on their link of that campaign.

Clicks live in the links app. The only place that reads them is
``_first_click_at`` (``links.models.Click``: ``link``, ``clicked_at``, ``is_bot``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db.models import Min, Q

from links.models import Click, ShortLink

from .models import Conversion


def _first_click_at(*, link_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """``{link_id: time of its first human click}`` for the links that were clicked."""
    link_ids = list(link_ids)
    if not link_ids:
        return {}
    rows = (
        Click.objects.filter(link_id__in=link_ids, is_bot=False)
        .values("link_id")
        .annotate(first=Min("clicked_at"))
        .values_list("link_id", "first")
    )
    return dict(rows)


def attribution_window() -> dt.timedelta:
    return dt.timedelta(days=int(settings.CONVERSION_ATTRIBUTION_WINDOW_DAYS))


def campaign_conversions(campaign_id: int) -> dict:
    """``{"conversions": n, "revenue": Decimal}`` attributed to the campaign.

    A conversion reported with a link code, or for a contact, counts once when
    its time falls within the window after that recipient's first click on
    their link of this campaign. Revenue adds values as reported (a tenant is
    expected to report in one currency).
    """
    links = list(
        ShortLink.objects.filter(campaign_id=campaign_id).values_list("pk", "tenant_id", "message__contact_id")
    )
    if not links:
        return {"conversions": 0, "revenue": Decimal("0")}
    tenant_id = links[0][1]
    first_clicks = _first_click_at(link_ids=[pk for pk, _t, _c in links])
    if not first_clicks:
        return {"conversions": 0, "revenue": Decimal("0")}
    by_link = first_clicks
    by_contact = {contact_id: first_clicks[pk] for pk, _t, contact_id in links if contact_id and pk in first_clicks}
    window = attribution_window()
    earliest = min(first_clicks.values())
    candidates = Conversion.objects.filter(
        Q(link_id__in=list(by_link)) | Q(contact_id__in=list(by_contact)),
        tenant_id=tenant_id,
        created_at__gte=earliest,
        created_at__lte=max(first_clicks.values()) + window,
    ).values_list("link_id", "contact_id", "created_at", "value")
    count = 0
    revenue = Decimal("0")
    for link_id, contact_id, created_at, value in candidates:
        clicked = by_link.get(link_id) or by_contact.get(contact_id)
        if clicked is not None and clicked <= created_at <= clicked + window:
            count += 1
            revenue += value
    return {"conversions": count, "revenue": revenue}
