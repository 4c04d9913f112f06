"""The schema documents every integrations endpoint with examples; /api/docs/ is served without a CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

from common.tests.html import off_site_assets

OURS = ("/api/v1/webhooks/", "/api/v1/webhook-deliveries/", "/api/v1/conversions/")


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_integrations_operation_has_an_example(schema):
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        if path.startswith(OURS)
        for method, op in item.items()
    ]
    assert len(operations) >= 11
    missing = []
    for path, method, op in operations:
        if method == "delete":
            continue  # 204, no body either way
        bodies = [op.get("requestBody", {})] + list(op.get("responses", {}).values())
        if not any("examples" in c for b in bodies for c in b.get("content", {}).values()):
            missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_schema_is_served(db):
    resp = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert resp.status_code == 200
    assert "/api/v1/conversions/" in resp.content.decode()


def test_docs_page_uses_local_static_files_only(db):
    resp = APIClient().get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "swagger-ui" in html.lower()
    assert off_site_assets(html) == []
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, html
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert APIClient().get("/api/redoc/").status_code == 200
