"""Message templates (#21 part 6): saved bodies with a link and media, checked like a campaign's message, and a
campaign started from one through the API and the admin; two tenants, an outsider, a viewer."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from campaigns.authoring import campaign_media_ids
from campaigns.models import Campaign, MessageTemplate
from campaigns.tests.factories import MessageTemplateFactory
from contacts.tests.factories import ContactFactory
from media.tests.factories import MediaFileFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory, token_for


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_templates_through_the_api(api_alice, api_bob, api_charlie, tenant_a):
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston"})
    resp = api_alice.post(
        "/api/v1/templates/",
        {"name": "Spring", "body": "Hi {{first_name|there}} in {{city}}: {{link}}", "link_url": "https://s.example/"},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    url = f"/api/v1/templates/{resp.json()['id']}/"
    assert api_alice.get(url).json()["link_url"] == "https://s.example/"
    for api in (api_bob, api_charlie):
        assert api.get("/api/v1/templates/").json()["results"] == []
        assert api.get(url).status_code == 404
        assert api.delete(url).status_code == 404
    # Checked like a campaign's message.
    bad = api_alice.post("/api/v1/templates/", {"name": "Bad", "body": "Hi {{coupon}}"}, format="json")
    assert bad.status_code == 400 and "coupon" in str(bad.json()["body"])
    nolink = api_alice.post("/api/v1/templates/", {"name": "L", "body": "Go: {{link}}"}, format="json")
    assert nolink.status_code == 400 and "link_url" in nolink.json()
    dup = api_alice.post("/api/v1/templates/", {"name": "Spring", "body": "x"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()
    assert api_alice.patch(url, {"body": "Hello {{first_name}}: {{link}}"}, format="json").status_code == 200
    assert api_alice.delete(url).status_code == 204


def test_a_campaign_starts_from_a_template(api_alice, api_bob, tenant_a, tenant_b):
    image = MediaFileFactory(tenant=tenant_a)
    template = MessageTemplateFactory(
        tenant=tenant_a, body="Hi {{first_name}}: {{link}}", link_url="https://shop.example/", media=[image.pk]
    )
    resp = api_alice.post("/api/v1/campaigns/", {"name": "From T", "template": template.pk}, format="json")
    assert resp.status_code == 201, resp.json()
    got = resp.json()
    assert (got["body"], got["link_url"], got["media"]) == (template.body, template.link_url, [image.pk])
    assert "template" not in got
    # What the request gives wins; the template fills the rest.
    resp = api_alice.post(
        "/api/v1/campaigns/", {"name": "Own", "template": template.pk, "body": "Mine {{link}}"}, format="json"
    )
    assert resp.json()["body"] == "Mine {{link}}" and resp.json()["link_url"] == "https://shop.example/"
    # The campaign keeps its copy.
    MessageTemplate.objects.filter(pk=template.pk).update(body="Changed")
    assert Campaign.objects.get(name="From T").body == "Hi {{first_name}}: {{link}}"
    # Another tenant's template (or none): a 400 naming template.
    theirs = MessageTemplateFactory(tenant=tenant_b)
    resp = api_alice.post("/api/v1/campaigns/", {"name": "X", "template": theirs.pk}, format="json")
    assert resp.status_code == 400 and "template" in resp.json()
    assert api_bob.post("/api/v1/campaigns/", {"name": "X", "template": template.pk}, format="json").status_code == 400


def test_a_viewer_reads_templates_only(tenant_a):
    from rest_framework.test import APIClient

    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(viewer)}")
    template = MessageTemplateFactory(tenant=tenant_a)
    assert api.get(f"/api/v1/templates/{template.pk}/").status_code == 200
    assert api.post("/api/v1/templates/", {"name": "n", "body": "b"}, format="json").status_code == 403


def test_the_admin_saves_a_template_and_a_campaign_starts_from_it(alice, tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston"})
    image = MediaFileFactory(tenant=tenant_a)
    theirs_image = MediaFileFactory(tenant=tenant_b)
    client = _login(alice)
    html = client.get(reverse("admin:campaigns_messagetemplate_add")).content.decode()
    assert f'value="{image.pk}"' in html and f'value="{theirs_image.pk}"' not in html
    resp = client.post(
        reverse("admin:campaigns_messagetemplate_add"),
        {"name": "City", "body": "Hi {{first_name}} in {{city|town}}", "link_url": "", "media_files": [image.pk]},
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    template = MessageTemplate.objects.get()
    assert (template.tenant, template.media, template.created_by) == (tenant_a, [image.pk], alice)
    bad = client.post(reverse("admin:campaigns_messagetemplate_add"), {"name": "Bad", "body": "{{coupon}}"})
    assert bad.status_code == 200 and "coupon" in bad.content.decode()

    # The campaign form offers the tenant's templates; picked, with the body left empty, it fills the message.
    theirs = MessageTemplateFactory(tenant=tenant_b, name="Theirs")
    html = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert f'<option value="{template.pk}">City</option>' in html and "Theirs" not in html
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "T", "template": theirs.pk})
    assert resp.status_code == 200 and not Campaign.objects.exists()
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "T", "template": template.pk})
    assert resp.status_code == 302, resp.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.body == "Hi {{first_name}} in {{city|town}}"
    assert campaign_media_ids(campaign=campaign) == [image.pk]
