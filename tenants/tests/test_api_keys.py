"""API keys (issue #16): made, used, scoped, rotated and revoked through HTTP; stored only as hashes."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiKey, ApiKeyScope, Role
from tenants.services import api_key_create, api_key_revoke
from tenants.tests.factories import TenantFactory, UserFactory, token_for

CONTACTS = "/api/v1/contacts/"
KEYS = "/api/v1/api-keys/"


def _client(secret: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


def _detail(resp) -> str:
    return resp.json()["detail"]


def _tables_holding(text: str) -> list[str]:
    """Every table of the database with a row whose text form contains ``text``."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        found = []
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT 1 FROM {quoted} t WHERE strpos(t::text, %s) > 0 LIMIT 1", [text])  # noqa: S608
            if cursor.fetchone():
                found.append(table)
    return found


@pytest.fixture
def marketer(tenant_a):
    return UserFactory(email="mark@acme.example", tenant=tenant_a, role=Role.MARKETER)


@pytest.fixture
def viewer(tenant_a):
    return UserFactory(email="vera@acme.example", tenant=tenant_a, role=Role.VIEWER)


# --- authentication ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_tenant_prints_a_key_that_works():
    out = StringIO()
    call_command(
        "create_tenant", "--slug", "keys", "--name", "Keys", "--admin-email", "k@keys.example",
        "--admin-password", "a-long-password", stdout=out,
    )  # fmt: skip
    data = json.loads(out.getvalue().strip())
    assert data["tenant"] == "keys"
    assert _client(data["api_token"]).get(CONTACTS).status_code == 200
    key = ApiKey.objects.get(user__email="k@keys.example")
    assert (key.name, key.scope, key.tenant.slug) == ("create_tenant", ApiKeyScope.FULL, "keys")
    assert data["api_token"].startswith(key.prefix + ".")


@pytest.mark.django_db
def test_both_keywords_work_and_a_wrong_key_is_401(alice):
    secret = token_for(alice)
    assert _client(secret).get(CONTACTS).status_code == 200
    assert _client(secret, "Api-Key").get(CONTACTS).status_code == 200
    for bad in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "nodot", "x" * 40, ".", "a.b.c", "é"):
        resp = _client(bad).get(CONTACTS)
        assert resp.status_code == 401, bad
        assert _detail(resp) == "Invalid token"
        assert resp["WWW-Authenticate"] == "Token"
    assert APIClient().get(CONTACTS).status_code == 401


@pytest.mark.django_db
def test_a_revoked_key_is_401(alice):
    key, secret = api_key_create(user=alice, name="ci")
    api_key_revoke(key=key)
    resp = _client(secret).get(CONTACTS)
    assert resp.status_code == 401 and _detail(resp) == "API key revoked"


@pytest.mark.django_db
def test_an_expired_key_is_401(alice):
    key, secret = api_key_create(user=alice, name="ci", expires_at=timezone.now() + dt.timedelta(hours=1))
    assert _client(secret).get(CONTACTS).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() - dt.timedelta(seconds=1))
    resp = _client(secret).get(CONTACTS)
    assert resp.status_code == 401 and _detail(resp) == "API key expired"


@pytest.mark.django_db
def test_an_inactive_users_key_is_401(alice):
    secret = token_for(alice)
    alice.is_active = False
    alice.save()
    assert _client(secret).get(CONTACTS).status_code == 401


@pytest.mark.django_db
def test_a_read_scope_key_only_reads(alice):
    client = _client(token_for(alice, scope=ApiKeyScope.READ))
    assert client.get(CONTACTS).status_code == 200
    resp = client.post(CONTACTS, {"phone_number": "+14155550100"}, format="json")
    assert resp.status_code == 403 and "read-only" in _detail(resp)
    assert client.post(KEYS, {"name": "escalate"}, format="json").status_code == 403
    assert not ApiKey.objects.filter(name="escalate").exists()
    # The same user's full key writes.
    full = _client(token_for(alice))
    assert full.post(CONTACTS, {"phone_number": "+14155550100"}, format="json").status_code == 201


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(alice):
    key, secret = api_key_create(user=alice, name="ci")
    assert key.last_used_at is None
    client = _client(secret)
    client.get(CONTACTS)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    client.get(CONTACTS)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=2))
    client.get(CONTACTS)
    key.refresh_from_db()
    assert key.last_used_at > first - dt.timedelta(seconds=1)


