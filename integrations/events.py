"""One-line emitters for the places where events happen, so every event type has one payload shape.

Each builds the documented ``data`` (docs/integrations.md) and calls
``services.event_emit``; like it, they never raise and never make HTTP requests.
"""

from __future__ import annotations

import logging

from .models import Event, EventType
from .services import event_emit, tenant_wants, tenants_wanting

logger = logging.getLogger(__name__)

#: Message status → event type (statuses not listed emit nothing).
MESSAGE_EVENTS = {
    "sent": EventType.MESSAGE_SENT,
    "delivered": EventType.MESSAGE_DELIVERED,
    "read": EventType.MESSAGE_DELIVERED,
    "failed": EventType.MESSAGE_FAILED,
    "undelivered": EventType.MESSAGE_FAILED,
}


def message_event_emit(*, message, status: str | None = None) -> Event | None:
    """``message.sent`` / ``message.delivered`` / ``message.failed`` for a message that reached ``status``."""
    try:
        status = status or message.status
        event_type = MESSAGE_EVENTS.get(status)
        if event_type is None:
            return None
        payload = {
            "message_id": message.pk,
            "campaign_id": message.campaign_id,
            "contact_id": message.contact_id,
            "to": message.to,
            "status": status,
            "sid": message.sid,
        }
        if event_type == EventType.MESSAGE_FAILED:
            payload["error_code"] = message.error_code
        return event_emit(tenant_id=message.tenant_id, type=event_type, payload=payload, contact_id=message.contact_id)
    except Exception:  # noqa: BLE001 - never break the caller
        logger.exception("message_event_emit failed")
        return None


def click_event_emit(*, click) -> Event | None:
    """``link.clicked`` for a human click (bots and previews emit nothing).

    Reads ``click.link`` (a ShortLink) and, where the click has them, ``device_type``,
    ``os``, ``browser``, ``country`` and ``created_at``.
    """
    try:
        if getattr(click, "is_bot", False):
            return None
        link = click.link
        message = link.message if link.message_id else None
        contact_id = message.contact_id if message is not None else None
        payload = {
            "code": link.code,
            "campaign_id": link.campaign_id,
            "message_id": link.message_id,
            "contact_id": contact_id,
            "clicked_at": getattr(click, "created_at", None),
        }
        for field in ("device_type", "os", "browser", "country"):
            payload[field] = getattr(click, field, None)
        return event_emit(tenant_id=link.tenant_id, type=EventType.LINK_CLICKED, payload=payload, contact_id=contact_id)
    except Exception:  # noqa: BLE001 - never break the redirect
        logger.exception("click_event_emit failed")
        return None


def contact_opt_event_emit(
    *, tenant_id: int, phone_number: str, opted_out: bool, source: str, contact_id: int | None = None
) -> Event | None:
    """``contact.opted_out`` or ``contact.opted_in``."""
    return event_emit(
        tenant_id=tenant_id,
        type=EventType.CONTACT_OPTED_OUT if opted_out else EventType.CONTACT_OPTED_IN,
        payload={"contact_id": contact_id, "phone_number": phone_number, "source": source},
        contact_id=contact_id,
    )


def reply_event_emit(*, tenant_id: int, from_number: str, body: str, contact_id: int | None = None) -> Event | None:
    """``reply.received`` for an inbound message."""
    return event_emit(
        tenant_id=tenant_id,
        type=EventType.REPLY_RECEIVED,
        payload={"contact_id": contact_id, "from": from_number, "body": body},
        contact_id=contact_id,
    )


def campaign_finished_event_emit(*, campaign, stats: dict | None = None) -> Event | None:
    """``campaign.finished`` (no contact: not ordered with contacts' events)."""
    return event_emit(
        tenant_id=campaign.tenant_id,
        type=EventType.CAMPAIGN_FINISHED,
        payload={"campaign_id": campaign.pk, "name": campaign.name, "stats": stats or {}},
    )


def campaign_paused_by_guard_event_emit(*, campaign, kind: str, reason: str, figures: dict) -> Event | None:
    """``campaign.paused_by_guard``: the fraud guard paused a sending campaign (``kind``: ``anomaly`` or ``cap``),
    with its reason and the figures that crossed the threshold (no contact: not ordered with contacts' events)."""
    return event_emit(
        tenant_id=campaign.tenant_id,
        type=EventType.CAMPAIGN_PAUSED_BY_GUARD,
        payload={"campaign_id": campaign.pk, "name": campaign.name, "kind": kind, "reason": reason, "figures": figures},
    )


def clicks_events_emit(*, clicks: list[dict], code_of_link: dict[int, str]) -> int:
    """``link.clicked`` for each human click of a written batch (rows as the links app inserts them).

    One read for the whole batch decides which tenants want the event at all, so a
    tenant without endpoints costs the click writer nothing per click.
    """
    try:
        human = [c for c in clicks if not c.get("is_bot")]
        if not human:
            return 0
        wanting = tenants_wanting(type=EventType.LINK_CLICKED, tenant_ids={c["tenant_id"] for c in human})
        emitted = 0
        for c in human:
            if c["tenant_id"] not in wanting:
                continue
            payload = {
                "code": code_of_link.get(c["link_id"], ""),
                "campaign_id": c.get("campaign_id"),
                "message_id": c.get("message_id"),
                "contact_id": c.get("contact_id"),
                "clicked_at": c.get("clicked_at"),
                "device_type": c.get("device_type"),
                "os": c.get("os_family"),
                "browser": c.get("browser_family"),
                "country": c.get("country"),
            }
            if event_emit(
                tenant_id=c["tenant_id"], type=EventType.LINK_CLICKED, payload=payload, contact_id=c.get("contact_id")
            ):
                emitted += 1
        return emitted
    except Exception:  # noqa: BLE001 - never break the click writer
        logger.exception("clicks_events_emit failed")
        return 0


def message_moved_emit(*, tenant_id: int, message_id: int, status: str) -> Event | None:
    """The status-webhook hook: an event for a move only when the tenant wants that event type."""
    event_type = MESSAGE_EVENTS.get(status)
    if event_type is None or not tenant_wants(tenant_id=tenant_id, type=event_type):
        return None
    from campaigns.models import Message

    message = Message.objects.filter(pk=message_id, tenant_id=tenant_id).first()
    return message_event_emit(message=message, status=status) if message is not None else None
