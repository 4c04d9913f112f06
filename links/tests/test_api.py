"""/api/v1/link-domains/ and /api/v1/campaigns/{id}/link-expiry/: two tenants, the outsider gets nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from links.models import LinkDomain, LinkExpiry


@pytest.fixture
def fake_dns(monkeypatch):
    records: dict[str, list[str]] = {}

    def lookup(name: str) -> list[str]:
        if name not in records:
            raise LookupError(f"{name} does not exist in DNS.")
        return records[name]

    monkeypatch.setattr("links.verification.txt_lookup", lookup)
    return records


def test_add_list_verify_and_delete_a_domain(api_alice, api_bob, api_charlie, fake_dns, tenant_a):
    resp = api_alice.post("/api/v1/link-domains/", {"host": "Go.Acme.Example"}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["host"] == "go.acme.example" and body["verified"] is False and body["method"] == "dns"
    assert body["dns_record"] == {"name": "_smscampaigns.go.acme.example", "type": "TXT", "value": body["token"]}
    assert body["http_url"].endswith(f"/.well-known/smscampaigns-verify/{body['token']}")
    url = f"/api/v1/link-domains/{body['id']}/"

    failed = api_alice.post(f"{url}verify/")
    assert failed.status_code == 200 and failed.json()["verified"] is False and failed.json()["last_error"]
    fake_dns["_smscampaigns.go.acme.example"] = [body["token"]]
    ok = api_alice.post(f"{url}verify/")
    assert ok.status_code == 200 and ok.json()["verified"] is True and ok.json()["last_error"] == ""

    for outsider in (api_bob, api_charlie):
        assert outsider.get(url).status_code == 404
        assert outsider.post(f"{url}verify/").status_code == 404
        assert outsider.delete(url).status_code == 404
        assert outsider.get("/api/v1/link-domains/").json()["results"] == []
    # Bob cannot claim Alice's verified domain.
    taken = api_bob.post("/api/v1/link-domains/", {"host": "go.acme.example"}, format="json")
    assert taken.status_code == 400 and "host" in taken.json()

    assert api_alice.patch(url, {"host": "other.example"}, format="json").status_code == 400
    assert api_alice.patch(url, {"active": False}, format="json").json()["active"] is False
    assert api_alice.delete(url).status_code == 204
    assert not LinkDomain.objects.exists()


@pytest.mark.parametrize("host", ["203.0.113.5", "go.acme.example:8080", "https://go.acme.example/x", "shop"])
def test_bad_host_is_a_400_naming_host(api_alice, host):
    resp = api_alice.post("/api/v1/link-domains/", {"host": host}, format="json")
    assert resp.status_code == 400 and "host" in resp.json()


def test_campaign_link_expiry(api_alice, api_bob, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a)
    url = f"/api/v1/campaigns/{campaign.pk}/link-expiry/"
    assert api_alice.get(url).json() == {"expires_at": None, "ttl_days": None}
    assert api_alice.put(url, {"ttl_days": 7}, format="json").json() == {"expires_at": None, "ttl_days": 7}
    when = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0)
    resp = api_alice.put(url, {"expires_at": when.isoformat()}, format="json")
    assert resp.status_code == 200 and resp.json()["ttl_days"] is None
    both = api_alice.put(url, {"expires_at": when.isoformat(), "ttl_days": 3}, format="json")
    assert both.status_code == 400 and "ttl_days" in both.json()
    assert api_alice.put(url, {"ttl_days": 0}, format="json").status_code == 400
    assert api_alice.put(url, {"ttl_days": 3651}, format="json").status_code == 400
    for verb in ("get", "put", "delete"):
        assert getattr(api_bob, verb)(url).status_code == 404
    assert LinkExpiry.objects.get(campaign=campaign).expires_at == when
    assert api_alice.delete(url).status_code == 204 and not LinkExpiry.objects.exists()