@pytest.mark.django_db
def test_the_secret_is_stored_nowhere(alice, tenant_a):
    client = _client(token_for(alice))
    resp = client.post(KEYS, {"name": "shown once", "scope": "read"}, format="json")
    assert resp.status_code == 201
    secret = resp.json()["key"]
    prefix, _, tail = secret.partition(".")
    assert prefix == resp.json()["prefix"] and len(tail) == 32
    assert _client(secret).get(CONTACTS).status_code == 200  # it is a real, working key
    assert _tables_holding(tail) == []
    assert _tables_holding(prefix) == ["tenants_apikey"]  # the prefix is kept (to find and show the key)
    # And the answers after the first one never carry it.
    listed = client.get(KEYS).content.decode()
    assert tail not in listed and "hashed_key" not in listed and "sha512" not in listed


# --- the api-keys endpoints ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_list_and_revoke(alice, bob):
    client = _client(token_for(alice))
    expires = (timezone.now() + dt.timedelta(days=30)).isoformat()
    resp = client.post(KEYS, {"name": "CRM", "scope": "read", "expires_at": expires}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert {"id", "key", "name", "prefix", "scope", "expires_at"} <= set(body)
    assert (body["name"], body["scope"], body["user"]) == ("CRM", "read", alice.email)
    key = ApiKey.objects.get(pk=body["id"])
    assert key.tenant_id == alice.tenant_id and key.created_by == alice and key.expiry_date is not None

    listed = client.get(KEYS).json()
    assert body["id"] in [row["id"] for row in listed["results"]]
    assert all("key" not in row for row in listed["results"])
    assert client.get(f"{KEYS}{body['id']}/").json()["prefix"] == body["prefix"]

    assert client.delete(f"{KEYS}{body['id']}/").status_code == 204
    assert _client(body["key"]).get(CONTACTS).status_code == 401
    key.refresh_from_db()
    assert key.revoked  # kept as a record
    assert client.delete(f"{KEYS}{body['id']}/").status_code == 204  # twice is harmless

    # Bob's keys are not Alice's to see.
    token_for(bob)
    assert {row["user"] for row in client.get(KEYS).json()["results"]} == {alice.email}


@pytest.mark.django_db
def test_bad_input_is_400_naming_the_field(alice):
    client = _client(token_for(alice))
    past = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    for body, field in (
        ({}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "ok", "scope": "admin"}, "scope"),
        ({"name": "ok", "expires_at": "soon"}, "expires_at"),
        ({"name": "ok", "expires_at": past}, "expires_at"),
    ):
        resp = client.post(KEYS, body, format="json")
        assert resp.status_code == 400 and field in resp.json(), (body, resp.content)
    key = ApiKey.objects.filter(user=alice).first()
    for body, field in (({"grace_seconds": -1}, "grace_seconds"), ({"expires_at": past}, "expires_at")):
        resp = client.post(f"{KEYS}{key.pk}/rotate/", body, format="json")
        assert resp.status_code == 400 and field in resp.json(), (body, resp.content)


@pytest.mark.django_db
def test_rotate_revokes_the_old_key_and_the_new_one_works(alice):
    old, old_secret = api_key_create(user=alice, name="deploy", scope=ApiKeyScope.FULL)
    client = _client(old_secret)
    resp = client.post(f"{KEYS}{old.pk}/rotate/", format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["name"], body["scope"]) == ("deploy", "full") and body["id"] != old.pk
    resp = client.get(CONTACTS)
    assert resp.status_code == 401 and _detail(resp) == "API key revoked"
    assert _client(body["key"]).get(CONTACTS).status_code == 200
    # A revoked key cannot be rotated.
    assert _client(body["key"]).post(f"{KEYS}{old.pk}/rotate/").status_code == 409


@pytest.mark.django_db
def test_rotate_with_grace_keeps_the_old_key_until_then(alice):
    old, old_secret = api_key_create(user=alice, name="deploy")
    resp = _client(old_secret).post(f"{KEYS}{old.pk}/rotate/", {"grace_seconds": 3600}, format="json")
    assert resp.status_code == 201
    old.refresh_from_db()
    assert not old.revoked
    assert dt.timedelta(minutes=59) < old.expiry_date - timezone.now() <= dt.timedelta(hours=1)
    assert _client(old_secret).get(CONTACTS).status_code == 200
    ApiKey.objects.filter(pk=old.pk).update(expiry_date=timezone.now() - dt.timedelta(seconds=1))
    assert _detail(_client(old_secret).get(CONTACTS)) == "API key expired"
    assert _client(resp.json()["key"]).get(CONTACTS).status_code == 200


