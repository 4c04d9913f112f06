"""A sample ``data`` for every outgoing event type, in the shape its emitter writes (integrations/events.py,
journeys/engine.py): the REST hooks' ``samples`` answer, and the catalogue in docs/integrations.md (a test keeps the
two and the emitters in step)."""

from __future__ import annotations

from integrations.models import EventType
from integrations.services import EVENT_VERSION

_MESSAGE = {
    "message_id": 981,
    "campaign_id": 3,
    "contact_id": 12,
    "to": "+14155550100",
    "status": "sent",
    "sid": "SM0123456789abcdef0123456789abcdef",
}

SAMPLE_DATA: dict[str, dict] = {
    EventType.MESSAGE_SENT: _MESSAGE,
    EventType.MESSAGE_DELIVERED: {**_MESSAGE, "status": "delivered"},
    EventType.MESSAGE_FAILED: {**_MESSAGE, "status": "undelivered", "error_code": 30003},
    EventType.LINK_CLICKED: {
        "code": "aZ3kP9qL",
        "campaign_id": 3,
        "message_id": 981,
        "contact_id": 12,
        "clicked_at": "2026-12-01T09:00:00.123456+00:00",
        "device_type": "mobile",
        "os": "iOS",
        "browser": "Mobile Safari",
        "country": "US",
    },
    EventType.CONTACT_OPTED_OUT: {"contact_id": 12, "phone_number": "+14155550100", "source": "keyword"},
    EventType.CONTACT_OPTED_IN: {"contact_id": 12, "phone_number": "+14155550100", "source": "keyword"},
    EventType.REPLY_RECEIVED: {"contact_id": 12, "from": "+14155550100", "body": "What time do you open?"},
    EventType.CAMPAIGN_FINISHED: {
        "campaign_id": 3,
        "name": "Spring sale",
        "stats": {"recipients": 1200, "sent": 1180, "delivered": 1150, "failed": 30, "clicks": 240},
    },
    EventType.CAMPAIGN_PAUSED_BY_GUARD: {
        "campaign_id": 3,
        "name": "Spring sale",
        "kind": "anomaly",
        "reason": "30% of the last 200 messages failed with carrier filtering (30007); the threshold is 10%.",
        "figures": {"window": 200, "failed": 60, "filtered": 60, "rate": 0.3, "threshold": 0.1},
    },
    EventType.JOURNEY_WEBHOOK: {
        "journey": {"id": 4, "name": "Welcome", "version": 7},
        "step": {"id": 31, "label": "welcome done"},
        "run": {"id": 5120, "entered_at": "2026-12-01T09:00:00+00:00"},
        "contact": {"id": 12, "phone_number": "+14155550100"},
        "properties": {"cart_value": "49.90"},
    },
}

SAMPLE_IDS = {t: f"00000000-0000-4000-8000-{i:012d}" for i, t in enumerate(EventType.values, start=1)}


def sample_envelope(event_type: str) -> dict:
    """One event as a delivery's body (and a poll's item) carries it."""
    return {
        "id": SAMPLE_IDS[event_type],
        "type": event_type,
        "version": EVENT_VERSION,
        "timestamp": "2026-12-01T09:00:00.123456+00:00",
        "data": SAMPLE_DATA[event_type],
    }
