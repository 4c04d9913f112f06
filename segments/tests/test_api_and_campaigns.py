"""Segments through the API, as a campaign's audience (preview and the real fan-out agree with the live count)."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.sending.fanout import messages_materialise
from contacts.tests.factories import ContactFactory, TagFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory, token_for

BOSTON_OR_VIP = {
    "groups": [
        [{"type": "field", "field": "city", "op": "equals", "value": "Boston"}],
        [{"type": "tag", "op": "has", "value": "vip"}],
    ]
}


def test_crud_count_and_the_outsider(api_alice, api_bob, api_charlie, tenant_a):
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston"})
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston"}, consent_status="revoked")
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Denver"})
    resp = api_alice.post("/api/v1/segments/", {"name": "Boston or VIP", "definition": BOSTON_OR_VIP}, format="json")
    assert resp.status_code == 201, resp.json()
    seg = resp.json()
    assert seg["definition"] == BOSTON_OR_VIP
    url = f"/api/v1/segments/{seg['id']}/"
    assert api_alice.get(url + "count/").json() == {
        "count": 2,
        "by_consent": {"granted": 1, "unknown": 0, "revoked": 1},
    }
    assert [s["name"] for s in api_alice.get("/api/v1/segments/").json()["results"]] == ["Boston or VIP"]
    # Another tenant: nothing listed, every door a 404.
    for api in (api_bob, api_charlie):
        assert api.get("/api/v1/segments/").json()["results"] == []
        assert api.get(url).status_code == 404
        assert api.get(url + "count/").status_code == 404
        assert api.patch(url, {"name": "mine"}, format="json").status_code == 404
        assert api.delete(url).status_code == 404
    resp = api_alice.patch(url, {"name": "Bostonians"}, format="json")
    assert resp.status_code == 200 and resp.json()["name"] == "Bostonians"
    assert api_alice.delete(url).status_code == 204
    assert not Segment.objects.exists()


def test_bad_input_is_a_400_naming_the_field(api_alice, tenant_a):
    SegmentFactory(tenant=tenant_a, name="Taken")
    resp = api_alice.post("/api/v1/segments/", {"name": "Taken", "definition": BOSTON_OR_VIP}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()
    bad = {"groups": [[{"type": "field", "field": "orders", "op": "gt", "value": "lots"}]]}
    resp = api_alice.post("/api/v1/segments/", {"name": "New", "definition": bad}, format="json")
    assert resp.status_code == 400
    assert "group 1, condition 1" in str(resp.json()["definition"])
    resp = api_alice.post("/api/v1/segments/", {"name": "New", "definition": "city=Boston"}, format="json")
    assert resp.status_code == 400 and "definition" in resp.json()


def test_viewer_reads_but_never_writes(tenant_a):
    from rest_framework.test import APIClient

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(viewer)}")
    seg = SegmentFactory(tenant=tenant_a)
    assert api.get(f"/api/v1/segments/{seg.pk}/count/").status_code == 200
    assert api.post("/api/v1/segments/", {"name": "x", "definition": BOSTON_OR_VIP}, format="json").status_code == 403
    assert api.delete(f"/api/v1/segments/{seg.pk}/").status_code == 403


def test_another_tenants_segment_in_a_campaign_audience_is_a_400_naming_audience(api_alice, tenant_b):
    theirs = SegmentFactory(tenant=tenant_b)
    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "X", "body": "Hi", "audience": {"segment": theirs.pk}}, format="json"
    )
    assert resp.status_code == 400
    assert "segment" in str(resp.json()["audience"])
    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "X", "body": "Hi", "audience": {"segment": "7"}}, format="json"
    )
    assert resp.status_code == 400 and "audience" in resp.json()


@pytest.mark.usefixtures("open_hours")
def test_the_segment_count_is_exactly_what_the_fan_out_sends(api_alice, tenant_a, tenant_b):
    vip = TagFactory(tenant=tenant_a, name="vip")
    for i in range(7):
        ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston" if i % 2 else "boston"})
    for _ in range(3):
        ContactFactory(tenant=tenant_a, custom_fields={"city": "Denver"}).tags.add(vip)
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Denver"})  # in neither group
    ContactFactory(tenant=tenant_b, custom_fields={"city": "Boston"})  # another tenant's Bostonian
    seg = api_alice.post("/api/v1/segments/", {"name": "OR", "definition": BOSTON_OR_VIP}, format="json").json()
    count = api_alice.get(f"/api/v1/segments/{seg['id']}/count/").json()["count"]
    assert count == 10

    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "Seg", "body": "Hi {{first_name}}", "audience": {"segment": seg["id"]}},
        format="json",
    )  # fmt: skip
    assert resp.status_code == 201, resp.json()
    campaign = Campaign.objects.get(pk=resp.json()["id"])
    assert campaign.audience == {"segment": seg["id"]}
    preview = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/").json()
    assert preview["recipients"] == count

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    result = messages_materialise(campaign_id=campaign.pk)
    assert result.created == count
    assert Message.objects.filter(campaign=campaign).count() == count
    assert set(Message.objects.filter(campaign=campaign).values_list("contact__tenant_id", flat=True)) == {tenant_a.pk}


def test_a_segment_in_use_cannot_be_deleted_and_a_gone_one_selects_nobody(api_alice, tenant_a):
    ContactFactory(tenant=tenant_a)
    seg = SegmentFactory(tenant=tenant_a)
    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "Seg", "body": "Hi", "audience": {"segment": seg.pk}}, format="json"
    )
    campaign = Campaign.objects.get(pk=resp.json()["id"])
    resp = api_alice.delete(f"/api/v1/segments/{seg.pk}/")
    assert resp.status_code == 409 and "Seg" in resp.json()["detail"]
    # Gone anyway (a superuser, the database): the campaign's audience is nobody, never everybody.
    Segment.objects.filter(pk=seg.pk).delete()
    assert api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/").json()["recipients"] == 0


def test_the_schema_has_the_segment_endpoints(api_alice):
    resp = api_alice.get("/api/schema/?format=json")
    paths = resp.json()["paths"]
    assert "/api/v1/segments/" in paths and "/api/v1/segments/{id}/count/" in paths
