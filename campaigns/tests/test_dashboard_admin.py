"""The analytics pages in the admin without a browser: scoping, links, CSP-friendly markup, static Chart.js."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from campaigns.counters import counts_add
from campaigns.models import CampaignStatus
from campaigns.tests.factories import CampaignFactory
from common.tests.html import off_site_assets
from tenants.tests.factories import UserFactory


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _dashboard(campaign) -> str:
    return reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])


@pytest.fixture
def sent_a(tenant_a):
    campaign = CampaignFactory(tenant=tenant_a, name="Spring sale", status=CampaignStatus.SENT)
    counts_add(campaign_id=campaign.pk, deltas={"delivered": 7, "failed": 2, "suppressed": 1})
    return campaign


@pytest.fixture
def sent_b(tenant_b):
    return CampaignFactory(tenant=tenant_b, name="Bob's secret launch", status=CampaignStatus.SENT)


def _config(html: str, name: str) -> dict:
    return json.loads(re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html).group(1))


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


def test_dashboard_renders_tiles_config_and_only_external_scripts(alice, sent_a):
    resp = _login(alice).get(_dashboard(sent_a))
    assert resp.status_code == 200
    html = resp.content.decode()
    for kpi in ("recipients", "sent", "delivered", "clicked", "delivery_rate", "click_rate", "opt_out_rate"):
        assert f'data-kpi="{kpi}"' in html
    for chart in ("timeline", "device", "os", "browser", "country", "errors", "variants", "bots"):
        assert f'data-chart="{chart}"' in html
    # No inline script: every <script> has a src, except the JSON data block (not executed).
    for tag in _scripts(html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert off_site_assets(html) == []
    config = _config(html, "dashboard-config")
    assert config["campaign"] == {"id": sent_a.pk, "name": "Spring sale", "status": "sent"}
    assert config["urls"]["stats"] == f"/api/v1/campaigns/{sent_a.pk}/stats/"
    assert config["urls"]["export_messages"] == f"/api/v1/campaigns/{sent_a.pk}/export/messages.csv"
    # The first numbers come with the page (the stats service, not a scan): the tiles fill before any fetch.
    assert config["initial_stats"]["recipients"] == 10 and config["initial_stats"]["delivered"] == 7
    assert resp.context["live"] is False


def test_export_links_answer_csv_with_the_admin_session(alice, sent_a):
    client = _login(alice)
    config = _config(client.get(_dashboard(sent_a)).content.decode(), "dashboard-config")
    for key in ("export_messages", "export_clicks"):
        resp = client.get(config["urls"][key])
        assert resp.status_code == 200, key
        assert resp["Content-Type"].startswith("text/csv") and "attachment" in resp["Content-Disposition"]
        b"".join(resp.streaming_content)


def test_dashboard_is_live_while_sending(alice, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENDING)
    html = _login(alice).get(_dashboard(campaign)).content.decode()
    assert 'data-live="on"' in html
    config = _config(html, "dashboard-config")
    assert config["refresh_ms"] == 5000 and "sending" in config["live_statuses"]


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_another_tenants_dashboard_is_404(request, who, sent_a):
    user = request.getfixturevalue(who)
    resp = _login(user).get(_dashboard(sent_a))
    assert resp.status_code == 404
    assert b"Spring sale" not in resp.content


def test_unknown_or_garbage_id_is_404(alice, sent_a):
    client = _login(alice)
    assert client.get(reverse("admin:campaigns_campaign_dashboard", args=[sent_a.pk + 1000])).status_code == 404
    assert client.get(f"/admin/campaigns/campaign/{sent_a.pk}x/dashboard/").status_code == 404


def test_anonymous_is_sent_to_login(sent_a):
    for url in (_dashboard(sent_a), reverse("analytics-overview")):
        resp = Client().get(url)
        assert resp.status_code == 302
        assert resp["Location"].startswith(reverse("admin:login"))


def test_viewer_role_may_look(tenant_a, sent_a):
    viewer = UserFactory(tenant=tenant_a, role="viewer")
    assert _login(viewer).get(_dashboard(sent_a)).status_code == 200


def test_superuser_sees_the_page_with_a_note_about_the_api(sent_a, django_user_model):
    root = django_user_model.objects.create_superuser(email="root@example.com", password="pw-123456")
    resp = _login(root).get(_dashboard(sent_a))
    assert resp.status_code == 200
    assert "tenant users" in resp.content.decode()


def test_change_page_and_list_link_to_the_dashboard(alice, sent_a, sent_b, tenant_a):
    client = _login(alice)
    change = client.get(reverse("admin:campaigns_campaign_change", args=[sent_a.pk])).content.decode()
    assert f'href="{_dashboard(sent_a)}"' in change
    draft = CampaignFactory(tenant=tenant_a, name="Draft one")
    change = client.get(reverse("admin:campaigns_campaign_change", args=[draft.pk])).content.decode()
    assert "/dashboard/" not in change  # nothing to show before it is sent
    listing = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert f'href="{_dashboard(sent_a)}"' in listing
    assert f'href="{_dashboard(sent_b)}"' not in listing
    assert f'href="{reverse("analytics-overview")}"' in listing


def test_overview_page_and_index_link(alice):
    client = _login(alice)
    resp = client.get(reverse("analytics-overview"))
    assert resp.status_code == 200
    html = resp.content.decode()
    config = _config(html, "overview-config")
    assert config["days"] == 30 and config["urls"]["overview"].startswith("/api/v1/stats/overview/")
    assert config["urls"]["dashboard"] == "/admin/campaigns/campaign/0/dashboard/"
    assert 'data-chart="overview"' in html and 'data-table="campaigns"' in html
    for tag in _scripts(html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    index = client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("analytics-overview")}"' in index


def test_chartjs_is_served_from_our_static_files(client):
    """Installed from npm (package-lock.json) by ``make venv``; a missing ``npm ci`` fails here, not in a browser."""
    path = finders.find("vendor/chartjs/chart.umd.min.js")
    assert path, "node_modules/chart.js is missing: run `make static` (npm ci)"
    with open(path, encoding="utf-8") as fh:
        assert "Chart.js v4" in fh.read(400)


def test_dashboard_shows_reads_and_which_channels_report_them(alice, bob, tenant_a):
    """The Read figure comes with the page (and the stats API it refreshes from), with the channels that report
    reads named, and a read rate only over those channels."""
    from campaigns.tests.factories import MessageFactory
    from campaigns.transitions import message_move

    campaign = CampaignFactory(tenant=tenant_a, name="RCS launch", status=CampaignStatus.SENT)
    read, unread, sms = (MessageFactory(campaign=campaign, status="sent") for _ in range(3))
    counts_add(campaign_id=campaign.pk, deltas={"sent": 3})
    assert message_move(message_id=read.pk, to="read", channel="rcs")
    assert message_move(message_id=unread.pk, to="delivered", channel="whatsapp")
    assert message_move(message_id=sms.pk, to="delivered")

    resp = _login(alice).get(_dashboard(campaign))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'data-kpi="read"' in html and '<span class="an-kpi-label">Read</span>' in html
    assert "Read receipts come from RCS and WhatsApp; SMS and MMS never report reads" in html
    assert "opened" not in html.lower()  # no pixel, no "opens"
    stats = _config(html, "dashboard-config")["initial_stats"]
    assert (stats["delivered"], stats["read"], stats["read_rate"]) == (3, 1, 0.5)
    assert stats["read_channels"] == ["rcs", "whatsapp"] and stats["channels"] == {"rcs": 1, "whatsapp": 1}
    assert _login(bob).get(_dashboard(campaign)).status_code == 404
