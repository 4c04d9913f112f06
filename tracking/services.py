"""Delivery tracking: Twilio status callbacks applied to messages.

The delivery-tracking issue fills these in (history, orphans, reconciliation).
The signatures are the seam the sender and the simulator already call.
"""

from __future__ import annotations

from campaigns.models import Message
from campaigns.transitions import message_move
from tenants.models import Tenant

#: Twilio's own statuses → ours (Twilio's "sending" is in flight: our "queued").
TWILIO_STATUS_MAP = {"sending": "queued", "receiving": None, "received": None}


def status_callback_receive(*, tenant: Tenant, params: dict[str, str]) -> bool:
    """Apply one status callback. Returns whether a message moved."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    status = TWILIO_STATUS_MAP.get(raw, raw)
    message_id = Message.objects.filter(tenant=tenant, sid=sid).values_list("id", flat=True).first()
    if not status or message_id is None:
        return False
    fields: dict = {}
    if params.get("ErrorCode"):
        try:
            fields["error_code"] = int(params["ErrorCode"])
        except ValueError:
            pass
    return message_move(message_id=message_id, to=status, **fields) is not None


def status_orphans_apply(*, tenant_id: int, sid: str) -> int:
    """Apply callbacks that arrived for ``sid`` before the sender recorded it. Returns how many."""
    return 0
