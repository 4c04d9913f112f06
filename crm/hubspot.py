"""HubSpot's webhook payloads (Webhooks API v3: a JSON list of up to 100 events) read into contact upserts. Pure.

Each event carries ``eventId``, ``subscriptionType``, ``objectId`` (the HubSpot contact id), ``occurredAt`` and,
for ``contact.propertyChange``, ``propertyName`` and ``propertyValue``; never the contact's other properties. So we
upsert what an event carries and remember ``objectId`` as the contact's ``hubspot`` external id; we never call
HubSpot's API. A ``phone`` / ``mobilephone`` change creates the contact (or moves its number); a change of
``firstname``, ``lastname`` or ``email`` updates the contact with that external id (none yet: skipped, said in the
answer); another property goes in the contact's custom fields under its HubSpot name (``hs_`` properties are
HubSpot's own bookkeeping and are skipped). ``contact.creation`` carries no property: it is recorded, and the
phone's property change (subscribe to it) creates the contact. HubSpot's events carry no consent evidence: they
never change consent.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTACT_TOPICS = ("contact.creation", "contact.propertyChange")
PHONE_PROPERTIES = ("phone", "mobilephone")
FIELD_PROPERTIES = {"firstname": "first_name", "lastname": "last_name", "email": "email"}


@dataclass
class HubSpotEvent:
    key: str
    topic: str
    object_id: str
    property_name: str = ""
    property_value: str = ""
    occurred_at: int = 0

    @property
    def is_phone(self) -> bool:
        return self.topic == "contact.propertyChange" and self.property_name in PHONE_PROPERTIES


def events_read(payload) -> list[HubSpotEvent]:
    """The events, phone changes first (a batch may list a new contact's name before its number), then in time
    order. Items without an ``eventId`` are dropped."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise ValueError("The body is not a list of events.")
    events = []
    for item in payload:
        if not isinstance(item, dict) or item.get("eventId") in (None, ""):
            continue
        occurred = item.get("occurredAt")
        events.append(
            HubSpotEvent(
                key=str(item["eventId"])[:200],
                topic=str(item.get("subscriptionType") or "")[:64],
                object_id=str(item.get("objectId") or "")[:64],
                property_name=str(item.get("propertyName") or "")[:100],
                property_value="" if item.get("propertyValue") is None else str(item["propertyValue"])[:1000],
                occurred_at=occurred if isinstance(occurred, int) else 0,
            )
        )
    return sorted(events, key=lambda e: (not e.is_phone, e.occurred_at))


def event_values(event: HubSpotEvent) -> dict | None:
    """``values`` for ``contact_upsert`` from a non-phone property change, or ``None`` when it carries nothing."""
    name = event.property_name
    if name in FIELD_PROPERTIES:
        return {FIELD_PROPERTIES[name]: event.property_value[:254]}
    if not name or name.startswith("hs_"):
        return None
    return {"custom_fields": {name: event.property_value}}