@pytest.mark.django_db
def test_another_tenants_key_is_404(alice, bob, charlie):
    key, secret = api_key_create(user=alice, name="mine")
    for outsider in (bob, charlie):
        client = _client(token_for(outsider))
        assert client.get(f"{KEYS}{key.pk}/").status_code == 404
        assert client.delete(f"{KEYS}{key.pk}/").status_code == 404
        assert client.post(f"{KEYS}{key.pk}/rotate/").status_code == 404
        assert key.pk not in [row["id"] for row in client.get(KEYS).json()["results"]]
    key.refresh_from_db()
    assert not key.revoked
    assert _client(secret).get(CONTACTS).status_code == 200


@pytest.mark.django_db
def test_admins_manage_the_tenants_keys_marketers_their_own_viewers_none(alice, marketer, viewer):
    alices, _ = api_key_create(user=alice, name="alice's")
    marks, _ = api_key_create(user=marketer, name="mark's")
    admin_client, mark_client = _client(token_for(alice)), _client(token_for(marketer))

    assert {alices.pk, marks.pk} <= {row["id"] for row in admin_client.get(KEYS).json()["results"]}
    assert {row["user"] for row in mark_client.get(KEYS).json()["results"]} == {marketer.email}
    assert mark_client.get(f"{KEYS}{alices.pk}/").status_code == 404
    assert mark_client.delete(f"{KEYS}{alices.pk}/").status_code == 404
    assert mark_client.post(f"{KEYS}{marks.pk}/rotate/").status_code == 201
    assert admin_client.delete(f"{KEYS}{marks.pk}/").status_code == 204  # already rotated: still a 204

    view_client = _client(token_for(viewer))
    assert view_client.get(CONTACTS).status_code == 200  # a viewer's key reads
    assert view_client.get(KEYS).status_code == 403
    assert view_client.post(KEYS, {"name": "v"}, format="json").status_code == 403


@pytest.mark.django_db
def test_the_schema_describes_the_key_header():
    schema = APIClient().get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    operation = schema["paths"]["/api/v1/contacts/"]["get"]
    assert {"tokenAuth": []} in operation["security"]
    assert schema["paths"]["/api/v1/api-keys/{id}/rotate/"]["post"]["tags"] == ["Account"]


# --- the tokens made before API keys ------------------------------------------------------------------------


@pytest.mark.django_db
def test_old_authtoken_tokens_keep_working_after_the_migration(alice, bob):
    """The migration's own function, on an authtoken table like the one a database made before API keys has."""
    migration = importlib.import_module("tenants.migrations.0004_api_keys_from_authtoken")
    root = UserFactory(email="root@example.com", tenant=None, is_superuser=True)
    # Two of them share their first 8 characters: prefixes need not be unique.
    tokens = {alice: "0123abcd" + "1" * 32, bob: "0123abcd" + "2" * 32, root: "f" * 40}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, "
            "user_id bigint NOT NULL UNIQUE)"
        )
        for user, token in tokens.items():
            cursor.execute(
                "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [token, "2026-01-02T03:04:05Z", user.pk]
            )
    made = migration.tokens_to_api_keys(apps, SimpleNamespace(connection=connection))
    assert made == 2  # the superuser's token (no tenant: the API refused it anyway) is dropped

    for user in (alice, bob):
        assert _client(tokens[user]).get(CONTACTS).status_code == 200
        key = ApiKey.objects.get(user=user)
        assert (key.prefix, key.name, key.scope, key.tenant_id) == ("0123abcd", "API token", "full", user.tenant_id)
        assert key.created.year == 2026 and key.created.month == 1
    assert _client(tokens[root]).get(CONTACTS).status_code == 401
    assert _client("0123abcd" + "3" * 32).get(CONTACTS).status_code == 401
    # No plaintext token is left, in that table or any other.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert _tables_holding("1" * 32) == []
    # Revoking and rotating work on them like on any key.
    alices = ApiKey.objects.get(user=alice)
    resp = _client(tokens[alice]).post(f"{KEYS}{alices.pk}/rotate/")
    assert resp.status_code == 201
    assert _client(tokens[alice]).get(CONTACTS).status_code == 401
    assert _client(resp.json()["key"]).get(CONTACTS).status_code == 200


@pytest.mark.django_db
def test_the_migration_does_nothing_without_an_authtoken_table():
    migration = importlib.import_module("tenants.migrations.0004_api_keys_from_authtoken")
    assert migration.tokens_to_api_keys(apps, SimpleNamespace(connection=connection)) == 0


# --- the admin ----------------------------------------------------------------------------------------------


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _secrets(html: str) -> list[str]:
    return re.findall(r'<code class="api-key-value">([^<]+)</code>', html)


