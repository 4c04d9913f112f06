"""``rotate_encryption_keys``: every secret moves to the first key, the old one can go, phone lookups keep working."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from twilio.request_validator import RequestValidator

from compliance import hashing
from compliance.models import PhoneHashKey, Suppression, SuppressionSource
from compliance.privacy import contact_erase
from compliance.selectors import (
    consent_events_for,
    is_suppressed,
    suppressed_among,
    suppressed_numbers_sql,
)
from compliance.services import suppression_add
from crm.models import CrmConnection
from crm.tests.factories import CrmConnectionFactory
from integrations.models import EventSubscription
from integrations.services import subscription_create
from tenants import keyrotation
from tenants.crypto import PREFIX, EncryptedTextField
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

K1, K2, K3 = (Fernet.generate_key().decode() for _ in range(3))
ERASED = "+14155550101"  # suppressed, then erased: only its hash is left
CLEAR = "+14155550102"  # suppressed, number kept
NEVER = "+14155550103"  # never suppressed
LATER = "+14155550104"  # suppressed after the rotation, under the new key alone
INBOUND = "/webhooks/twilio/inbound/"


@pytest.fixture(autouse=True)
def fresh_hash_keys():
    """Each test starts and ends like a fresh process: the pinned keys read again."""
    hashing.pinned_keys_forget()
    yield
    hashing.pinned_keys_forget()


@contextmanager
def keys(*fernet_keys: str):
    """FIELD_ENCRYPTION_KEY=<keys>, as processes (re)started with it: nothing cached from before."""
    hashing.pinned_keys_forget()
    with override_settings(FIELD_ENCRYPTION_KEYS=list(fernet_keys)):
        yield
    hashing.pinned_keys_forget()


def rotate(*args: str) -> tuple[int, list[dict], str]:
    """Run the command: (exit code, its JSON lines, its whole output)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("rotate_encryption_keys", *args, stdout=out, stderr=err)
    except CommandError as exc:
        code = 1
        err.write(str(exc))
    text = out.getvalue() + err.getvalue()
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line], text


def by_field(lines: list[dict]) -> dict[tuple[str, str], dict]:
    return {(line["model"], line["field"]): line for line in lines if "field" in line}


def raw(model, pk, column: str) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608 - test's own names
        return cur.fetchone()[0]


def all_ciphertexts() -> dict:
    """Every stored value of every encrypted field, as stored."""
    found = {}
    for field in keyrotation.encrypted_fields():
        with connection.cursor() as cur:
            cur.execute(f'SELECT id, "{field.column}" FROM {field.model._meta.db_table}')  # noqa: S608
            found.update({(field.model._meta.label, field.name, pk): value for pk, value in cur.fetchall()})
    return found


def readable_by(key: str, value: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(value.removeprefix(PREFIX).encode())
        return True
    except Exception:  # noqa: BLE001 - InvalidToken or a malformed value: not readable
        return False


def inbound_stop(tenant, from_number: str):
    """A signed STOP through the real inbound webhook (the tenant's token must decrypt to check it)."""
    params = {
        "MessageSid": "SM" + "7" * 32,
        "AccountSid": tenant.twilio_account_sid,
        "From": from_number,
        "To": tenant.sender,
        "Body": "STOP",
        "NumMedia": "0",
    }
    token = tenant.twilio_auth_token
    signature = RequestValidator(token).compute_signature(settings.PUBLIC_BASE_URL + INBOUND, params)
    return Client().post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature)


def world() -> dict:
    """Under the current keys: two tenants with Twilio tokens, one without, webhook endpoints'
    secrets, a CRM connection's client secret, an erased and a kept suppression, a consent record.
    Returns the plaintexts."""
    acme = TenantFactory(slug="rot-acme", twilio_auth_token="acme-token-" + "a" * 20)
    bobs = TenantFactory(slug="rot-bobs", twilio_auth_token="bobs-token-" + "b" * 20)
    TenantFactory(slug="rot-none", twilio_auth_token="")
    subs = [
        subscription_create(tenant_id=t.pk, url=f"https://crm.example.com/{t.slug}", event_types=["message.sent"])
        for t in (acme, bobs)
    ]
    suppression_add(tenant=acme, phone_number=ERASED, source=SuppressionSource.KEYWORD)
    contact_erase(tenant=acme, phone_number=ERASED)
    suppression_add(tenant=acme, phone_number=CLEAR, source=SuppressionSource.API)
    shop = CrmConnectionFactory(tenant=acme, secret="shpss_" + "c" * 32)
    erased = Suppression.objects.get(tenant=acme, phone_hash=hashing.phone_hash(tenant_id=acme.pk, phone_number=ERASED))
    assert erased.phone_number == ""
    return {
        "acme": acme,
        "bobs": bobs,
        "tokens": {acme.pk: acme.twilio_auth_token, bobs.pk: bobs.twilio_auth_token},
        "secrets": {s.pk: s.secret for s in subs},
        "crm_secrets": {shop.pk: shop.secret},
    }


