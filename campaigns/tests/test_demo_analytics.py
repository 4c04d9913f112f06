"""The dashboard demo (``seed_dashboard_demo``): written through the real writers, with time staged in the past."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.selectors import campaign_breakdown, campaign_timeseries, campaign_variants
from campaigns.demo_analytics import DEMO_CAMPAIGNS
from campaigns.models import Campaign, Message
from campaigns.stats import campaign_stats


@pytest.mark.django_db
def test_seed_dashboard_demo_small(capsys):
    call_command("seed_dashboard_demo", scale=0.03)
    call_command("seed_dashboard_demo", scale=0.03)  # again: replaces, never doubles
    out = capsys.readouterr().out
    assert "Replacing 5 earlier demo campaigns" in out
    campaigns = list(Campaign.objects.filter(tenant__slug="demo", name__in=[c.name for c in DEMO_CAMPAIGNS]))
    assert len(campaigns) == len(DEMO_CAMPAIGNS)
    featured = Campaign.objects.get(tenant__slug="demo", name="Black Friday early access")
    assert f"/admin/campaigns/campaign/{featured.pk}/dashboard/" in out

    messages = Message.objects.filter(campaign=featured)
    stats = campaign_stats(campaign_id=featured.pk)
    # The counters the real transitions kept agree with the messages themselves.
    assert stats["recipients"] == messages.count() == 42
    assert stats["delivered"] == messages.filter(status__in=["delivered", "read"]).count() > 0
    assert stats["clicks"] > 0 and stats["bot_hits"] >= 0

    # Time is staged: the arrivals are spread over the send window in the past, each counted once.
    series = campaign_timeseries(campaign_id=featured.pk)
    assert series["interval"] == "minute"
    first = dt.datetime.fromisoformat(series["buckets"][0]["t"].replace("Z", "+00:00"))
    assert first < timezone.now() - dt.timedelta(hours=2)
    handed = stats["sent"] + stats["delivered"] + stats["undelivered"] + stats["failed"]
    assert sum(b["sent"] for b in series["buckets"]) == handed
    assert sum(b["delivered"] for b in series["buckets"]) == stats["delivered"]
    assert sum(b["clicks"] for b in series["buckets"]) == stats["clicks"]
    assert len([b for b in series["buckets"] if b["sent"]]) > 3
    for campaign in campaigns:  # STOP replies are staged in the past too, each recipient once
        buckets = campaign_timeseries(campaign_id=campaign.pk)["buckets"]
        assert sum(b["opt_outs"] for b in buckets) == campaign_stats(campaign_id=campaign.pk)["opt_outs"]

    variants = campaign_variants(campaign=featured)
    assert [v["label"] for v in variants["variants"]] == ["A", "B"]
    assert variants["test"] is not None
    assert campaign_breakdown(campaign_id=featured.pk)["device"]
