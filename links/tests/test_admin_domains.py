"""The Domains page and link expiries in the admin: add, read the steps with the token, Verify now, per tenant."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from links.models import LinkDomain, LinkExpiry, ShortLink
from tenants.models import Role
from tenants.tests.factories import UserFactory

from .test_redirect import campaign_links


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_add_a_domain_read_the_steps_and_verify_it(tenant_a, alice, monkeypatch):
    client = _client(alice)
    resp = client.post(
        reverse("admin:links_linkdomain_add"), {"host": "Go.Acme.Example", "method": "dns", "active": "on"}
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    domain = LinkDomain.objects.get()
    assert domain.tenant_id == tenant_a.pk and domain.host == "go.acme.example"
    page = client.get(reverse("admin:links_linkdomain_change", args=[domain.pk])).content.decode()
    assert "_smscampaigns.go.acme.example" in page and domain.token in page and "CNAME" in page
    assert "Verify now" in page and "Waiting for verification" in page
    assert "<script>" not in page  # strict CSP: no inline script

    verify = reverse("admin:links_linkdomain_verify", args=[domain.pk])
    monkeypatch.setattr("links.verification.txt_lookup", lambda name: [])
    resp = client.post(verify, follow=True)
    assert "not verified" in resp.content.decode()
    domain.refresh_from_db()
    assert not domain.verified and "holds the token" in domain.last_error

    monkeypatch.setattr("links.verification.txt_lookup", lambda name: [domain.token])
    resp = client.post(verify, follow=True)
    assert "is verified" in resp.content.decode()
    domain.refresh_from_db()
    assert domain.verified and domain.last_error == ""
    assert client.get(verify).status_code == 405


def test_bad_or_taken_host_is_shown_on_the_form(tenant_a, tenant_b, alice):
    LinkDomain.objects.create(tenant=tenant_b, host="go.bobs.example", verified_at=timezone.now())
    client = _client(alice)
    for host, error in (("203.0.113.4", "not an IP address"), ("go.bobs.example", "in use by another account")):
        resp = client.post(reverse("admin:links_linkdomain_add"), {"host": host, "method": "dns"})
        assert resp.status_code == 200 and error in resp.content.decode()
    assert not LinkDomain.objects.filter(tenant=tenant_a).exists()


def test_another_tenants_domain_is_a_404_and_a_viewer_cannot_verify(tenant_a, tenant_b, alice, bob, monkeypatch):
    mine = LinkDomain.objects.create(tenant=tenant_a, host="go.acme.example")
    monkeypatch.setattr("links.verification.txt_lookup", lambda name: [mine.token])
    bobs = _client(bob)
    assert bobs.get(reverse("admin:links_linkdomain_change", args=[mine.pk])).status_code in (302, 404)
    assert bobs.post(reverse("admin:links_linkdomain_verify", args=[mine.pk])).status_code == 404
    assert "go.acme.example" not in bobs.get(reverse("admin:links_linkdomain_changelist")).content.decode()
    viewer = _client(UserFactory(email="vera@acme.example", tenant=tenant_a, role=Role.VIEWER))
    assert viewer.post(reverse("admin:links_linkdomain_verify", args=[mine.pk])).status_code == 403
    mine.refresh_from_db()
    assert mine.last_checked_at is None


def test_link_expiry_in_the_admin_applies_to_the_campaigns_links(tenant_a, tenant_b, alice):
    campaign, _m, codes = campaign_links(tenant_a, 1, name="Acme Flash")
    CampaignFactory(tenant=tenant_b, name="Bobs Secret Sale")
    client = _client(alice)
    add = reverse("admin:links_linkexpiry_add")
    page = client.get(add).content.decode()
    assert "Acme Flash" in page and "Bobs Secret Sale" not in page
    when = timezone.now() + dt.timedelta(days=3)
    resp = client.post(
        add, {"campaign": campaign.pk, "expires_at_0": when.strftime("%Y-%m-%d"), "expires_at_1": "12:00:00"}
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert LinkExpiry.objects.get().campaign_id == campaign.pk
    assert ShortLink.objects.get(code=codes[0]).expires_at is not None
    both = client.post(
        add, {"campaign": campaign.pk, "ttl_days": 3, "expires_at_0": "2030-01-01", "expires_at_1": "00:00"}
    )
    assert both.status_code == 200 and "not both" in both.content.decode()