def assert_reads_back(w: dict) -> None:
    for pk, token in w["tokens"].items():
        assert Tenant.objects.get(pk=pk).twilio_auth_token == token
    for pk, secret in w["secrets"].items():
        assert EventSubscription.objects.get(pk=pk).secret == secret
    for pk, secret in w["crm_secrets"].items():
        assert CrmConnection.objects.get(pk=pk).secret == secret


def assert_phone_lookups(w: dict) -> None:
    acme = w["acme"]
    assert is_suppressed(tenant_id=acme.pk, phone_number=ERASED)
    assert is_suppressed(tenant_id=acme.pk, phone_number=CLEAR)
    assert not is_suppressed(tenant_id=acme.pk, phone_number=NEVER)
    assert suppressed_among(tenant_id=acme.pk, phone_numbers=[ERASED, CLEAR, NEVER]) == {ERASED, CLEAR}
    sql, params = suppressed_numbers_sql(tenant_id=acme.pk, phone_numbers=[ERASED, CLEAR, NEVER])
    with connection.cursor() as cur:
        cur.execute(sql, params)
        assert {row[0] for row in cur.fetchall()} == {ERASED, CLEAR}
    assert consent_events_for(tenant_id=acme.pk, phone_number=ERASED).exists()  # the erased revocation
    assert not is_suppressed(tenant_id=w["bobs"].pk, phone_number=ERASED)  # per tenant


def test_rotation_moves_every_secret_to_the_new_key_and_phone_lookups_survive_the_old_keys_removal(db):
    with keys(K1):
        w = world()
        before = all_ciphertexts()
    covered = {(label, name) for label, name, _ in before}
    assert covered >= {(f.model._meta.label, f.name) for f in keyrotation.encrypted_fields()} - {
        ("compliance.PhoneHashKey", "key")  # pinned by the command itself
    }, "add a row of every encrypted field to world()"

    with keys(K2, K1):
        code, lines, out = rotate("--batch-size", "1")
        assert code == 0, out
        assert lines[0] == {"phone_hash_keys": "pinned", "keys": 2, "dry_run": False}
        fields = by_field(lines)
        assert fields[("tenants.Tenant", "twilio_auth_token")]["scanned"] == 2  # the empty token is no secret
        assert fields[("tenants.Tenant", "twilio_auth_token")]["reencrypted"] == 2
        assert fields[("integrations.EventSubscription", "secret")]["reencrypted"] == 2
        assert fields[("crm.CrmConnection", "secret")]["reencrypted"] == 1
        pinned = fields[("compliance.PhoneHashKey", "key")]
        assert (pinned["scanned"], pinned["current"], pinned["reencrypted"]) == (2, 2, 0)  # written with the first key
        assert lines[-1]["summary"] == {
            "fields": len(keyrotation.encrypted_fields()),
            "scanned": 7,
            "reencrypted": 5,
            "current": 2,
            "unreadable": 0,
            "changing": 0,
        }
        after = all_ciphertexts()
        assert all(readable_by(K2, value) for value in after.values() if value)
        assert all(after[k] != v for k, v in before.items() if v)  # every secret rewritten

    with keys(K2):  # the old key removed, every process restarted
        assert_reads_back(w)
        assert_phone_lookups(w)
        suppression_add(tenant=w["acme"], phone_number=LATER, source=SuppressionSource.API)
        assert is_suppressed(tenant_id=w["acme"].pk, phone_number=LATER)
        # Through HTTP: the token checks the signature, the erased number is found by its hash (no second row).
        n = Suppression.objects.filter(tenant=w["acme"]).count()
        assert inbound_stop(Tenant.objects.get(pk=w["acme"].pk), ERASED).status_code == 200
        assert Suppression.objects.filter(tenant=w["acme"]).count() == n

    with keys(K3, K2):  # a second rotation: the pinned hash keys are re-encrypted, never changed
        code, lines, out = rotate()
        assert code == 0, out
        assert lines[0]["phone_hash_keys"] == "already pinned"
        assert by_field(lines)[("compliance.PhoneHashKey", "key")]["reencrypted"] == 2
    with keys(K3):
        assert_reads_back(w)
        assert_phone_lookups(w)
        assert is_suppressed(tenant_id=w["acme"].pk, phone_number=LATER)


def test_without_the_command_removing_the_old_key_loses_the_erased_hash_and_the_tokens(db):
    """What the command prevents (and what the test above would catch if it did nothing)."""
    with keys(K1):
        w = world()
    with keys(K2):
        assert not is_suppressed(tenant_id=w["acme"].pk, phone_number=ERASED)
        with pytest.raises(Exception, match="Cannot decrypt"):
            Tenant.objects.get(pk=w["acme"].pk)


def test_rerun_re_encrypts_nothing(db):
    with keys(K1):
        world()
    with keys(K2, K1):
        assert rotate()[0] == 0
        before = all_ciphertexts()
        code, lines, _ = rotate()
        assert code == 0
        assert lines[0]["phone_hash_keys"] == "already pinned"
        assert lines[-1]["summary"]["reencrypted"] == 0
        assert lines[-1]["summary"]["current"] == lines[-1]["summary"]["scanned"] == 7
        assert all_ciphertexts() == before


