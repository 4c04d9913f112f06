from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory

from campaigns import sending
from campaigns.admin.sending import CampaignSendingAdminMixin
from campaigns.models import Campaign, CampaignStatus
from campaigns.tests.factories import CampaignFactory
from tenants.admin_scoping import TenantScopedAdmin
from tenants.models import Role
from tenants.tests.factories import UserFactory


def _url(campaign, action):
    return f"/api/v1/campaigns/{campaign.pk}/{action}/"


def test_send_is_202_then_409(api_alice, tenant_a, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant_a)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_alice.post(_url(campaign, "send"), {}, format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "sending"
    assert len(callbacks) == 1  # the fan-out, enqueued after commit
    again = api_alice.post(_url(campaign, "send"), {}, format="json")
    assert again.status_code == 409 and again.json()["status"] == "sending"
    assert api_alice.get(f"/api/v1/campaigns/{campaign.pk}/").json()["status"] == "sending"


def test_send_at_schedules(api_alice, tenant_a, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant_a)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_alice.post(_url(campaign, "send"), {"send_at": "2099-01-01T10:00:00Z"}, format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "scheduled"
    assert callbacks == []
    assert Campaign.objects.get(pk=campaign.pk).send_at.year == 2099


def test_bad_send_at_is_400_naming_the_field(api_alice, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    resp = api_alice.post(_url(campaign, "send"), {"send_at": "tomorrowish"}, format="json")
    assert resp.status_code == 400 and "send_at" in resp.json()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


@pytest.mark.parametrize("action", ["send", "pause", "resume", "cancel"])
def test_other_tenants_and_outsiders_get_404(action, api_bob, api_charlie, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.PAUSED if action == "resume" else "draft")
    before = Campaign.objects.get(pk=campaign.pk).status
    for client in (api_bob, api_charlie):
        resp = client.post(_url(campaign, action), {}, format="json")
        assert resp.status_code == 404 and resp.json() == {"detail": "Not found."}
    assert Campaign.objects.get(pk=campaign.pk).status == before


def test_no_auth_401_and_viewer_403(tenant_a, client):
    from rest_framework.test import APIClient

    from tenants.tests.factories import token_for

    campaign = CampaignFactory(tenant=tenant_a)
    assert APIClient().post(_url(campaign, "send"), {}, format="json").status_code == 401
    viewer = APIClient()
    viewer.credentials(HTTP_AUTHORIZATION=f"Token {token_for(UserFactory(tenant=tenant_a, role=Role.VIEWER))}")
    assert viewer.post(_url(campaign, "send"), {}, format="json").status_code == 403


def test_pause_resume_cancel(api_alice, tenant_a, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    assert api_alice.post(_url(campaign, "resume"), {}, format="json").status_code == 409
    resp = api_alice.post(_url(campaign, "pause"), {}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "paused"
    assert "alice@acme.example" in resp.json()["paused_reason"]
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_alice.post(_url(campaign, "resume"), {}, format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "sending" and len(callbacks) == 1
    assert api_alice.post(_url(campaign, "cancel"), {}, format="json").json()["status"] == "canceled"
    assert api_alice.post(_url(campaign, "cancel"), {}, format="json").status_code == 409
    assert api_alice.post(_url(campaign, "send"), {}, format="json").status_code == 409


class _Admin(CampaignSendingAdminMixin, TenantScopedAdmin):
    pass


def _request(user):
    request = RequestFactory().post("/admin/campaigns/campaign/")
    request.user = user
    SessionMiddleware(lambda r: None).process_request(request)
    MessageMiddleware(lambda r: None).process_request(request)
    return request


def test_admin_actions_and_progress(alice, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    model_admin = _Admin(Campaign, admin.site)
    mine = CampaignFactory(tenant=tenant_a)
    theirs = CampaignFactory(tenant=tenant_b)
    request = _request(alice)
    actions = model_admin.get_actions(request)
    assert {"send_now", "schedule", "pause", "resume", "cancel"} <= set(actions)
    queryset = model_admin.get_queryset(request)  # the changelist's: scoped to Alice's tenant
    # The list's "Send now" never sends: it opens the one draft's confirmation page (the scoped queryset has
    # only Alice's).
    opened = model_admin.send_now(request, queryset.filter(pk__in=[mine.pk, theirs.pk]))
    assert opened.status_code == 302 and opened["Location"].endswith(f"/{mine.pk}/send/")
    assert Campaign.objects.get(pk=mine.pk).status == "draft"
    with django_capture_on_commit_callbacks():
        sending.campaign_send(campaign=mine, user=alice)
    assert Campaign.objects.get(pk=mine.pk).status == "sending"
    assert Campaign.objects.get(pk=theirs.pk).status == "draft"
    model_admin.pause(request, queryset.filter(pk=mine.pk))
    mine.refresh_from_db()
    assert mine.status == "paused"
    for field in ("sending_progress", "sending_rate", "sending_time_left"):
        assert field in model_admin.get_readonly_fields(request, mine)
    assert model_admin.sending_progress(mine) == "0 / 0"

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    assert not {"send_now", "pause"} & set(model_admin.get_actions(_request(viewer)))
