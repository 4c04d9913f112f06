"""Spend and volume caps: a send over a cap asks first, sending stops at the cap, and goes on when it is raised."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message
from guard.models import GuardEvent, GuardUsage
from guard.spend import caps_usage, spend_grant, spend_return, usage_persist
from guard.tasks import guard_tick
from guard.tests.conftest import campaign_sent_by_api, send_batch
from guard.tests.factories import GuardSettingsFactory
from integrations.models import Event
from integrations.tests.factories import EventSubscriptionFactory

pytestmark = pytest.mark.usefixtures("open_hours", "sent_tasks")


def _cap(tenant, **caps):
    cfg = GuardSettingsFactory(tenant=tenant)
    for name, value in caps.items():
        setattr(cfg, name, value)
    cfg.save()
    return cfg


def _draft(api, tenant, n: int, prefix: str = "+1415666"):
    from contacts.tests.factories import ContactFactory

    for i in range(n):
        ContactFactory(tenant=tenant, phone_number=f"{prefix}{i:04d}", consent_status="granted")
    created = api.post("/api/v1/campaigns/", {"name": "Capped", "body": "Spring sale: 20% off today"}, format="json")
    return created.json()["id"]


def test_a_send_over_the_daily_cap_asks_then_stops_at_the_cap_and_goes_on_when_raised(
    api_alice, api_bob, tenant_a, tenant_b, fake_twilio
):
    EventSubscriptionFactory(tenant=tenant_a, event_types=["campaign.paused_by_guard"])
    cfg = _cap(tenant_a, daily_segment_cap=50)
    campaign_id = _draft(api_alice, tenant_a, 80)
    asked = api_alice.post(f"/api/v1/campaigns/{campaign_id}/send/", {}, format="json")
    assert asked.status_code == 409
    assert "confirm_over_cap" in asked.json() and "80 segments" in asked.json()["confirm_over_cap"][0]
    assert Campaign.objects.get(pk=campaign_id).status == CampaignStatus.DRAFT
    bad = api_alice.post(f"/api/v1/campaigns/{campaign_id}/send/", {"confirm_over_cap": "perhaps"}, format="json")
    assert bad.status_code == 400 and "confirm_over_cap" in bad.json()
    assert api_bob.post(f"/api/v1/campaigns/{campaign_id}/send/", {}, format="json").status_code == 404

    sent = api_alice.post(f"/api/v1/campaigns/{campaign_id}/send/", {"confirm_over_cap": True}, format="json")
    assert sent.status_code == 202
    from campaigns.sending import control

    control.fanout_run(campaign_id=campaign_id)
    campaign = Campaign.objects.get(pk=campaign_id)
    send_batch(campaign)
    assert len(fake_twilio.sends()) == 50  # exactly at the cap
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "daily cap is reached: 50 of 50 segments" in campaign.paused_reason
    assert Message.objects.filter(campaign=campaign, status="pending").count() == 30
    event = GuardEvent.objects.get(campaign=campaign)
    assert event.kind == "cap" and event.figures["cap"] == "daily_segments"
    assert Event.objects.filter(tenant=tenant_a, type="campaign.paused_by_guard", payload__kind="cap").exists()
    # Another batch sends nothing while the cap is full; the tick leaves it paused.
    send_batch(campaign)
    assert len(fake_twilio.sends()) == 50
    assert guard_tick()["auto_resumed"] == 0
    # Another tenant is not capped by Acme's cap.
    assert [c.used for c in caps_usage(tenant=tenant_b) if c.name == "daily_segments"] == [0]

    cfg.daily_segment_cap = 100
    cfg.save()
    assert guard_tick()["auto_resumed"] == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING
    event.refresh_from_db()
    assert event.resolution == "auto_resumed"
    send_batch(campaign)
    assert len(fake_twilio.sends()) == 80
    assert {c.name: c.used for c in caps_usage(tenant=tenant_a)}["daily_segments"] == 80


def test_cost_caps_count_the_estimated_price(tenant_a, settings):
    settings.SMS_PRICE_PER_SEGMENT = "0.0100"
    _cap(tenant_a, monthly_cost_cap=Decimal("0.05"))
    cost = 10_000  # 0.01 in millionths
    assert spend_grant(tenant_id=tenant_a.pk, items=[(1, cost)] * 8) == 5
    assert spend_grant(tenant_id=tenant_a.pk, items=[(1, cost)]) == 0
    spend_return(tenant_id=tenant_a.pk, items=[(1, cost)] * 2)
    assert spend_grant(tenant_id=tenant_a.pk, items=[(1, cost)] * 3) == 2
    use = {c.name: c.used for c in caps_usage(tenant=tenant_a)}
    assert use["monthly_cost"] == Decimal("0.05") and use["monthly_segments"] == 5


def test_the_counts_survive_a_redis_loss_through_the_database(tenant_a, settings):
    import redis

    _cap(tenant_a, daily_segment_cap=10)
    now = timezone.now()
    assert spend_grant(tenant_id=tenant_a.pk, items=[(3, 1)] * 3, now=now) == 3  # 9 segments
    assert usage_persist(now=now) == 2
    day = GuardUsage.objects.get(tenant=tenant_a, period="day")
    assert (day.segments, day.starts_on) == (9, now.date())
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.GUARD_REDIS_PREFIX}spend:*"):
        client.delete(key)
    assert spend_grant(tenant_id=tenant_a.pk, items=[(1, 1), (1, 1)], now=now) == 1  # 9 + 1 = the cap
    tomorrow = now + dt.timedelta(days=1)
    assert spend_grant(tenant_id=tenant_a.pk, items=[(1, 1)] * 10, now=tomorrow) == 10


def test_the_admin_send_asks_before_crossing_a_cap(alice, tenant_a, api_alice):
    _cap(tenant_a, daily_segment_cap=5)
    campaign_id = _draft(api_alice, tenant_a, 8)
    client = Client()
    client.force_login(alice)
    # The list's "Send now" opens the campaign's confirmation page, which asks about the cap.
    form = {"action": "send_now", "_selected_action": [campaign_id]}
    opened = client.post("/admin/campaigns/campaign/", form)
    assert opened.status_code == 302 and opened["Location"].endswith(f"/{campaign_id}/send/")
    asked = client.get(opened["Location"])
    html = asked.content.decode()
    assert "caps would stop this send" in html and 'name="confirm_over_cap"' in html
    assert client.post(opened["Location"], {}).status_code == 400
    assert Campaign.objects.get(pk=campaign_id).status == CampaignStatus.DRAFT
    done = client.post(opened["Location"], {"confirm_over_cap": "1"})
    assert done.status_code == 302
    assert Campaign.objects.get(pk=campaign_id).status == CampaignStatus.SENDING


def test_without_caps_a_send_estimates_nothing_and_goes(api_alice, tenant_a, fake_twilio):
    campaign = campaign_sent_by_api(api_alice, tenant_a, 5)
    assert send_batch(campaign).sent == 5
    assert {c.name: c.used for c in caps_usage(tenant=tenant_a)}["daily_segments"] == 5