def test_dry_run_changes_nothing(db):
    with keys(K1):
        world()
        before = all_ciphertexts()
    with keys(K2, K1):
        code, lines, _ = rotate("--dry-run")
        assert code == 0
        assert lines[0] == {"phone_hash_keys": "would pin", "keys": 2, "dry_run": True}
        assert lines[-1]["summary"]["reencrypted"] == 5 and lines[-1]["dry_run"] is True
        assert all_ciphertexts() == before
        assert not PhoneHashKey.objects.exists()


def test_a_value_no_key_reads_is_reported_untouched_and_the_rest_rotated(db):
    with keys(K1):
        w = world()
    with keys(K3):  # written with a key the rotation will not have
        stray = subscription_create(tenant_id=w["acme"].pk, url="https://crm.example.com/x", event_types=[])
        stray_secret = stray.secret
    stray_before = raw(EventSubscription, stray.pk, "secret")
    with keys(K2, K1):
        code, lines, out = rotate()
    assert code == 1
    assert "1 encrypted value(s) could not be decrypted" in out
    line = by_field(lines)[("integrations.EventSubscription", "secret")]
    assert line["unreadable"] == 1 and line["unreadable_pks"] == [stray.pk]
    assert line["reencrypted"] == 2
    assert lines[-1]["summary"]["unreadable"] == 1
    assert raw(EventSubscription, stray.pk, "secret") == stray_before
    assert stray_secret not in out and stray_before not in out
    with keys(K2):
        assert_reads_back(w)
        assert_phone_lookups(w)


def test_run_with_only_a_key_that_wrote_nothing_reports_everything_unreadable(db):
    with keys(K1):
        world()
    with keys(K2, K1):
        assert rotate()[0] == 0
    with keys(K1):  # the new key forgotten: pinned hash keys and secrets are all unreadable, none touched
        before = all_ciphertexts()
        code, lines, out = rotate()
        assert code == 1 and "Traceback" not in out
        assert lines[0]["phone_hash_keys"] == "unreadable"
        assert lines[-1]["summary"]["unreadable"] == lines[-1]["summary"]["scanned"] == 7
        assert all_ciphertexts() == before


def test_output_never_holds_a_secret_or_a_ciphertext(db):
    with keys(K1):
        w = world()
        before = all_ciphertexts()
    with keys(K2, K1):
        outputs = [rotate("--dry-run")[2], rotate()[2], rotate()[2]]
        after = all_ciphertexts()
    everything = "\n".join(outputs)
    for secret in [*w["tokens"].values(), *w["secrets"].values(), K1, K2]:
        assert secret not in everything
    for value in [*before.values(), *after.values()]:
        if value:
            assert value not in everything and value.removeprefix(PREFIX)[:40] not in everything


def test_every_encrypted_field_of_every_model_is_rotated(db):
    """Found by class, not listed: a new encrypted field anywhere is covered without touching the command."""
    declared = {
        (model._meta.label, f.name)
        for model in apps.get_models()
        for f in model._meta.get_fields()
        if isinstance(f, EncryptedTextField) and f.model is model
    }
    assert declared >= {
        ("tenants.Tenant", "twilio_auth_token"),
        ("integrations.EventSubscription", "secret"),
        ("compliance.PhoneHashKey", "key"),
    }
    with keys(K1):
        _, lines, _ = rotate("--dry-run")
    assert set(by_field(lines)) == declared


def test_a_value_changed_by_the_app_during_the_run_keeps_the_apps_value(db, monkeypatch):
    """The write is conditional on the value read: a secret rotated by a user meanwhile is not overwritten."""
    with keys(K1):
        w = world()
    acme = w["acme"]
    real_read = keyrotation._read

    def read_then_app_writes(field, *, after, size):
        rows = real_read(field, after=after, size=size)
        if field.name == "twilio_auth_token" and any(pk == acme.pk for pk, _ in rows):
            Tenant.objects.filter(pk=acme.pk).update(twilio_auth_token="changed-by-a-user-" + "c" * 16)
        return rows

    monkeypatch.setattr(keyrotation, "_read", read_then_app_writes)
    with keys(K2, K1):
        code, lines, out = rotate()
    assert code == 0, out
    line = by_field(lines)[("tenants.Tenant", "twilio_auth_token")]
    assert (line["scanned"], line["reencrypted"], line["current"]) == (2, 1, 1)  # the app's write is current
    with keys(K2):
        assert Tenant.objects.get(pk=acme.pk).twilio_auth_token == "changed-by-a-user-" + "c" * 16
        assert Tenant.objects.get(pk=w["bobs"].pk).twilio_auth_token == w["tokens"][w["bobs"].pk]


@pytest.mark.parametrize("size", ["0", "-3", "many"])
def test_batch_size_must_be_a_positive_number(db, size):
    with pytest.raises(CommandError, match="batch-size"):
        call_command("rotate_encryption_keys", "--batch-size", size, stdout=io.StringIO())
