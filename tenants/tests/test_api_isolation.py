"""Every API endpoint: tenant-scoped, another tenant's object is a 404, no auth is a 401."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from campaigns.tests.factories import CampaignFactory
from compliance.tests.factories import ConsentEventFactory, SuppressionFactory
from contacts.tests.factories import ContactFactory, ContactImportFactory
from integrations.tests.factories import ConversionFactory, EventDeliveryFactory, EventSubscriptionFactory

LIST_ENDPOINTS = {
    "contacts": ContactFactory,
    "campaigns": CampaignFactory,
    "webhooks": EventSubscriptionFactory,
}
# Endpoints without PATCH/DELETE (read-only or create-only): list and detail are scoped.
READ_ENDPOINTS = {
    "webhook-deliveries": EventDeliveryFactory,
    "conversions": ConversionFactory,
    "opt-outs": SuppressionFactory,
    "consent-events": ConsentEventFactory,
}
READ_ONLY_ENDPOINTS = {
    "contact-imports": ContactImportFactory,
}


@pytest.mark.parametrize("resource", LIST_ENDPOINTS)
def test_list_and_detail_are_scoped(resource, tenant_a, tenant_b, api_alice, api_bob, api_charlie):
    factory = LIST_ENDPOINTS[resource]
    mine = factory(tenant=tenant_a)
    theirs = factory(tenant=tenant_b)

    ids = [row["id"] for row in api_alice.get(f"/api/v1/{resource}/").json()["results"]]
    assert ids == [mine.pk]
    assert api_alice.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 200
    resp = api_alice.get(f"/api/v1/{resource}/{theirs.pk}/")
    assert resp.status_code == 404 and resp.json() == {"detail": "Not found."}
    assert api_alice.delete(f"/api/v1/{resource}/{theirs.pk}/").status_code == 404
    assert api_alice.patch(f"/api/v1/{resource}/{theirs.pk}/", {"first_name": "x", "name": "x"}).status_code == 404
    # The outsider sees nothing of either.
    assert api_charlie.get(f"/api/v1/{resource}/").json()["results"] == []
    assert api_charlie.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 404
    assert [r["id"] for r in api_bob.get(f"/api/v1/{resource}/").json()["results"]] == [theirs.pk]


@pytest.mark.parametrize("resource", READ_ONLY_ENDPOINTS)
def test_read_only_list_and_detail_are_scoped(resource, tenant_a, tenant_b, api_alice, api_bob, api_charlie):
    factory = READ_ONLY_ENDPOINTS[resource]
    mine = factory(tenant=tenant_a)
    theirs = factory(tenant=tenant_b)
    assert [row["id"] for row in api_alice.get(f"/api/v1/{resource}/").json()["results"]] == [mine.pk]
    assert api_alice.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 200
    assert api_alice.get(f"/api/v1/{resource}/{theirs.pk}/").status_code == 404
    assert api_alice.delete(f"/api/v1/{resource}/{mine.pk}/").status_code == 405
    assert api_charlie.get(f"/api/v1/{resource}/").json()["results"] == []
    assert api_charlie.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 404
    assert [r["id"] for r in api_bob.get(f"/api/v1/{resource}/").json()["results"]] == [theirs.pk]


@pytest.mark.parametrize("resource", [*LIST_ENDPOINTS, *READ_ONLY_ENDPOINTS])
def test_no_auth_is_401_json(resource, db):
    resp = APIClient().get(f"/api/v1/{resource}/")
    assert resp.status_code == 401
    assert resp["Content-Type"].startswith("application/json")


def test_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/contacts/").status_code == 401


def test_viewer_reads_but_cannot_write(tenant_a):
    from tenants.models import Role
    from tenants.tests.factories import UserFactory, token_for

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(viewer)}")
    assert client.get("/api/v1/campaigns/").status_code == 200
    assert client.post("/api/v1/campaigns/", {"name": "x", "body": "y"}, format="json").status_code == 403


def test_create_stamps_the_callers_tenant(api_alice, tenant_a, tenant_b):
    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "Spring", "body": "Hello", "tenant": tenant_b.pk}, format="json"
    )
    assert resp.status_code == 201
    from campaigns.models import Campaign

    assert Campaign.objects.get(pk=resp.json()["id"]).tenant == tenant_a


def test_unknown_api_path_is_json_404(api_alice):
    resp = api_alice.get("/api/v1/nope/")
    assert resp.status_code == 404
    assert resp["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("resource", READ_ENDPOINTS)
def test_read_endpoints_are_scoped(resource, tenant_a, tenant_b, api_alice, api_bob, api_charlie):
    factory = READ_ENDPOINTS[resource]
    mine = factory(tenant=tenant_a)
    theirs = factory(tenant=tenant_b)
    assert [row["id"] for row in api_alice.get(f"/api/v1/{resource}/").json()["results"]] == [mine.pk]
    assert api_alice.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 200
    resp = api_alice.get(f"/api/v1/{resource}/{theirs.pk}/")
    assert resp.status_code == 404 and resp.json() == {"detail": "Not found."}
    assert api_charlie.get(f"/api/v1/{resource}/").json()["results"] == []
    assert api_charlie.get(f"/api/v1/{resource}/{mine.pk}/").status_code == 404
    assert [r["id"] for r in api_bob.get(f"/api/v1/{resource}/").json()["results"]] == [theirs.pk]
    assert APIClient().get(f"/api/v1/{resource}/").status_code == 401


def test_opt_out_post_is_stamped_with_the_callers_tenant(api_alice, tenant_a, tenant_b):
    from compliance.models import Suppression

    resp = api_alice.post("/api/v1/opt-outs/", {"phone_number": "+14155550100", "tenant": tenant_b.pk}, format="json")
    assert resp.status_code == 201
    assert Suppression.objects.get(pk=resp.json()["id"]).tenant == tenant_a


@pytest.mark.parametrize(
    "sub",
    [
        "stats",
        "messages",
        "stats/timeseries",
        "stats/breakdown",
        "stats/variants",
        "export/messages.csv",
        "export/clicks.csv",
    ],
)
def test_campaign_numbers_are_scoped(sub, tenant_a, api_alice, api_bob, api_charlie):
    campaign = CampaignFactory(tenant=tenant_a)
    path = f"/api/v1/campaigns/{campaign.pk}/{sub}" + ("" if sub.endswith(".csv") else "/")
    assert api_alice.get(path).status_code == 200
    for client in (api_bob, api_charlie):
        assert client.get(path).status_code == 404
    assert APIClient().get(path).status_code == 401


@pytest.mark.parametrize("action", ["send", "pause", "resume", "cancel"])
def test_campaign_sending_actions_are_scoped(action, tenant_a, api_bob, api_charlie):
    from campaigns.models import Campaign

    campaign = CampaignFactory(tenant=tenant_a, status="paused" if action == "resume" else "draft")
    for client in (api_bob, api_charlie):
        assert client.post(f"/api/v1/campaigns/{campaign.pk}/{action}/", {}, format="json").status_code == 404
    assert Campaign.objects.get(pk=campaign.pk).status == campaign.status
    assert APIClient().post(f"/api/v1/campaigns/{campaign.pk}/{action}/").status_code == 401


def test_authoring_endpoints_are_scoped(tenant_a, tenant_b, api_alice, api_charlie):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from contacts.models import Contact

    mine = CampaignFactory(tenant=tenant_a)
    ContactFactory(tenant=tenant_a, phone_number="+14155550100")
    ContactFactory(tenant=tenant_b, phone_number="+14155550101")
    assert api_alice.get(f"/api/v1/campaigns/{mine.pk}/preview/").json()["recipients"] == 1
    assert api_charlie.get(f"/api/v1/campaigns/{mine.pk}/preview/").status_code == 404
    assert api_charlie.post("/api/v1/campaigns/preview/", {"body": "Hi"}, format="json").json()["recipients"] == 0
    upload = SimpleUploadedFile("c.csv", b"phone_number,first_name\n+14155550100,Mallory\n", "text/csv")
    resp = api_charlie.post("/api/v1/contacts/import/", {"file": upload}, format="multipart")
    assert resp.json() == {"created": 1, "updated": 0, "errors": []}  # a new contact in Charlie's own tenant
    assert Contact.objects.get(tenant=tenant_a, phone_number="+14155550100").first_name != "Mallory"