@pytest.mark.django_db
def test_admin_shows_the_secret_once_and_never_the_hash(alice, marketer):
    client = _login(alice)
    resp = client.post(
        reverse("admin:tenants_apikey_add"),
        {"name": "zapier", "user": marketer.pk, "scope": "read", "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert resp.status_code == 200, resp.content[:500]
    assert "no-store" in resp["Cache-Control"]
    [secret] = _secrets(resp.content.decode())
    key = ApiKey.objects.get(name="zapier")
    assert (key.user, key.created_by, key.scope, key.tenant_id) == (marketer, alice, "read", alice.tenant_id)
    reader = _client(secret)
    assert reader.get(CONTACTS).status_code == 200
    assert reader.post(CONTACTS, {"phone_number": "+14155550100"}, format="json").status_code == 403

    tail = secret.partition(".")[2]
    for url in (reverse("admin:tenants_apikey_changelist"), reverse("admin:tenants_apikey_change", args=[key.pk])):
        page = client.get(url).content.decode()
        assert key.prefix in page
        assert tail not in page and key.hashed_key.partition("$$")[2] not in page and "hashed" not in page.lower()
    assert _tables_holding(tail) == []


@pytest.mark.django_db
def test_admin_refuses_a_past_expiry_and_another_tenants_user(alice, bob):
    client = _login(alice)
    past = timezone.now() - dt.timedelta(days=1)
    resp = client.post(
        reverse("admin:tenants_apikey_add"),
        {"name": "late", "user": alice.pk, "scope": "full", "expiry_date_0": past.date(), "expiry_date_1": "10:00"},
    )
    assert resp.status_code == 200 and "Must be in the future." in resp.content.decode()
    resp = client.post(reverse("admin:tenants_apikey_add"), {"name": "theirs", "user": bob.pk, "scope": "full"})
    assert resp.status_code == 200 and not _secrets(resp.content.decode())
    assert not ApiKey.objects.filter(name__in=["late", "theirs"]).exists()


@pytest.mark.django_db
def test_admin_rotate_and_revoke_actions(alice):
    key, secret = api_key_create(user=alice, name="deploy")
    client = _login(alice)
    url = reverse("admin:tenants_apikey_changelist")
    resp = client.post(url, {"action": "rotate", "_selected_action": [key.pk]})
    assert resp.status_code == 200
    [new_secret] = _secrets(resp.content.decode())
    assert _client(secret).get(CONTACTS).status_code == 401
    assert _client(new_secret).get(CONTACTS).status_code == 200
    assert "api-key-value" not in client.get(url).content.decode()  # shown once

    new = ApiKey.objects.get(name="deploy", revoked=False)
    resp = client.post(url, {"action": "revoke", "_selected_action": [new.pk]})
    assert resp.status_code == 302
    assert _client(new_secret).get(CONTACTS).status_code == 401


@pytest.mark.django_db
def test_admin_keys_by_role(alice, marketer, viewer, bob):
    alices, _ = api_key_create(user=alice, name="alices-key")
    marks, _ = api_key_create(user=marketer, name="marks-key")
    bobs, _ = api_key_create(user=bob, name="bobs-key")
    url = reverse("admin:tenants_apikey_changelist")

    page = _login(alice).get(url).content.decode()
    assert "alices-key" in page and "marks-key" in page and "bobs-key" not in page

    mark = _login(marketer)
    page = mark.get(url).content.decode()
    assert "marks-key" in page and "alices-key" not in page
    assert mark.get(reverse("admin:tenants_apikey_change", args=[alices.pk])).status_code in (302, 404)
    mark.post(url, {"action": "revoke", "_selected_action": [alices.pk]})
    alices.refresh_from_db()
    assert not alices.revoked
    # A marketer makes keys for themselves only.
    add = mark.get(reverse("admin:tenants_apikey_add")).content.decode()
    assert marketer.email in add and alice.email not in add

    vera = _login(viewer)
    assert vera.get(url).status_code == 403
    assert vera.get(reverse("admin:tenants_apikey_add")).status_code == 403
    assert _login(bob).get(reverse("admin:tenants_apikey_change", args=[marks.pk])).status_code in (302, 404)
    assert bobs.pk


@pytest.mark.django_db
def test_the_library_admin_is_not_registered():
    from django.contrib import admin
    from rest_framework_api_key.models import APIKey

    assert not admin.site.is_registered(APIKey)
    assert admin.site.is_registered(ApiKey)
    assert TenantFactory  # the factories module imports cleanly (token_for, ApiKeyFactory)
