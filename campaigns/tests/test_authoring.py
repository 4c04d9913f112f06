"""Campaign authoring over the API: merge-field checks, variants, drafts only, preview and cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.authoring import campaign_variant_pick, sample_link
from campaigns.models import Campaign, CampaignStatus
from campaigns.tests.factories import CampaignFactory
from compliance.models import Suppression
from contacts.tests.factories import ContactFactory, TagFactory


def test_create_is_draft_and_stamped(api_alice, tenant_a, alice):
    resp = api_alice.post(
        "/api/v1/campaigns/",
        {
            "name": "Spring",
            "body": "Hi {{first_name|there}}: {{link}}",
            "link_url": "https://shop.example/s",
            "audience": {"tags": ["vip"]},
        },
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["status"] == "draft" and body["id"]
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.tenant == tenant_a and campaign.created_by == alice
    assert campaign.audience == {"tags": ["vip"]}


def test_no_audience_means_everyone(api_alice):
    resp = api_alice.post("/api/v1/campaigns/", {"name": "All", "body": "Hello"}, format="json")
    assert resp.status_code == 201 and resp.json()["audience"] == {}


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"name": "x", "body": "Hi {{coupon}}"}, "body", "{{coupon}}"),
        ({"name": "x", "body": "Hi {{first name}}"}, "body", "{{first name}}"),
        ({"name": "x", "body": ""}, "body", "required"),
        ({"name": "x"}, "body", "required"),
        ({"name": "x", "body": "a" * 1601}, "body", "1600"),
        ({"name": "x", "body": "Go {{link}}"}, "link_url", "{{link}}"),
        ({"name": "x", "body": "Go {{link}}", "link_url": "ftp://files.example/list.pdf"}, "link_url", "https://"),
        ({"name": "x", "body": "Hi", "link_url": "ftps://files.example/list.pdf"}, "link_url", "https://"),
        ({"name": "x", "body": "Hi", "audience": {"tags": "vip"}}, "audience", "tags"),
        ({"name": "x", "body": "Hi", "audience": {"colour": "red"}}, "audience", "colour"),
        ({"name": "x", "body": "Hi", "audience": {"rules": [{"type": "zodiac"}]}}, "audience", "rule 1"),
        (
            {"name": "x", "body": "Hi", "audience": {"rules": [{"type": "clicked", "campaign": 999999}]}},
            "audience",
            "campaign",
        ),
        ({"name": "x", "body": "Hi", "variants": [{"body": "A", "percent": 100}]}, "variants", "two to four"),
        (
            {"name": "x", "body": "Hi", "variants": [{"body": "A", "percent": 50}, {"body": "B", "percent": 40}]},
            "variants",
            "100",
        ),
        (
            {
                "name": "x",
                "body": "Hi",
                "variants": [{"body": "A {{zip}}", "percent": 50}, {"body": "B", "percent": 50}],
            },
            "variants",
            "{{zip}}",
        ),
    ],
)
def test_bad_campaign_is_400_naming_the_field(api_alice, payload, field, needle):
    resp = api_alice.post("/api/v1/campaigns/", payload, format="json")
    assert resp.status_code == 400, resp.json()
    errors = resp.json()
    assert field in errors, errors
    assert needle in " ".join(errors[field])
    assert Campaign.objects.count() == 0


def test_click_rule_on_another_tenants_campaign_is_rejected(api_alice, tenant_b):
    theirs = CampaignFactory(tenant=tenant_b)
    resp = api_alice.post(
        "/api/v1/campaigns/",
        {"name": "x", "body": "Hi", "audience": {"rules": [{"type": "not_clicked", "campaign": theirs.pk}]}},
        format="json",
    )
    assert resp.status_code == 400 and "audience" in resp.json()


def test_variants_body_is_variant_a_and_picks_are_stable(api_alice):
    variants = [{"body": "A {{first_name}}", "percent": 30}, {"body": "B", "percent": 70}]
    resp = api_alice.post("/api/v1/campaigns/", {"name": "AB", "variants": variants}, format="json")
    assert resp.status_code == 201, resp.json()
    campaign = Campaign.objects.get(pk=resp.json()["id"])
    assert campaign.body == "A {{first_name}}" and campaign.variants == variants
    picks = [campaign_variant_pick(campaign=campaign, contact_id=i) for i in range(2000)]
    assert picks == [campaign_variant_pick(campaign=campaign, contact_id=i) for i in range(2000)]
    share_a = sum(1 for index, _ in picks if index == 0) / len(picks)
    assert 0.25 < share_a < 0.35
    assert {body for _, body in picks} == {"A {{first_name}}", "B"}
    plain = CampaignFactory()
    assert campaign_variant_pick(campaign=plain, contact_id=1) == (None, plain.body)


def test_update_and_delete_only_while_draft(api_alice, tenant_a):
    draft = CampaignFactory(tenant=tenant_a)
    resp = api_alice.patch(f"/api/v1/campaigns/{draft.pk}/", {"body": "New {{last_name}}"}, format="json")
    assert resp.status_code == 200 and resp.json()["body"] == "New {{last_name}}"
    resp = api_alice.patch(f"/api/v1/campaigns/{draft.pk}/", {"body": "{{nope}}"}, format="json")
    assert resp.status_code == 400 and "body" in resp.json()
    resp = api_alice.patch(f"/api/v1/campaigns/{draft.pk}/", {"status": "sent"}, format="json")
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT  # status is not writable here

    sending = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    resp = api_alice.patch(f"/api/v1/campaigns/{sending.pk}/", {"name": "renamed"}, format="json")
    assert resp.status_code == 409 and "draft" in resp.json()["detail"]
    assert api_alice.delete(f"/api/v1/campaigns/{sending.pk}/").status_code == 409
    assert Campaign.objects.filter(pk=sending.pk).exists()
    assert api_alice.delete(f"/api/v1/campaigns/{draft.pk}/").status_code == 204


def test_preview_counts_segments_recipients_and_cost(api_alice, tenant_a, tenant_b, settings):
    settings.SMS_PRICE_PER_SEGMENT = "0.01"
    vip = TagFactory(tenant=tenant_a, name="vip")
    for i in range(4):
        c = ContactFactory(tenant=tenant_a, first_name="Ann", last_name="", phone_number=f"+1415555010{i}")
        c.tags.add(vip)
    long_name = ContactFactory(tenant=tenant_a, first_name="B" * 90, phone_number="+14155550110")
    long_name.tags.add(vip)
    ContactFactory(tenant=tenant_a, first_name="Not vip", phone_number="+14155550111")
    ContactFactory(tenant=tenant_b, first_name="Theirs", phone_number="+14155550112").tags.add(
        TagFactory(tenant=tenant_b, name="vip")
    )
    Suppression.objects.create(tenant=tenant_a, phone_number="+14155550103", source="keyword")

    body = "Hi {{first_name}}, it’s on: " + "x" * 40 + " {{link}}"
    resp = api_alice.post(
        "/api/v1/campaigns/preview/",
        {"body": body, "link_url": "https://shop.example/s", "audience": {"tags": ["vip"]}},
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    data = resp.json()
    assert (data["recipients"], data["suppressed"], data["billable_recipients"]) == (5, 1, 4)
    (only,) = data["bodies"]
    assert only["encoding"] == "UCS-2" and only["non_gsm"] == ["’"] and only["replacements"] == {"’": "'"}
    assert sample_link() in only["sample"]
    # Ann: UCS-2, ~80 units → 2 segments; the 90-B name pushes it to 3 segments.
    assert (only["segments_min"], only["segments_max"]) == (2, 3)
    assert data["total_segments"] == 3 * 2 + 3
    assert Decimal(data["estimated_cost"]) == Decimal("0.09")
    # The one-click fix makes it GSM-7: every Ann message fits in one segment.
    assert only["replaced_body"] == body.replace("’", "'")
    assert only["replaced_segments"] == 1


def test_preview_of_saved_campaign_with_variants(api_alice, api_charlie, tenant_a):
    for i in range(10):
        ContactFactory(tenant=tenant_a, first_name="Al", phone_number=f"+1415555020{i}")
    campaign = CampaignFactory(
        tenant=tenant_a,
        body="A",
        link_url="",
        variants=[{"body": "A", "percent": 50}, {"body": "B " + "é" * 200, "percent": 50}],
    )
    data = api_alice.get(f"/api/v1/campaigns/{campaign.pk}/preview/").json()
    assert [b["label"] for b in data["bodies"]] == ["A", "B"]
    assert [b["recipients"] for b in data["bodies"]] == [5, 5]
    assert data["total_segments"] == 5 * 1 + 5 * 2
    assert api_charlie.get(f"/api/v1/campaigns/{campaign.pk}/preview/").status_code == 404


def test_preview_rejects_bad_body(api_alice):
    resp = api_alice.post("/api/v1/campaigns/preview/", {"body": "{{coupon}}"}, format="json")
    assert resp.status_code == 400 and "body" in resp.json()


def test_estimate_matches_rendering_every_recipient(tenant_a):
    """The estimate is what each recipient gets: never texted before, every one of them gets the opt-out line."""
    from campaigns.authoring import campaign_preview
    from campaigns.rendering import render, with_first_contact_footer
    from campaigns.segments import count_segments
    from compliance.selectors import opt_out_footer
    from contacts.models import Contact

    names = ["Al", "Bea", "Łukasz", "Zoë", "", "Maximilian-Alexander", "李", "Chloé", "Bo"]
    for i in range(60):
        ContactFactory(
            tenant=tenant_a,
            phone_number=f"+1415555{i:04d}",
            first_name=names[i % len(names)] * (1 + i % 4),
            last_name=names[(i * 7) % len(names)],
        )
    body = "Hi {{first_name|friend}} {{last_name}}! " + "Sale on: everything must go today. " * 3 + "{{link}}"
    preview = campaign_preview(tenant=tenant_a, body=body, link_url="https://shop.example")
    link = sample_link()
    footer = opt_out_footer(tenant=tenant_a)
    exact = sum(
        count_segments(
            with_first_contact_footer(render(body, first_name=c.first_name, last_name=c.last_name, link=link), footer)
        ).segments
        for c in Contact.objects.filter(tenant=tenant_a)
    )
    assert preview.first_contacts == 60
    assert preview.total_segments == exact
    assert not preview.extrapolated


def test_api_update_refuses_a_non_web_link_url(api_alice, tenant_a):
    """#15 item 7: only http/https targets, through every door that writes a campaign (create: above)."""
    draft = CampaignFactory(tenant=tenant_a, body="Go {{link}}", link_url="https://shop.example/s")
    resp = api_alice.patch(f"/api/v1/campaigns/{draft.pk}/", {"link_url": "ftp://files.example/x"}, format="json")
    assert resp.status_code == 400 and "link_url" in resp.json(), resp.json()
    draft.refresh_from_db()
    assert draft.link_url == "https://shop.example/s"


def test_admin_form_refuses_a_non_web_link_url(alice):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(alice)
    form = {"name": "Files", "body": "Get it {{link}}", "link_url": "ftp://files.example/x", "variants": ""}
    form["purpose"] = "marketing"  # a field being added beside this work; ignored where the form lacks it
    resp = client.post(reverse("admin:campaigns_campaign_add"), form)
    assert resp.status_code == 200
    assert resp.context["adminform"].form.errors["link_url"] == [
        "The link's target must be a web address starting with http:// or https://."
    ]
    assert not Campaign.objects.filter(name="Files").exists()
    form["link_url"] = "https://files.example/x"
    resp = client.post(reverse("admin:campaigns_campaign_add"), form)
    assert resp.status_code == 302, resp.context["adminform"].form.errors
    assert Campaign.objects.get(name="Files").link_url == "https://files.example/x"
