"""Sign-up floods, counted per address and per number: past the limit a 429 with ``Retry-After``.

A sign-up texts a confirmation, so a bot that fills the form with a block of premium numbers is paid per text
(SMS pumping). Two fixed-window counters in Redis, the shape of the webhooks' throttle (``common.webhook_throttle``,
whose rate syntax and address reading they share) under the fraud guard's key prefix (``guard.store``):

- every POST from one address, per tenant: ``GROWTH_SIGNUP_PER_ADDRESS`` (default ``10/h``), counted before the
  form is read, honeypot hits and invalid submissions included;
- every valid sign-up of one number, per tenant: ``GROWTH_SIGNUP_PER_NUMBER`` (default ``3/h``).

When Redis does not answer the sign-up is served (a warning, at most once a minute): the fraud guard's country
rules, the honeypot and the sending pipeline's own caps still hold.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings

from common.webhook_throttle import fixed_window_wait
from guard.store import key_prefix, redis_client

logger = logging.getLogger(__name__)
_warned_at = 0.0


def _wait(key: str, rate: str) -> int:
    full = f"{key_prefix()}signup:{key}"
    return fixed_window_wait(full, rate, lambda: redis_client(settings.REDIS_URL), _warn)


def _warn(exc: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        logger.warning("sign-up throttle: Redis failed (%s); sign-ups are served uncounted", type(exc).__name__)


def address_wait(*, tenant_id: int, address: str | None) -> int:
    """Count one POST from ``address``; seconds to wait (0: go on)."""
    return _wait(f"ip:{tenant_id}:{address or 'none'}", settings.GROWTH_SIGNUP_PER_ADDRESS)


def number_wait(*, tenant_id: int, phone_number: str) -> int:
    """Count one sign-up of ``phone_number`` (hashed: no number in clear in Redis); seconds to wait."""
    digest = hashlib.sha256(phone_number.encode()).hexdigest()[:24]
    return _wait(f"n:{tenant_id}:{digest}", settings.GROWTH_SIGNUP_PER_NUMBER)
