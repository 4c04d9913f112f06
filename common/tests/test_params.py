"""Ids in query strings: a 400 naming the parameter for anything that is not an id, out-of-range numbers too."""

from __future__ import annotations

import pytest

from campaigns.tests.factories import CampaignFactory

HUGE = "10494320064432775168"  # past bigint


@pytest.mark.parametrize("value", ["x", "-1", "0", "1.5", HUGE, f"-{HUGE}", "٣"])
def test_webhook_deliveries_subscription_filter(api_alice, value):
    resp = api_alice.get("/api/v1/webhook-deliveries/", {"subscription": value})
    assert resp.status_code == 400
    assert "subscription" in resp.json()


@pytest.mark.parametrize("value", ["x", HUGE])
def test_consent_events_contact_filter(api_alice, value):
    for path in ("/api/v1/consent-events/", "/api/v1/consent-events/export/"):
        resp = api_alice.get(path, {"contact": value})
        assert resp.status_code == 400, path
        assert "contact" in resp.json()


@pytest.mark.parametrize("value", ["x", HUGE])
def test_campaign_preview_sample_contact(api_alice, tenant_a, value):
    campaign = CampaignFactory(tenant=tenant_a)
    resp = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/", {"contact": value})
    assert resp.status_code == 400
    assert "contact" in resp.json()


def test_a_good_id_still_filters(api_alice, tenant_a):
    assert api_alice.get("/api/v1/webhook-deliveries/", {"subscription": "9223372036854775807"}).json()["count"] == 0
    campaign = CampaignFactory(tenant=tenant_a)
    assert api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/", {"contact": ""}).status_code == 200
