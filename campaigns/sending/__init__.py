"""Sending a campaign, a module per stage of the data path.

``control`` (send, schedule, resume, cancel, kick, finish, the beat tick) →
``fanout`` (one message per recipient, with its link) → ``enqueue`` (every task
put on the broker, by name) → ``dispatch`` (a batch: quiet hours, ``throttle``,
``claims``, the gateway calls, ``outcomes``) → ``resolution`` (unknown outcomes
asked of the gateway). ``heartbeat`` tells the tick's stall sweep a campaign's
work moves; ``pausing`` stops a campaign or a tenant. ``direct`` puts one message to one contact (an
inbox reply, a form's confirmation) through the same stages, on the tenant's carrier campaign. The modules import only
downwards (``.importlinter``); views, admin and tasks use the names below.
"""

from __future__ import annotations

from .control import (
    CampaignStateError,
    campaign_cancel,
    campaign_complete_if_done,
    campaign_progress,
    campaign_requeue,
    campaign_resume,
    campaign_send,
    fanout_run,
    messages_cancel_waiting,
    tick_run,
)
from .pausing import campaign_pause, tenant_sending_pause

__all__ = [
    "CampaignStateError",
    "campaign_cancel",
    "campaign_complete_if_done",
    "campaign_requeue",
    "campaign_pause",
    "campaign_progress",
    "campaign_resume",
    "campaign_send",
    "fanout_run",
    "messages_cancel_waiting",
    "tick_run",
    "tenant_sending_pause",
]
