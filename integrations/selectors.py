"""Reads for integrations: conversion attribution.

A conversion counts for a campaign when it happened within
``CONVERSION_ATTRIBUTION_WINDOW_DAYS`` after the recipient's first human click
on their link of that campaign.

Clicks live in the links app. The only place that reads them is
``_first_click_at`` (``links.models.ShortLink.first_clicked_at``, the first human
click, kept by the click writer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db.models import OuterRef, Subquery

from links.models import ShortLink

from .models import Conversion


def _first_click_at(*, link_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """``{link_id: time of its first human click}`` for the links that were clicked.

    Read from the link's maintained ``first_clicked_at`` (``links.services.clicks_record`` keeps it), by
    primary key: no aggregate over the clicks table.
    """
    link_ids = list(link_ids)
    if not link_ids:
        return {}
    rows = ShortLink.objects.filter(pk__in=link_ids, first_clicked_at__isnull=False).values_list(
        "pk", "first_clicked_at"
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

    Starts from the tenant's conversions since the campaign was created (few),
    not from the campaign's links (a million): each is matched to its link of
    this campaign (its own link, else its contact's, by index), and only those
    links' first clicks are read. The stats endpoint calls this on every view.
    """
    from campaigns.models import Campaign

    campaign = Campaign.objects.filter(pk=campaign_id).values("tenant_id", "created_at").first()
    if campaign is None:
        return {"conversions": 0, "revenue": Decimal("0")}
    # Correlated lookups by index (a conversion's own link by primary key, its contact's message of this campaign
    # by (campaign, contact)): a join would make PostgreSQL hash the campaign's million links.
    own_link = ShortLink.objects.filter(pk=OuterRef("link_id"), campaign_id=campaign_id).values("pk")[:1]
    contact_link = ShortLink.objects.filter(
        message__campaign_id=campaign_id, message__contact_id=OuterRef("contact_id")
    ).values("pk")[:1]
    candidates = list(
        Conversion.objects.filter(tenant_id=campaign["tenant_id"], created_at__gte=campaign["created_at"])
        .annotate(own_link=Subquery(own_link), contact_link=Subquery(contact_link))
        .order_by()
        .values_list("own_link", "contact_link", "created_at", "value")
    )
    # (Filtered here, not in SQL: a WHERE on the two lookups would run each of them twice per order.)
    candidates = [row for row in candidates if row[0] is not None or row[1] is not None]
    if not candidates:
        return {"conversions": 0, "revenue": Decimal("0")}
    first_clicks = _first_click_at(link_ids={pk for row in candidates for pk in row[:2] if pk is not None})
    window = attribution_window()
    count = 0
    revenue = Decimal("0")
    for own, via_contact, created_at, value in candidates:
        clicked = first_clicks.get(own) or first_clicks.get(via_contact)
        if clicked is not None and clicked <= created_at <= clicked + window:
            count += 1
            revenue += value
    return {"conversions": count, "revenue": revenue}
