"""The campaign authoring admin: the form writes the audience, the live preview is scoped and right."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus
from campaigns.tests.factories import CampaignFactory
from common.tests.html import off_site_assets
from contacts.tests.factories import ContactFactory, TagFactory


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def audience(tenant_a, tenant_b):
    vip = TagFactory(tenant=tenant_a, name="vip")
    staff = TagFactory(tenant=tenant_a, name="staff")
    for i in range(3):
        ContactFactory(tenant=tenant_a, first_name="Ada", phone_number=f"+1415555030{i}").tags.add(vip)
    ContactFactory(tenant=tenant_a, first_name="Sam", phone_number="+14155550310").tags.add(vip, staff)
    theirs = TagFactory(tenant=tenant_b, name="vip")
    for i in range(5):
        ContactFactory(tenant=tenant_b, phone_number=f"+1415555040{i}").tags.add(theirs)
    return {"vip": vip, "staff": staff, "theirs": theirs}


def test_add_page_has_preview_panel_and_own_script(alice, audience):
    html = _login(alice).get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert 'id="campaign-preview"' in html
    assert "/static/campaigns/campaign_preview.js" in html
    assert off_site_assets(html) == []
    # The tag pickers offer only the tenant's own tags.
    assert f'value="{audience["vip"].pk}"' in html and f'value="{audience["theirs"].pk}"' not in html


def test_add_writes_audience_from_builder(alice, tenant_a, audience):
    resp = _login(alice).post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Spring",
            "body": "Hi {{first_name|there}}",
            "link_url": "",
            "variants": "",
            "audience_tags": [audience["vip"].pk],
            "exclude_tags": [audience["staff"].pk],
            "field_name": "city",
            "field_value": "Boston",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.tenant == tenant_a and campaign.created_by == alice
    assert campaign.audience == {
        "tags": ["vip"],
        "rules": [{"type": "field_equals", "field": "city", "value": "Boston"}],
        "exclude_tags": ["staff"],
    }


def test_add_refuses_unknown_merge_field(alice):
    resp = _login(alice).post(reverse("admin:campaigns_campaign_add"), {"name": "x", "body": "Hi {{coupon}}"})
    assert resp.status_code == 200
    assert "{{coupon}}" in resp.content.decode()
    assert not Campaign.objects.exists()


def test_preview_endpoint_counts_only_own_contacts(alice, charlie, audience):
    url = reverse("admin:campaigns_campaign_preview")
    data = {"body": "Hi {{first_name}} – don’t miss it", "audience_tags": [audience["vip"].pk]}
    resp = _login(alice).post(url, data)
    assert resp.status_code == 200
    got = resp.json()
    assert got["recipients"] == 4
    (body,) = got["bodies"]
    assert body["sample"].startswith("Hi Ada") or body["sample"].startswith("Hi Sam")
    assert body["encoding"] == "UCS-2" and body["non_gsm"] == ["–", "’"]
    assert body["replacements"] == {"–": "-", "’": "'"}
    excluded = _login(alice).post(url, {**data, "exclude_tags": [audience["staff"].pk]}).json()
    assert excluded["recipients"] == 3
    # Charlie cannot pick Acme's tag, and counts only his own (empty) tenant.
    outsider = _login(charlie).post(url, {"body": "Hi", "audience_tags": [audience["vip"].pk]}).json()
    assert outsider["recipients"] == 0
    assert "audience_tags" in outsider["errors"]
    assert _login(alice).get(url).status_code == 405


def test_preview_reports_bad_body_but_still_counts(alice, audience):
    got = _login(alice).post(reverse("admin:campaigns_campaign_preview"), {"body": "{{zip}}"}).json()
    assert "{{zip}}" in " ".join(got["errors"]["body"])
    assert got["recipients"] == 4


def test_sent_campaign_is_read_only(alice, tenant_a):
    sent = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT, audience={"tags": ["vip"]})
    client = _login(alice)
    url = reverse("admin:campaigns_campaign_change", args=[sent.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="body"' not in page.content.decode()
    assert client.post(url, {"name": "renamed", "body": "x"}).status_code == 403
    sent.refresh_from_db()
    assert sent.name != "renamed"


def test_edit_draft_keeps_audience_in_builder(alice, tenant_a, audience):
    draft = CampaignFactory(tenant=tenant_a, audience={"tags": ["vip"], "exclude_tags": ["staff"]})
    html = _login(alice).get(reverse("admin:campaigns_campaign_change", args=[draft.pk])).content.decode()
    assert f'<option value="{audience["vip"].pk}" selected>' in html
    assert f'<option value="{audience["staff"].pk}" selected>' in html


def test_superuser_previews_the_chosen_tenant(django_user_model, tenant_a, tenant_b, audience):
    root = django_user_model.objects.create_superuser("root@example.com", "pw-123456")
    url = reverse("admin:campaigns_campaign_preview")
    client = _login(root)
    assert client.post(url, {"body": "Hi"}).status_code == 400
    assert client.post(url, {"body": "Hi", "tenant": tenant_a.pk}).json()["recipients"] == 4
    assert client.post(url, {"body": "Hi", "tenant": tenant_b.pk}).json()["recipients"] == 5


def test_campaign_list_shows_progress_without_a_query_per_campaign(alice, tenant_a, tenant_b):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.counters import counts_add

    def page_queries(n_campaigns: int) -> tuple[int, str]:
        for _ in range(n_campaigns):
            c = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
            counts_add(campaign_id=c.pk, deltas={"queued": 3, "pending": 1, "suppressed": 1})
        theirs = CampaignFactory(tenant=tenant_b, status=CampaignStatus.SENDING)
        counts_add(campaign_id=theirs.pk, deltas={"queued": 50})
        client = _login(alice)
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
        return len(ctx.captured_queries), html

    few, html = page_queries(2)
    assert "3 / 5" in html and "50 / 50" not in html  # handed over / total, own tenant only
    many, _ = page_queries(6)
    assert many == few
