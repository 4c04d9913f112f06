"""Prices per country for the estimate (#21 part 7): the tenant's table, the US defaults elsewhere, the audience
grouped by country (one query), and the admin's editable table; two tenants and an outsider."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import CountryPrice
from campaigns.pricing import costs_by_country
from campaigns.tests.factories import CountryPriceFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory

PREVIEW = "/api/v1/campaigns/preview/"
BODY = "Sale now. Reply STOP to opt out"  # one GSM-7 segment, no footer added


@pytest.fixture
def audience(tenant_a, tenant_b, abroad_allowed):
    for i in range(10):
        ContactFactory(tenant=tenant_a, phone_number=f"+1415555{i:04d}")
        ContactFactory(tenant=tenant_a, phone_number=f"+4479112345{i:02d}")
    ContactFactory(tenant=tenant_b, phone_number="+447911234599")


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_estimate_uses_the_defaults_without_rows(api_alice, audience, settings):
    settings.SMS_PRICE_PER_SEGMENT = "0.0083"
    got = api_alice.post(PREVIEW, {"body": BODY}, format="json").json()
    assert got["estimated_cost"] == "0.17"  # 20 × 0.0083
    assert {c["country"]: (c["recipients"], c["default"]) for c in got["countries"]} == {
        "GB": (10, True),
        "US": (10, True),
    }


def test_estimate_prices_each_country(api_alice, api_bob, api_charlie, tenant_a, tenant_b, audience):
    CountryPriceFactory(tenant=tenant_a, country="GB", sms_price_per_segment=Decimal("0.0400"))
    CountryPriceFactory(tenant=tenant_b, country="US", sms_price_per_segment=Decimal("1.0000"))  # Bob's only
    got = api_alice.post(PREVIEW, {"body": BODY}, format="json").json()
    assert got["estimated_cost"] == "0.48"  # 10 × 0.0083 + 10 × 0.04
    assert got["countries"][0] == {
        "country": "GB",
        "recipients": 10,
        "price_per_segment": "0.0400",
        "price_per_mms": "0.0220",
        "default": False,
    }
    # Bob's audience is his one British contact, at the default; Alice's GB row is hers.
    bob = api_bob.post(PREVIEW, {"body": BODY}, format="json").json()
    assert bob["estimated_cost"] == "0.01" and bob["countries"][0]["default"] is True
    outsider = api_charlie.post(PREVIEW, {"body": BODY}, format="json").json()
    assert outsider["countries"] == [] and outsider["estimated_cost"] == "0.00"


def test_blocked_countries_are_not_priced(api_alice, tenant_a):
    ContactFactory(tenant=tenant_a, phone_number="+14155550001")
    ContactFactory(tenant=tenant_a, phone_number="+447911234501")  # GB is not allowed: blocked by the guard
    CountryPriceFactory(tenant=tenant_a, country="GB", sms_price_per_segment=Decimal("5"))
    got = api_alice.post(PREVIEW, {"body": BODY}, format="json").json()
    assert got["blocked"] == 1
    assert [c["country"] for c in got["countries"]] == ["US"] and got["estimated_cost"] == "0.01"


def test_grouped_in_one_query(tenant_a, audience):
    with CaptureQueriesContext(connection) as ctx:
        costs = costs_by_country(tenant_id=tenant_a.pk, contacts=Contact.objects.filter(tenant=tenant_a))
    assert len(ctx.captured_queries) == 2  # the tenant's price rows, the grouped audience
    assert {c.country: c.recipients for c in costs} == {"US": 10, "GB": 10}
    assert {c.country: c.mms_recipients for c in costs} == {"US": 10, "GB": 0}


def test_saved_campaign_preview_prices_and_outsider(api_alice, api_bob, tenant_a, audience):
    from campaigns.tests.factories import CampaignFactory

    CountryPriceFactory(tenant=tenant_a, country="US", sms_price_per_segment=Decimal("0.0100"))
    campaign = CampaignFactory(tenant=tenant_a, body=BODY, link_url="")
    got = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/").json()
    assert got["estimated_cost"] == "0.18"  # 10 × 0.01 + 10 × 0.0083
    assert api_bob.get(f"/api/v1/campaigns/{campaign.pk}/preview/").status_code == 404


def test_admin_table_edits_prices_in_place(alice, tenant_a, tenant_b):
    mine = CountryPriceFactory(tenant=tenant_a, country="GB", sms_price_per_segment=Decimal("0.0400"))
    theirs = CountryPriceFactory(tenant=tenant_b, country="DE", sms_price_per_segment=Decimal("0.0700"))
    client = _login(alice)
    url = reverse("admin:campaigns_countryprice_changelist")
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="form-0-sms_price_per_segment"' in html and "0.0083 per SMS segment" in html
    assert reverse("admin:campaigns_countryprice_change", args=[theirs.pk]) not in html
    resp = client.post(
        url,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(mine.pk),
            "form-0-sms_price_per_segment": "0.0450",
            "form-0-mms_price_per_message": "0.3000",
            "_save": "Save",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    mine.refresh_from_db()
    assert (mine.sms_price_per_segment, mine.mms_price_per_message) == (Decimal("0.0450"), Decimal("0.3000"))


def test_admin_add_checks_the_code_and_duplicates(alice, tenant_a, tenant_b):
    CountryPriceFactory(tenant=tenant_a, country="GB")
    CountryPriceFactory(tenant=tenant_b, country="FR")
    client = _login(alice)
    add = reverse("admin:campaigns_countryprice_add")
    resp = client.post(add, {"country": "XX", "sms_price_per_segment": "0.01"})
    assert resp.status_code == 200 and "Unknown country code" in resp.content.decode()
    resp = client.post(add, {"country": "gb", "sms_price_per_segment": "0.01"})
    assert resp.status_code == 200 and "GB has its prices already" in resp.content.decode()
    resp = client.post(add, {"country": "fr", "sms_price_per_segment": "0.05"})  # Bob's FR is his
    assert resp.status_code == 302
    assert CountryPrice.objects.get(tenant=tenant_a, country="FR").sms_price_per_segment == Decimal("0.05")
    resp = client.post(add, {"country": "DE", "sms_price_per_segment": "-1"})
    assert resp.status_code == 200 and not CountryPrice.objects.filter(country="DE").exists()


def test_admin_outsider_and_viewer(alice, charlie, tenant_a):
    row = CountryPriceFactory(tenant=tenant_a, country="GB")
    change = reverse("admin:campaigns_countryprice_change", args=[row.pk])
    assert _login(alice).get(change).status_code == 200
    assert _login(charlie).get(change).status_code in (302, 404)
    viewer = UserFactory(email="vi@acme.example", tenant=tenant_a, role=Role.VIEWER)
    resp = _login(viewer).post(change, {"country": "GB", "sms_price_per_segment": "9"})
    assert resp.status_code == 403
    row.refresh_from_db()
    assert row.sms_price_per_segment == Decimal("0.0400")
