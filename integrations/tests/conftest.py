from __future__ import annotations

import pytest

from .receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A live loopback endpoint; loopback is allowed only because this is a test."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    server = Receiver().start()
    yield server
    server.stop()
