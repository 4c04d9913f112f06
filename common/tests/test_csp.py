"""Content-Security-Policy: the header on every kind of page, no inline script or style in what we serve, and a
real browser that loads the dashboard's charts, the campaign form and the API docs without one violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import CampaignStatus
from campaigns.tests.factories import CampaignFactory

ROOT = Path(__file__).resolve().parents[2]


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def _assert_strict(policy: dict[str, list[str]]) -> None:
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'" and "'unsafe-inline'" not in policy["style-src"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]


@pytest.fixture
def admin_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_strict_policy_on_admin_pages_and_the_dashboard(admin_client, tenant_a, client):
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT)
    urls = [
        reverse("admin:index"),
        reverse("admin:campaigns_campaign_add"),
        reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]),
        reverse("analytics-overview"),
        reverse("admin:contacts_contact_changelist"),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        _assert_strict(_policy(response))
    _assert_strict(_policy(client.get(reverse("admin:login"))))
    _assert_strict(_policy(client.get("/no/such/page/")))  # the 404 page


def test_api_docs_allow_their_inline_styles_only(client, db):
    for url in ("/api/docs/", "/api/redoc/"):
        policy = _policy(client.get(url))
        assert policy["script-src"] == ["'self'"], url
        assert policy["style-src"] == ["'self'", "'unsafe-inline'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
    # Swagger UI's start-up script is a file of this origin, not an inline <script>.
    html = client.get("/api/docs/").content.decode()
    assert "<script>" not in html and '<script src="/api/docs/?script="' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_no_admin_changelist_brings_its_inline_style():
    """Django's changelist adds an inline <style> when a ModelAdmin turns off both action bars: none of ours does
    (the policy would block it)."""
    from django.contrib import admin

    bare = [
        type(model_admin).__name__
        for model_admin in admin.site._registry.values()
        if not model_admin.actions_on_top and not model_admin.actions_on_bottom
    ]
    assert bare == []


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> block"),
    (re.compile(r"\sstyle=[\"']", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+=[\"']", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def _project_templates() -> list[Path]:
    skip = {".venv", "node_modules", "staticfiles", "var", ".git"}
    return [p for p in ROOT.rglob("*.html") if not skip & set(p.relative_to(ROOT).parts)]


def test_our_templates_have_no_inline_script_style_or_handler():
    templates = _project_templates()
    assert len(templates) > 5
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in templates
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert found == []


def test_rendered_admin_pages_have_no_inline_script_style_or_handler(admin_client, tenant_a):
    """What Python renders into pages (format_html in list columns, widgets) is checked too."""
    from contacts.tests.factories import ContactFactory

    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT)
    ContactFactory(tenant=tenant_a)
    urls = [
        reverse("admin:campaigns_campaign_changelist"),
        reverse("admin:campaigns_campaign_add"),
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:contacts_contact_add"),
        reverse("admin:contacts_contactimport_add"),
        reverse("analytics-overview"),
    ]
    found = []
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        found += [f"{url}: {what}" for pattern, what in INLINE if pattern.search(html)]
    assert found == []


# A real browser ------------------------------------------------------------------------------------

CONSOLE_VIOLATION = "Content Security Policy"


@pytest.mark.django_db(transaction=True)
def test_browser_loads_charts_form_and_docs_without_a_violation(page, live_server, alice, tenant_a):
    """The policy the server sends (nothing added by the test): the dashboard draws its charts, the campaign
    form's live preview shows its errors, Swagger UI renders; no violation is reported on any of them."""
    from campaigns.tests.test_dashboard_browser import INK_JS, _seed_campaign

    campaign, _messages, _codes = _seed_campaign(tenant_a)
    client = Client()
    client.force_login(alice)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if CONSOLE_VIOLATION in msg.text else None)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )

    response = page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_dashboard', args=[campaign.pk])}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_function("() => Number(document.querySelector('.an-page').dataset.refreshes) >= 1")
    for chart in ("timeline", "device", "os", "browser", "country"):
        assert page.evaluate(INK_JS, chart) > 100, chart
    assert page.evaluate("() => window.__csp") == [] and violations == []

    page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_add')}")
    page.fill("#id_body", "Hello {{first_name}}")
    page.wait_for_selector(".cp-errors", state="hidden")  # shown and hidden by the attribute, no inline style
    page.fill("#id_body", "Hello {{nope}}")
    page.wait_for_selector(".cp-errors", state="visible")
    assert "nope" in page.inner_text(".cp-errors")
    assert page.evaluate("() => window.__csp") == [] and violations == []

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector(".swagger-ui .opblock")  # the schema was fetched and drawn
    assert page.evaluate("() => window.__csp") == [] and violations == []
