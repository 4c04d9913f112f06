"""A sending campaign's heartbeat: proof, kept in Redis for ``SENDING_STALL_SECONDS``, that its work moves.

The fan-out beats once per chunk and every sender at most once a second while it
claims; the beat tick's stall sweep (``control._rekick_stalled``) kicks a sending
campaign with no heartbeat. Losing the keys (Redis restarted) only costs a kick,
which the claims' compare-and-set makes harmless.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY = "smsc:campaign-alive:{}"


def campaign_heartbeat(campaign_id: int) -> None:
    """Say the campaign's work is moving: the stall sweep leaves it alone for ``SENDING_STALL_SECONDS``."""
    try:
        cache.set(KEY.format(campaign_id), 1, timeout=settings.SENDING_STALL_SECONDS)
    except Exception:  # noqa: BLE001 - Redis down: the sweep kicks it once more, which is harmless
        logger.warning("Could not record campaign %s's heartbeat", campaign_id)


def campaigns_alive(campaign_ids: list[int]) -> set[int]:
    """The campaigns among ``campaign_ids`` that beat within the last ``SENDING_STALL_SECONDS``."""
    found = cache.get_many([KEY.format(cid) for cid in campaign_ids])
    return {cid for cid in campaign_ids if KEY.format(cid) in found}
