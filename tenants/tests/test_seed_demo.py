"""seed_demo (make run): idempotent, prints the admin URL of the server make run starts, keeps a changed password."""

from __future__ import annotations

import io

from django.core.management import call_command

from tenants.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tenants.models import Tenant, User


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_first_run_creates_the_login_and_prints_the_admin_url_of_public_base_url(db, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8781"
    out = _seed()
    assert "http://127.0.0.1:8781/admin/" in out
    assert f"Password: {DEMO_PASSWORD}" in out
    assert User.objects.get(email=DEMO_EMAIL).check_password(DEMO_PASSWORD)


def test_a_second_run_keeps_a_changed_password(db):
    _seed()
    user = User.objects.get(email=DEMO_EMAIL)
    user.set_password("changed-by-someone")
    user.save()
    out = _seed()
    user.refresh_from_db()
    assert user.check_password("changed-by-someone")
    assert "kept" in out and f"Password: {DEMO_PASSWORD}" not in out
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(email=DEMO_EMAIL).count() == 1


def test_a_deleted_login_is_created_again(db):
    _seed()
    User.objects.filter(email=DEMO_EMAIL).delete()
    out = _seed()
    assert User.objects.get(email=DEMO_EMAIL).check_password(DEMO_PASSWORD)
    assert f"Password: {DEMO_PASSWORD}" in out
