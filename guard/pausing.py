"""The guard's pause: the campaign's own pause, with the reason and the figures recorded, announced and audited.

Below ``guard.services`` (which resumes, through the sending control) so the sender's dispatch can pause a
campaign at its cap without importing anything above itself (``.importlinter``: the sending stages import only
downwards).
"""

from __future__ import annotations

import logging

from campaigns.models import Campaign
from campaigns.sending.pausing import campaign_pause
from compliance.models import AuditChannel
from compliance.services import audit_record
from integrations.events import campaign_paused_by_guard_event_emit

from .models import GuardEvent

logger = logging.getLogger(__name__)

#: Every reason the guard writes starts so: the campaign page and the dashboard tell a guard pause by it.
REASON_PREFIX = "Fraud guard: "


def campaign_pause_by_guard(*, campaign: Campaign, kind: str, reason: str, figures: dict) -> GuardEvent | None:
    """Pause a sending campaign for ``reason`` and record why (a ``GuardEvent`` with the figures), emit
    ``campaign.paused_by_guard`` and write the audit log. ``None`` when the campaign was not sending any more (a
    person paused or canceled it meanwhile): nothing is recorded then."""
    reason = reason if reason.startswith(REASON_PREFIX) else REASON_PREFIX + reason
    if not campaign_pause(campaign=campaign, reason=reason):
        return None
    event = GuardEvent.objects.create(
        tenant_id=campaign.tenant_id, campaign=campaign, kind=kind, reason=reason[:300], figures=figures
    )
    campaign_paused_by_guard_event_emit(campaign=campaign, kind=kind, reason=reason, figures=figures)
    try:
        audit_record(
            tenant=campaign.tenant_id,
            channel=AuditChannel.SYSTEM,
            action="guard_pause",
            object_type="campaign",
            object_id=campaign.pk,
            detail={"kind": kind, "reason": reason, "guard_event": event.pk},
        )
    except Exception:  # noqa: BLE001 - the pause stands even if the audit line could not be written
        logger.exception("audit log write failed for a guard pause")
    logger.warning("Fraud guard paused campaign %s (%s)", campaign.pk, kind)
    return event
