"""The Guard page: scoped to the tenant, what was blocked, the caps, the pauses, and the audited one-click resume."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import CampaignStatus
from campaigns.tests.factories import CampaignFactory
from compliance.models import AuditLog
from guard.models import GuardBlock, GuardEvent
from guard.tasks import guard_tick
from guard.tests.factories import GuardEventFactory, GuardSettingsFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory

PAGE = "/admin/guard/guardevent/"

pytestmark = pytest.mark.usefixtures("sent_tasks")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _resume_url(event) -> str:
    return reverse("admin:guard_guardevent_resume", args=[event.pk])


def test_the_page_shows_the_tenants_blocks_caps_and_pauses_only(alice, bob, tenant_a, tenant_b):
    mine = GuardEventFactory(tenant=tenant_a)
    theirs = GuardEventFactory(tenant=tenant_b, reason="Fraud guard: Bob's campaign went wrong")
    GuardBlock.objects.create(tenant=tenant_a, campaign=mine.campaign, reason="country", code="NG", count=7)
    GuardBlock.objects.create(tenant=tenant_b, campaign=theirs.campaign, reason="high_risk", code="+881", count=3)
    cfg = GuardSettingsFactory(tenant=tenant_a)
    cfg.daily_segment_cap = 5000
    cfg.save()
    page = _login(alice).get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-guard-blocked="country:NG"' in html and "+881" not in html
    assert 'data-guard-cap="daily_segments"' in html and "5000" in html
    assert mine.reason in html and mine.campaign.name in html
    assert theirs.reason not in html and theirs.campaign.name not in html
    assert _resume_url(mine) in html and _resume_url(theirs) not in html
    assert "The guard has paused 1 campaign" in html
    assert '{"' not in html  # figures are a table, never raw JSON
    assert "<script>" not in html  # nothing inline (a strict CSP is coming)


def test_another_tenants_event_is_a_404(alice, charlie, tenant_a):
    event = GuardEventFactory(tenant=tenant_a)
    outsider = _login(charlie)
    change = reverse("admin:guard_guardevent_change", args=[event.pk])
    assert outsider.get(change).status_code == 404
    assert outsider.get(_resume_url(event)).status_code == 404
    assert outsider.post(_resume_url(event)).status_code == 404
    event.refresh_from_db()
    assert event.resolved_at is None
    assert not AuditLog.objects.filter(action="guard_resume").exists()
    shown = _login(alice).get(change)
    assert shown.status_code == 200
    assert "Delivery reports" in shown.content.decode() and "9.0%" in shown.content.decode()


def test_one_click_resume_asks_then_resumes_and_is_audited(alice, tenant_a):
    event = GuardEventFactory(tenant=tenant_a)
    campaign = event.campaign
    CampaignFactory._meta.model.objects.filter(pk=campaign.pk).update(paused_reason=event.reason)
    client = _login(alice)
    # The campaign page says why it is paused and where to resume it.
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "guard-alert" in page and reverse("admin:guard_guardevent_changelist") in page
    confirm = client.get(_resume_url(event))
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert event.reason in text and "Yes, resume it" in text and "Delivery reports" in text
    answer = client.post(_resume_url(event))
    assert answer.status_code == 302 and answer["Location"] == PAGE
    campaign.refresh_from_db()
    event.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.paused_reason == ""
    assert (event.resolution, event.resolved_by_id) == ("resumed", alice.pk)
    audit = AuditLog.objects.get(tenant=tenant_a, action="guard_resume")
    assert (audit.actor_id, audit.object_type, audit.object_id) == (alice.pk, "campaign", str(campaign.pk))
    assert audit.detail["guard_event"] == event.pk
    # Twice is once.
    client.post(_resume_url(event))
    assert AuditLog.objects.filter(action="guard_resume").count() == 1


def test_a_viewer_reads_the_page_but_cannot_resume(tenant_a):
    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    event = GuardEventFactory(tenant=tenant_a)
    client = _login(viewer)
    assert client.get(PAGE).status_code == 200
    assert client.post(_resume_url(event)).status_code == 403
    event.refresh_from_db()
    assert event.resolved_at is None


def test_a_resume_elsewhere_is_noted_and_the_same_figures_do_not_pause_again(api_alice, tenant_a):
    event = GuardEventFactory(tenant=tenant_a)
    assert api_alice.post(f"/api/v1/campaigns/{event.campaign_id}/resume/").status_code == 202
    assert guard_tick()["resolved"] == 1
    event.refresh_from_db()
    assert event.resolution == GuardEvent.Resolution.RESUMED_ELSEWHERE
    assert "reports" in event.baseline


def test_settings_refuse_an_unknown_country_and_warn_about_high_risk_ones(alice, tenant_a):
    client = _login(alice)
    listing = client.get("/admin/guard/guardsettings/")
    assert listing.status_code == 200
    cfg = GuardSettingsFactory(tenant=tenant_a)
    url = reverse("admin:guard_guardsettings_change", args=[cfg.pk])
    form = {
        "allowed_countries": "US, XX",
        "block_high_risk": "on",
        "anomaly_min_reports": 200,
        "max_filtered_rate": "0.05",
        "max_failed_rate": "0.15",
        "max_opt_out_rate": "0.03",
        "history_min_reports": 1000,
        "history_multiplier": "3",
        "history_floor": "0.02",
        "country_min_reports": 50,
        "max_country_failed_rate": "0.25",
        "inbound_burst_per_number": 10,
        "inbound_burst_per_range": 30,
        "click_surge_per_network": 30,
    }
    refused = client.post(url, form)
    assert refused.status_code == 200 and "Unknown country code: XX" in refused.content.decode()
    saved = client.post(url, {**form, "allowed_countries": "us, ng"}, follow=True)
    assert "Twilio lists as high risk" in saved.content.decode()
    cfg.refresh_from_db()
    assert cfg.allowed_countries == "US, NG"
