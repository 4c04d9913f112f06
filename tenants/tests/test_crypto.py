from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.db import connection

from tenants.crypto import mask
from tenants.models import Tenant

ROOT = Path(__file__).resolve().parents[2]


def test_auth_token_is_encrypted_at_rest(tenant_a):
    tenant_a.twilio_auth_token = "super-secret-token-1234"
    tenant_a.save()
    with connection.cursor() as cur:
        cur.execute("SELECT twilio_auth_token FROM tenants_tenant WHERE id = %s", [tenant_a.pk])
        raw = cur.fetchone()[0]
    assert "super-secret" not in raw
    assert raw.startswith("fernet:")
    assert Tenant.objects.get(pk=tenant_a.pk).twilio_auth_token == "super-secret-token-1234"


def test_mask_shows_only_the_tail():
    assert mask("abcdefghijkl1234") == "••••••••1234"
    assert "abcd" not in mask("abcdefghijkl1234")
    assert mask("") == ""


def _run_without(*missing: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "DEBUG", *missing}}
    # Real-looking keys: production refuses the published development defaults.
    env.update({"SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    for name in missing:
        env.pop(name, None)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='smscampaigns.settings'; django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_without_secret_key_fails_clearly():
    proc = _run_without("SECRET_KEY")
    assert proc.returncode != 0
    assert "SECRET_KEY is not set" in proc.stderr


def test_production_start_without_encryption_key_fails_clearly():
    proc = _run_without("FIELD_ENCRYPTION_KEY")
    assert proc.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in proc.stderr


def test_production_start_with_both_keys_works():
    proc = _run_without()
    assert proc.returncode == 0, proc.stderr


def _manage(*args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTEST_VERSION", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_manage_py_without_production_config_names_the_missing_variable():
    proc = _manage("migrate", "--plan")
    assert proc.returncode != 0
    assert "Configuration error: SECRET_KEY is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_code_only_commands_run_without_production_config():
    proc = _manage("makemigrations", "--check", "--dry-run")
    assert proc.returncode == 0, proc.stderr
