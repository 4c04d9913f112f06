"""Fixtures for the sending tests: throttling off unless a test turns it on, windows open."""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.SENDING_THROTTLE_ENABLED = False


def always_open(*tenants):
    """Quiet hours that never close, so a test's outcome does not depend on the hour it runs."""
    for tenant in tenants:
        tenant.quiet_hours_start = dt.time(0, 0)
        tenant.quiet_hours_end = dt.time(23, 59, 59, 999999)
        tenant.legal_quiet_hours = False
        tenant.save(update_fields=["quiet_hours_start", "quiet_hours_end", "legal_quiet_hours"])


@pytest.fixture
def open_hours(tenant_a, tenant_b):
    always_open(tenant_a, tenant_b)


@pytest.fixture
def abroad_allowed(tenant_a, tenant_b):
    """Tenants A and B may text the US, Canada, Puerto Rico and the UK (by default only their own country: the
    fraud guard's geo permissions block the rest, docs/compliance.md)."""
    from guard.tests.factories import allow_countries

    for tenant in (tenant_a, tenant_b):
        allow_countries(tenant, "US, CA, PR, GB")
