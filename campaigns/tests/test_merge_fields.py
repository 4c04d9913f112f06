"""Merge fields beyond the names (#21 part 1): contact and custom fields with defaults, checked against the tenant's
own fields, the preview's worst case over the audience, and the fan-out rendering them without a query per
recipient."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import CampaignStatus, Message
from campaigns.rendering import render
from campaigns.sending.fanout import messages_materialise
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory

URL = "/api/v1/campaigns/"


@pytest.fixture
def cities(tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, first_name="Ada", custom_fields={"city": "Boston", "points": 12})
    ContactFactory(tenant=tenant_a, first_name="Bo", custom_fields={"city": "Springfield-upon-Avon"})
    ContactFactory(tenant=tenant_a, first_name="Cy", custom_fields={})
    ContactFactory(tenant=tenant_b, first_name="Di", custom_fields={"zone": "x" * 120})


def test_render_custom_fields_and_defaults():
    body = "{{first_name|there}} in {{city|your area}} has {{points}} points"
    assert render(body, first_name="Ada", city="Boston", points=12) == "Ada in Boston has 12 points"
    assert render(body, city="") == "there in your area has  points"


def test_api_accepts_custom_and_contact_fields_with_default(api_alice, cities):
    resp = api_alice.post(
        URL, {"name": "c", "body": "Hi {{first_name}} from {{city|your area}} ({{email|no mail}})"}, format="json"
    )
    assert resp.status_code == 201, resp.content


def test_api_unknown_field_names_it_and_the_known_ones(api_alice, cities):
    resp = api_alice.post(URL, {"name": "c", "body": "Hi {{citty}}"}, format="json")
    assert resp.status_code == 400
    message = resp.json()["body"][0]
    assert message.startswith("Unknown merge field {{citty}}: known fields are")
    assert "{{city}}" in message and "{{points}}" in message and "{{first_name}}" in message
    assert "{{zone}}" not in message  # another tenant's custom field


def test_another_tenants_custom_field_is_unknown(api_bob, api_alice, cities):
    assert api_bob.post(URL, {"name": "c", "body": "In {{city}}"}, format="json").status_code == 400
    assert api_bob.post(URL, {"name": "c", "body": "In {{zone}}"}, format="json").status_code == 201
    assert api_alice.post(URL, {"name": "c", "body": "In {{zone}}"}, format="json").status_code == 400


def test_variants_are_checked_against_custom_fields(api_alice, cities):
    variants = [{"body": "A {{city}}", "percent": 50}, {"body": "B {{cty}}", "percent": 50}]
    resp = api_alice.post(URL, {"name": "c", "body": "x", "variants": variants}, format="json")
    assert resp.status_code == 400
    assert "{{cty}}" in resp.json()["variants"][0]


def test_preview_shows_worst_case_over_the_audience(api_alice, api_bob, api_charlie, cities):
    body = "Hi {{first_name}}, news for {{city|your area}}! Reply STOP to opt out"
    resp = api_alice.post(URL + "preview/", {"body": body}, format="json")
    assert resp.status_code == 200, resp.content
    got = resp.json()
    assert got["longest_values"] == {"first_name": 3, "city": len("Springfield-upon-Avon")}
    preview = got["bodies"][0]
    worst = preview["worst_case_sample"]
    assert len(worst) == len(body) - len("{{first_name}}") - len("{{city|your area}}") + 3 + 21
    assert preview["worst_case_units"] == len(worst) and preview["worst_case_encoding"] == "GSM-7"
    # Bob's audience is his own: his contact has no city, so the default is the longest.
    bob = api_bob.post(URL + "preview/", {"body": "In {{zone|your area}}"}, format="json").json()
    assert bob["longest_values"] == {"zone": 120}
    assert bob["bodies"][0]["worst_case_segments"] == 1
    # An outsider's calculator sees none of Alice's contacts, and her fields are unknown to him.
    theirs = api_charlie.post(URL + "preview/", {"body": "x {{first_name}}"}, format="json").json()
    assert theirs["recipients"] == 0 and theirs["longest_values"] == {}
    assert api_charlie.post(URL + "preview/", {"body": "{{city}}"}, format="json").status_code == 400


def test_worst_case_sees_a_value_forcing_ucs2(api_alice, tenant_a, cities):
    ContactFactory(tenant=tenant_a, first_name="Eve", custom_fields={"city": "Kraków"})
    got = api_alice.post(URL + "preview/", {"body": "See you in {{city}}"}, format="json").json()
    assert got["bodies"][0]["worst_case_encoding"] == "UCS-2"


def test_worst_case_counts_extension_characters(api_alice, tenant_a):
    ContactFactory(tenant=tenant_a, first_name="A", custom_fields={"price": "€€€€"})
    ContactFactory(tenant=tenant_a, first_name="B", custom_fields={"price": "12345"})
    got = api_alice.post(URL + "preview/", {"body": "{{price}}"}, format="json").json()
    assert got["bodies"][0]["worst_case_units"] >= 8


def test_worst_case_is_one_aggregate_query(tenant_a, cities):
    from campaigns.authoring import longest_values
    from contacts.models import Contact

    with CaptureQueriesContext(connection) as ctx:
        found = longest_values(Contact.objects.filter(tenant=tenant_a), ["first_name", "city", "points", "email"])
    assert len(ctx.captured_queries) == 1
    assert found["points"].chars == 2 and found["city"].chars == 21


def test_saved_campaign_preview_and_outsider(api_alice, api_bob, tenant_a, cities):
    campaign = CampaignFactory(tenant=tenant_a, body="From {{city|here}}")
    got = api_alice.get(f"{URL}{campaign.pk}/preview/")
    assert got.status_code == 200 and got.json()["longest_values"] == {"city": 21}
    assert api_bob.get(f"{URL}{campaign.pk}/preview/").status_code == 404


def test_fanout_renders_custom_fields_without_a_query_per_recipient(tenant_a, tenant_b):
    for i in range(30):
        ContactFactory(
            tenant=tenant_a,
            first_name=f"N{i}",
            email=f"n{i}@example.com",
            custom_fields={"city": f"C{i}"} if i % 2 else {},
        )
    campaign = CampaignFactory(
        tenant=tenant_a, status=CampaignStatus.SENDING, body="{{first_name}} of {{city|your area}} <{{email}}>"
    )
    with CaptureQueriesContext(connection) as ctx:
        result = messages_materialise(campaign_id=campaign.pk, chunk_size=100)
    assert result.created == 30
    assert len(ctx.captured_queries) < 30
    for m in Message.objects.filter(campaign=campaign).select_related("contact"):
        city = m.contact.custom_fields.get("city") or "your area"
        assert m.body.startswith(f"{m.contact.first_name} of {city} <{m.contact.email}>")


def test_fanout_query_count_does_not_grow_with_recipients(tenant_a):
    def run(n):
        for i in range(n):
            ContactFactory(tenant=tenant_a, custom_fields={"city": f"C{i}"})
        campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING, body="In {{city}}")
        with CaptureQueriesContext(connection) as ctx:
            messages_materialise(campaign_id=campaign.pk, chunk_size=1000)
        Message.objects.all().delete()
        from contacts.models import Contact

        Contact.objects.all().delete()
        return len(ctx.captured_queries)

    run(3)  # the first run reads per-process caches (the guard's screen, settings)
    assert run(5) == run(40)


def test_admin_form_takes_custom_field_and_names_unknown(alice, cities):
    from django.test import Client

    client = Client()
    client.force_login(alice)
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "x", "body": "Hi {{citty}}"})
    assert resp.status_code == 200 and "Unknown merge field {{citty}}" in resp.content.decode()
    resp = client.post(
        reverse("admin:campaigns_campaign_preview"), {"body": "Hi {{city|friend}}", "purpose": "marketing"}
    )
    assert resp.status_code == 200
    assert resp.json()["longest_values"] == {"city": 21}
