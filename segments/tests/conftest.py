from __future__ import annotations

import pytest

from campaigns.tests.conftest import always_open


@pytest.fixture
def open_hours(tenant_a, tenant_b):
    """Quiet hours that never close: the fan-out test's outcome does not depend on the hour it runs."""
    always_open(tenant_a, tenant_b)
