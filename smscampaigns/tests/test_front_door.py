"""The front door as a new user meets it: "/" and the admin's "View site", and the API reference at /api/docs/."""

from __future__ import annotations

import importlib
import re
from collections import Counter

import pytest
from django.test import Client
from django.urls import clear_url_caches

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
# Words from the code's internals that must never reach an integrator's reference.
INTERNAL_PHRASES = ("Mixin", "tenant-owned model", "``queryset``", "A read about one of the tenant's campaigns")


@pytest.mark.django_db
def test_root_opens_the_admin(client):
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp["Location"] == "/admin/"
    assert client.get("/", follow=True).status_code == 200  # the admin's login page


@pytest.mark.django_db
def test_view_site_in_the_admin_lands_on_a_page(client, alice):
    client.force_login(alice)
    index = client.get("/admin/")
    assert index.status_code == 200
    match = re.search(r'<a href="([^"]*)">View site</a>', index.content.decode())
    assert match, "the admin's header has a View site link"
    landed = client.get(match.group(1), follow=True)
    assert landed.status_code == 200
    assert landed.redirect_chain and landed.redirect_chain[-1][0] == "/admin/"


@pytest.mark.django_db
def test_the_routes_beside_the_root_still_answer(client, alice):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/contacts/").status_code == 401
    assert client.get("/api/docs/").status_code == 200
    # Twilio's webhooks are mounted and answer (unsigned: refused, never a 404).
    assert client.post("/webhooks/twilio/status/", {}).status_code != 404
    assert client.get("/nothing-here/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("base", ["https://sms.example", "http://127.0.0.1:8000/l"])
def test_short_links_are_not_shadowed_by_the_root_redirect(base, settings, tenant_a):
    import smscampaigns.urls
    from links.services import short_link_create

    settings.SHORT_LINK_BASE_URL = base
    try:
        importlib.reload(smscampaigns.urls)
        clear_url_caches()
        link = short_link_create(tenant=tenant_a, target_url="https://shop.example/spring")
        prefix = "/" if base == "https://sms.example" else "/l/"
        client = Client()
        resp = client.get(f"{prefix}{link.code}", HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)")
        assert resp.status_code == 302
        assert resp["Location"].startswith("https://shop.example/spring")
        assert client.get("/")["Location"] == "/admin/"
    finally:
        settings.SHORT_LINK_BASE_URL = "http://127.0.0.1:8000/l"
        importlib.reload(smscampaigns.urls)
        clear_url_caches()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


@pytest.fixture
def schema(db, client) -> dict:
    resp = client.get("/api/schema/?format=json")
    assert resp.status_code == 200
    return resp.json()


def test_every_operation_has_a_summary_and_a_description_for_integrators(schema):
    operations = dict(_operations(schema))
    assert len(operations) > 40  # the whole API is there, not an empty schema passing vacuously
    problems = []
    for name, op in operations.items():
        summary, description = (op.get("summary") or "").strip(), (op.get("description") or "").strip()
        if not summary:
            problems.append(f"{name}: no summary")
        if not description:
            problems.append(f"{name}: no description")
        for phrase in INTERNAL_PHRASES:
            if phrase in summary or phrase in description:
                problems.append(f"{name}: {phrase!r} in {summary!r} / {description[:80]!r}")
    assert not problems, "\n".join(problems)


def test_operations_are_grouped_by_declared_tags(schema):
    operations = dict(_operations(schema))
    declared = [t["name"] for t in schema.get("tags", [])]
    tags = Counter(tag for op in operations.values() for tag in op.get("tags", []))
    untagged = [name for name, op in operations.items() if not op.get("tags")]
    assert not untagged
    assert len(tags) >= 5, f"operations share too few tags: {dict(tags)}"
    assert max(tags.values()) < len(operations), "every operation shares one tag"
    assert set(tags) <= set(declared), f"undeclared tags: {set(tags) - set(declared)}"
    for expected in ("Contacts", "Campaigns", "Stats", "Compliance", "Webhooks"):
        assert tags[expected] > 0, expected
    ops = {name: op["tags"] for name, op in operations.items()}
    assert ops["POST /api/v1/campaigns/{id}/send/"] == ["Sending"]
    assert ops["GET /api/v1/opt-outs/"] == ["Compliance"]
    assert ops["GET /api/v1/campaigns/{id}/stats/"] == ["Stats"]
    assert ops["POST /api/v1/contacts/import/"] == ["Contacts"]
