"""Fixtures every test can use: two tenants (Alice's and Bob's) and an outsider.

Alice and Bob are admins of tenants A and B; Charlie is a logged-in user of a
third tenant who must never see either. Tests that need Redis ask for
``redis_url``: under CI a missing Redis fails the test instead of skipping it.
"""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from common.browser import CHROMIUM, CHROMIUM_ARGS
from tenants.models import Role
from tenants.tests.factories import TenantFactory, UserFactory, token_for

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def _media_root(tmp_path_factory):
    """Uploaded media (the media app) go to a folder of the test run, never var/media."""
    from django.conf import settings

    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True, scope="session")
def _whitenoise_looks_files_up_per_request():
    """WhiteNoise indexes every static file (the finders' ~300) when its middleware starts: once per process in
    production, but once per test ``Client`` here (each loads the middleware), 0.14 s a client, minutes a suite.
    Looked up per request instead (its DEBUG mode, ``WHITENOISE_AUTOREFRESH``), the same files are served."""
    from django.conf import settings

    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture(autouse=True, scope="session")
def _guard_keys_of_this_run():
    """The fraud guard's Redis counters are per tenant id, and ids repeat between test databases: each run (and
    the workers it starts, through the environment) counts under its own prefix."""
    import uuid

    from django.conf import settings

    prefix = f"smsc:guard:test-{uuid.uuid4().hex[:8]}:"
    os.environ["GUARD_REDIS_PREFIX"] = settings.GUARD_REDIS_PREFIX = prefix


@pytest.fixture
def tenant_a(db):
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(slug="bobs", name="Bob's Bikes")


@pytest.fixture
def alice(tenant_a):
    return UserFactory(email="alice@acme.example", tenant=tenant_a, role=Role.ADMIN)


@pytest.fixture
def bob(tenant_b):
    return UserFactory(email="bob@bobs.example", tenant=tenant_b, role=Role.ADMIN)


@pytest.fixture
def charlie(db):
    return UserFactory(email="charlie@outside.example", tenant=TenantFactory(slug="outside"), role=Role.ADMIN)


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def api_alice(alice):
    return _api(alice)


@pytest.fixture
def api_bob(bob):
    return _api(bob)


@pytest.fixture
def api_charlie(charlie):
    return _api(charlie)


@pytest.fixture
def sent_tasks(monkeypatch):
    """Tasks put on the broker by name (``common.enqueue``), recorded instead of sent: ``[(name, args, kwargs)]``."""
    from common import enqueue

    class Sent(list):
        options: list[dict]

    sent = Sent()
    sent.options = []

    def send_task(name, args=(), kwargs=None, **options):
        sent.append((name, tuple(args), kwargs or {}))
        sent.options.append(options)

    monkeypatch.setattr(enqueue.current_app, "send_task", send_task)
    return sent


@pytest.fixture
def redis_url(settings):
    """The suite's Redis (settings require REDIS_URL: `make test` starts an embedded one when none answers)."""
    return settings.REDIS_URL


@pytest.fixture
def fake_twilio(settings, tenant_a, tenant_b):
    """A local Twilio-compatible server that knows tenants A's and B's credentials."""
    from gateways.fake_twilio import FakeTwilio

    server = FakeTwilio(accounts={t.twilio_account_sid: t.twilio_auth_token for t in (tenant_a, tenant_b)}).start()
    settings.TWILIO_API_BASE_URL = server.base_url
    settings.SMS_GATEWAY = "twilio"
    yield server
    server.stop()


# --- Browser tests (Playwright driving Debian's Chromium; `make browser` / .ci/run install it) --------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per browser-test module (each test opens its own context: fresh cookies).

    Playwright launches it with a fresh temporary profile (its own ``--user-data-dir``), removed on close.
    Playwright's sync API keeps an event loop in this thread while it runs, so Django's async-safety
    check would refuse the ORM calls of the module's tests: it is off while the browser is up, and back
    on (with the loop gone) for every test after the module.
    """
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests (make browser)")
        pytest.skip(f"{CHROMIUM} is missing (make browser installs it)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()
