"""A campaign whose delivery reports go wrong pauses by itself: through the API, the local Twilio, signed callbacks."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignStatus, Message
from compliance.models import AuditLog
from guard.models import GuardEvent
from guard.services import Figures, figures_judge
from guard.tasks import guard_tick
from guard.tests.conftest import campaign_sent_by_api, send_batch
from guard.tests.factories import GuardSettingsFactory
from integrations.models import Event, EventDelivery
from integrations.tests.factories import EventSubscriptionFactory

pytestmark = pytest.mark.usefixtures("open_hours", "sent_tasks")


def _sids(campaign) -> list[str]:
    return list(
        Message.objects.filter(campaign=campaign).exclude(sid=None).order_by("id").values_list("sid", flat=True)
    )


def test_carrier_filtering_in_the_first_reports_pauses_the_campaign_with_the_figures(
    api_alice, tenant_a, fake_twilio, callbacks
):
    hook = EventSubscriptionFactory(tenant=tenant_a, event_types=["campaign.paused_by_guard"])
    campaign = campaign_sent_by_api(api_alice, tenant_a, 300)
    assert send_batch(campaign, 240).sent == 240
    assert len(fake_twilio.sends()) == 240
    sids = _sids(campaign)
    # Twilio reports: 30007 (filtered as spam) for most, a few delivered.
    assert set(callbacks(fake_twilio, tenant_a, sids[:210], "undelivered", 30007)) == {204}
    assert set(callbacks(fake_twilio, tenant_a, sids[210:], "delivered")) == {204}

    done = guard_tick()
    assert done["paused"] == 1, done
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.paused_reason.startswith("Fraud guard: 87.5% of 240 delivery reports")
    assert "30007" in campaign.paused_reason and "5.0% threshold" in campaign.paused_reason
    event = GuardEvent.objects.get(campaign=campaign)
    assert (event.kind, event.tenant_id, event.resolved_at) == ("anomaly", tenant_a.pk, None)
    assert event.figures["reports"] == 240 and event.figures["filtered"] == 210
    assert event.figures["filtered_rate"] == 0.875 and event.figures["metric"] == "filtered_rate"
    # The event went out to the tenant's endpoint that wants it, and the pause is in the audit log.
    emitted = Event.objects.get(tenant=tenant_a, type="campaign.paused_by_guard")
    assert emitted.payload["campaign_id"] == campaign.pk and emitted.payload["kind"] == "anomaly"
    assert emitted.payload["figures"]["filtered"] == 210
    assert EventDelivery.objects.filter(event=emitted, subscription=hook).exists()
    assert AuditLog.objects.filter(tenant=tenant_a, action="guard_pause", object_id=str(campaign.pk)).exists()
    # The API shows the reason; the rest of the audience is never handed to Twilio while paused.
    shown = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/").json()
    assert shown["status"] == "paused"
    assert send_batch(campaign).sent == 0
    assert len(fake_twilio.sends()) == 240
    assert Message.objects.filter(campaign=campaign, status="pending").count() == 60
    # A second tick pauses nothing again.
    assert guard_tick()["paused"] == 0
    assert GuardEvent.objects.filter(campaign=campaign).count() == 1


def test_too_few_reports_or_healthy_reports_never_pause(api_alice, tenant_a, fake_twilio, callbacks):
    campaign = campaign_sent_by_api(api_alice, tenant_a, 250)
    send_batch(campaign, 250)
    sids = _sids(campaign)
    callbacks(fake_twilio, tenant_a, sids[:150], "undelivered", 30007)  # all bad, but under 200 reports
    assert guard_tick()["paused"] == 0
    callbacks(fake_twilio, tenant_a, sids[150:], "delivered")  # 250 reports, 60% filtered: now it is
    assert guard_tick()["paused"] == 1

    healthy = campaign_sent_by_api(api_alice, tenant_a, 250, prefix="+1415777")
    send_batch(healthy, 250)
    hs = _sids(healthy)
    callbacks(fake_twilio, tenant_a, hs[:5], "undelivered", 30007)  # 2%: under the 5% threshold
    callbacks(fake_twilio, tenant_a, hs[5:], "delivered")
    assert guard_tick()["paused"] == 0
    assert Campaign.objects.get(pk=healthy.pk).status == CampaignStatus.SENDING


def test_thresholds_are_the_tenants_own(tenant_a, tenant_b):
    strict = GuardSettingsFactory(tenant=tenant_a)
    strict.anomaly_min_reports, strict.max_failed_rate = 50, "0.100"
    figures = Figures(reports=60, failed=7, filtered=0, reached=53, opt_outs=0)
    assert figures_judge(figures=figures, settings=strict).metric == "failed_rate"
    assert figures_judge(figures=figures, settings=GuardSettingsFactory(tenant=tenant_b)) is None  # 200 reports
    opt_outs = Figures(reports=400, failed=10, filtered=2, reached=390, opt_outs=12)  # 3.1% of those reached
    crossing = figures_judge(figures=opt_outs, settings=GuardSettingsFactory(tenant=tenant_b))
    assert crossing.metric == "opt_out_rate" and "390 recipients reached opted out" in crossing.reason
