"""The segment editor in the admin (rows, no JSON), its live count, and the campaign form's Segment choice."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign
from common.tests.html import off_site_assets
from contacts.tests.factories import ContactFactory, TagFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory
from tenants.models import Role
from tenants.tests.factories import UserFactory


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rows(*rows) -> dict:
    """Form data for condition rows: (group, what, field, op, value, days)."""
    data = {}
    for i, (group, what, field, op, value, days) in enumerate(rows):
        data.update(
            {
                f"c{i}_group": group,
                f"c{i}_what": what,
                f"c{i}_field": field,
                f"c{i}_op": op,
                f"c{i}_value": value,
                f"c{i}_days": days,
            }
        )
    return data


def test_a_marketer_builds_an_or_segment_from_rows(alice, tenant_a, tenant_b):
    vip = TagFactory(tenant=tenant_a, name="vip")
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston", "orders": 3})
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston", "orders": 1})
    ContactFactory(tenant=tenant_a).tags.add(vip)
    ContactFactory(tenant=tenant_b, custom_fields={"city": "Boston", "orders": 9})
    client = _login(alice)
    html = client.get(reverse("admin:segments_segment_add")).content.decode()
    assert 'id="segment-count"' in html and "/static/segments/segment_count.js" in html
    assert off_site_assets(html) == [] and "<script>" not in html
    data = {
        "name": "Boston buyers or VIPs",
        "description": "",
        **_rows(
            (1, "field", "city", "equals", "boston", ""),
            (1, "field", "orders", "gte", "2", ""),
            (2, "tag", "", "equals", "vip", ""),
        ),
    }
    # The live count for the unsaved rows.
    counted = client.post(reverse("admin:segments_segment_count"), data).json()
    assert counted["errors"] == [] and counted["count"] == 2
    resp = client.post(reverse("admin:segments_segment_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    seg = Segment.objects.get()
    assert seg.tenant == tenant_a and seg.created_by == alice
    assert seg.definition == {
        "groups": [
            [
                {"type": "field", "field": "city", "op": "equals", "value": "boston"},
                {"type": "field", "field": "orders", "op": "gte", "value": "2"},
            ],
            [{"type": "tag", "op": "has", "value": "vip"}],
        ]
    }
    # The change page shows the rows back and the count now.
    html = client.get(reverse("admin:segments_segment_change", args=[seg.pk])).content.decode()
    assert 'value="orders"' in html and "2 (consent granted 2" in html


def test_bad_rows_say_which_and_nothing_is_saved(alice):
    client = _login(alice)
    data = {"name": "Bad", **_rows((1, "clicked", "", "in_last_days", "", ""))}
    resp = client.post(reverse("admin:segments_segment_add"), data)
    assert resp.status_code == 200
    assert "group 1, condition 1" in resp.content.decode() and "days" in resp.content.decode()
    assert not Segment.objects.exists()
    counted = client.post(reverse("admin:segments_segment_count"), data).json()
    assert "days" in counted["errors"][0]
    # No rows at all: said, not a crash.
    resp = client.post(reverse("admin:segments_segment_add"), {"name": "Empty"})
    assert resp.status_code == 200 and "at least one group" in resp.content.decode()


def test_other_tenant_outsider_and_viewer(alice, bob, charlie, tenant_a):
    seg = SegmentFactory(tenant=tenant_a, name="Mine")
    change = reverse("admin:segments_segment_change", args=[seg.pk])
    for user in (bob, charlie):
        assert _login(user).get(change).status_code in (302, 404)
        assert "Mine" not in _login(user).get(reverse("admin:segments_segment_changelist")).content.decode()
    viewer = UserFactory(tenant=tenant_a, role=Role.VIEWER)
    html = _login(viewer).get(change).content.decode()
    assert "consent is granted" in html  # read as words
    resp = _login(viewer).post(change, {"name": "Changed", **_rows((1, "consent", "", "equals", "unknown", ""))})
    assert resp.status_code == 403
    assert Segment.objects.get(pk=seg.pk).name == "Mine"


def test_the_campaign_form_offers_the_tenants_segments(alice, tenant_a, tenant_b):
    ContactFactory(tenant=tenant_a, consent_status="granted")
    mine = SegmentFactory(tenant=tenant_a, name="Granted")
    theirs = SegmentFactory(tenant=tenant_b, name="Theirs")
    client = _login(alice)
    html = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert f'<option value="{mine.pk}">Granted</option>' in html and "Theirs" not in html
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "S", "body": "Hi", "segment": theirs.pk})
    assert resp.status_code == 200 and not Campaign.objects.exists()
    preview = client.post(reverse("admin:campaigns_campaign_preview"), {"body": "Hi", "segment": mine.pk}).json()
    assert preview["recipients"] == 1
    resp = client.post(reverse("admin:campaigns_campaign_add"), {"name": "S", "body": "Hi", "segment": mine.pk})
    assert resp.status_code == 302, resp.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.audience == {"segment": mine.pk}
    html = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert f'<option value="{mine.pk}" selected>Granted</option>' in html


def test_the_live_count_is_for_the_users_own_tenant_whatever_tenant_is_posted(alice, tenant_a, tenant_b):
    """``tenants.admin_scoping.form_tenant``: a tenant's user counts their own contacts even when the form posts
    another tenant's id; a superuser counts the posted tenant's, and is asked to pick one when none is posted."""
    ContactFactory(tenant=tenant_a, custom_fields={"city": "Boston"})
    for _ in range(3):
        ContactFactory(tenant=tenant_b, custom_fields={"city": "Boston"})
    data = {"name": "Boston", **_rows((1, "field", "city", "equals", "boston", ""))}
    url = reverse("admin:segments_segment_count")

    mine = _login(alice).post(url, {**data, "tenant": tenant_b.pk}).json()
    assert mine["errors"] == [] and mine["count"] == 1

    root = UserFactory(email="root@example.com", tenant=None, is_superuser=True, is_staff=True)
    theirs = _login(root).post(url, {**data, "tenant": tenant_b.pk}).json()
    assert theirs["errors"] == [] and theirs["count"] == 3
    unpicked = _login(root).post(url, data)
    assert unpicked.status_code == 400 and unpicked.json() == {"errors": ["Pick the tenant first."]}
    assert _login(root).post(url, {**data, "tenant": "x"}).status_code == 400
