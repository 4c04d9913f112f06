"""Conversions count for a campaign within the attribution window after the recipient's click.

The window logic is tested with click times given by a stand-in for
``_first_click_at`` (test-only data); the last test reads the real first clicks,
as the click writer keeps them on each link.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, MessageFactory
from integrations import selectors
from links.tests.factories import ShortLinkFactory

from .factories import ConversionFactory


@pytest.fixture
def campaign_with_links(tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    # Made before the clicks and orders below (attribution only looks at orders after the campaign existed).
    type(campaign).objects.filter(pk=campaign.pk).update(created_at=timezone.now() - dt.timedelta(days=60))
    links = []
    for _ in range(3):
        message = MessageFactory(tenant=tenant_a, campaign=campaign)
        links.append(ShortLinkFactory(tenant=tenant_a, campaign=campaign, message=message))
    return campaign, links


def at(clicked: dict[int, dt.datetime]):
    def first_click_at(*, link_ids):
        return {pk: t for pk, t in clicked.items() if pk in set(link_ids)}

    return first_click_at


def test_conversions_within_the_window_count(settings, monkeypatch, campaign_with_links, tenant_a, tenant_b):
    settings.CONVERSION_ATTRIBUTION_WINDOW_DAYS = 5
    campaign, (clicked, clicked_late, never_clicked) = campaign_with_links
    t0 = timezone.now() - dt.timedelta(days=30)
    monkeypatch.setattr(selectors, "_first_click_at", at({clicked.pk: t0, clicked_late.pk: t0}))

    contact = clicked.message.contact
    ConversionFactory(
        tenant=tenant_a, link=clicked, contact=contact, value=Decimal("10.00"), created_at=t0 + dt.timedelta(hours=1)
    )
    # By contact only, four days later: inside.
    ConversionFactory(tenant=tenant_a, contact=contact, value=Decimal("5.50"), created_at=t0 + dt.timedelta(days=4))
    # Exactly at the edge: inside.
    ConversionFactory(tenant=tenant_a, link=clicked, value=Decimal("1.00"), created_at=t0 + dt.timedelta(days=5))
    # Outside: six days after the click, and before the click.
    ConversionFactory(tenant=tenant_a, link=clicked_late, value=Decimal("100"), created_at=t0 + dt.timedelta(days=6))
    ConversionFactory(tenant=tenant_a, link=clicked_late, value=Decimal("100"), created_at=t0 - dt.timedelta(minutes=1))
    # A recipient who never clicked converts: not attributed.
    ConversionFactory(tenant=tenant_a, link=never_clicked, value=Decimal("100"), created_at=t0 + dt.timedelta(hours=1))
    # Another tenant's conversion never counts.
    ConversionFactory(tenant=tenant_b, value=Decimal("100"), created_at=t0 + dt.timedelta(hours=1))

    assert selectors.campaign_conversions(campaign.pk) == {"conversions": 3, "revenue": Decimal("16.50")}

    settings.CONVERSION_ATTRIBUTION_WINDOW_DAYS = 7
    assert selectors.campaign_conversions(campaign.pk) == {"conversions": 4, "revenue": Decimal("116.50")}


def test_no_clicks_no_conversions(campaign_with_links, tenant_a, monkeypatch):
    campaign, (link, *_rest) = campaign_with_links
    monkeypatch.setattr(selectors, "_first_click_at", at({}))
    ConversionFactory(tenant=tenant_a, link=link)
    assert selectors.campaign_conversions(campaign.pk) == {"conversions": 0, "revenue": Decimal("0")}
    assert selectors.campaign_conversions(10**9) == {"conversions": 0, "revenue": Decimal("0")}


def test_first_click_at_reads_human_clicks_from_the_links_app(campaign_with_links, tenant_a, settings):
    """Clicks written by the real click writer: bots ignored, the first human click counts."""
    from links.capture import click_event
    from links.services import clicks_record

    campaign, (link, other, _never) = campaign_with_links
    t0 = timezone.now() - dt.timedelta(days=2)
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"

    def add(link, when, is_bot=False):
        event = click_event(
            code=link.code, ip="203.0.113.9", user_agent="WhatsApp/2.23.20.0" if is_bot else iphone, method="GET"
        )
        event["ts"] = when.timestamp()
        assert clicks_record(events=[event]) == 1

    add(link, t0 - dt.timedelta(hours=1), is_bot=True)  # a preview bot first: ignored
    add(link, t0)
    add(link, t0 + dt.timedelta(hours=3))
    add(other, t0 + dt.timedelta(days=1))
    assert selectors._first_click_at(link_ids=[link.pk, other.pk, _never.pk]) == {
        link.pk: t0,
        other.pk: t0 + dt.timedelta(days=1),
    }
    settings.CONVERSION_ATTRIBUTION_WINDOW_DAYS = 5
    ConversionFactory(tenant=tenant_a, link=link, value=Decimal("3"), created_at=t0 + dt.timedelta(days=1))
    ConversionFactory(tenant=tenant_a, link=link, value=Decimal("3"), created_at=t0 - dt.timedelta(minutes=30))
    assert selectors.campaign_conversions(campaign.pk) == {"conversions": 1, "revenue": Decimal("3")}
