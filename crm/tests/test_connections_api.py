"""/api/v1/crm-connections/: the secret is write-only and encrypted; each tenant sees its own."""

from __future__ import annotations

import pytest
from django.db import connection as db

from crm.models import CrmConnection

pytestmark = pytest.mark.django_db

URL = "/api/v1/crm-connections/"


def test_create_shows_the_url_never_the_secret(api_alice, api_bob, api_charlie, tenant_a, settings):
    answer = api_alice.post(
        URL, {"kind": "shopify", "name": "acme.myshopify.com", "secret": "shpss_abc123"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert "secret" not in data and data["secret_masked"].endswith("c123")
    row = CrmConnection.objects.get(pk=data["id"])
    assert row.tenant_id == tenant_a.pk and row.secret == "shpss_abc123"
    assert data["webhook_url"] == f"{settings.PUBLIC_BASE_URL}/webhooks/shopify/{row.token}/"
    with db.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT secret FROM crm_crmconnection WHERE id = %s", [row.pk])
        stored = cursor.fetchone()[0]
    assert "shpss_abc123" not in stored and stored.startswith("fernet:")

    assert api_bob.get(f"{URL}{row.pk}/").status_code == 404
    assert api_charlie.delete(f"{URL}{row.pk}/").status_code == 404
    bob_rows = api_bob.get(URL).json()
    assert (bob_rows["results"] if isinstance(bob_rows, dict) else bob_rows) == []

    changed = api_alice.patch(f"{URL}{row.pk}/", {"kind": "hubspot"}, format="json")
    assert changed.status_code == 400 and "kind" in changed.json()
    assert api_alice.patch(f"{URL}{row.pk}/", {"active": False}, format="json").json()["active"] is False


def test_bad_input_names_the_field(api_alice):
    answer = api_alice.post(URL, {"kind": "salesforce", "secret": "x"}, format="json")
    assert answer.status_code == 400 and "kind" in answer.json()
    answer = api_alice.post(URL, {"kind": "hubspot"}, format="json")
    assert answer.status_code == 400 and "secret" in answer.json()
