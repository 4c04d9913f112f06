"""Writes for crm: connections, the Shopify and HubSpot webhooks' effects, REST hooks.

A webhook's effects and its ``InboundEvent`` row are written in one transaction: a failure leaves neither (the
platform retries), and a delivery whose key was already recorded changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from contacts.upsert import UpsertError, contact_upsert, merge_policy_get
from integrations import services as integrations_services
from integrations.models import EventSubscription

from . import hubspot, selectors, shopify
from .models import CrmConnection, InboundEvent, RestHook

logger = logging.getLogger(__name__)


@dataclass
class WebhookResult:
    """What one webhook delivery did: the JSON answer's body."""

    received: int = 0
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    outcomes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "outcomes": self.outcomes[:100],
        }


# --- connections ----------------------------------------------------------------------------------------------


def connection_create(*, tenant_id: int, kind: str, secret: str, name: str = "", active: bool = True) -> CrmConnection:
    return CrmConnection.objects.create(tenant_id=tenant_id, kind=kind, secret=secret, name=name, active=active)


def _received(connection: CrmConnection) -> None:
    CrmConnection.objects.filter(pk=connection.pk).update(received=F("received") + 1, last_received_at=timezone.now())


def _claim(*, connection: CrmConnection, key: str, topic: str, object_id: str) -> InboundEvent | None:
    """The event row for ``key``, or ``None`` when this key was already acted on (inside the caller's atomic)."""
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(
                tenant_id=connection.tenant_id, connection=connection, key=key, topic=topic, object_id=object_id
            )
    except IntegrityError:
        return None


def _clean_email(values: dict) -> None:
    if values.get("email"):
        try:
            validate_email(values["email"])
        except ValidationError:
            values.pop("email")


# --- Shopify --------------------------------------------------------------------------------------------------


def shopify_webhook_handle(*, connection: CrmConnection, topic: str, delivery_key: str, payload) -> WebhookResult:
    """Act on one verified Shopify delivery. ``delivery_key``: ``X-Shopify-Webhook-Id`` (or, without it, the topic,
    the object's id and its ``updated_at``: a resend of the same state)."""
    result = WebhookResult(received=1)
    if topic not in (*shopify.ORDER_TOPICS, *shopify.CUSTOMER_TOPICS):
        result.skipped = 1
        result.outcomes.append(f"{topic or 'no topic'}: not a topic this connection acts on")
        return result
    object_id = str(payload.get("id", ""))[:64] if isinstance(payload, dict) else ""
    if not delivery_key:
        updated = payload.get("updated_at", "") if isinstance(payload, dict) else ""
        delivery_key = f"{topic}:{object_id}:{updated}"[:200]
    with transaction.atomic():
        event = _claim(connection=connection, key=delivery_key, topic=topic, object_id=object_id)
        if event is None:
            result.duplicates = 1
            result.outcomes.append("duplicate delivery: nothing changed")
            return result
        try:
            if topic in shopify.ORDER_TOPICS:
                outcome = _shopify_order(connection, shopify.order_read(payload))
            else:
                outcome = _shopify_customer(connection, shopify.customer_read(payload))
        except (shopify.PayloadError, UpsertError) as exc:
            outcome = f"skipped: {exc}"
        event.outcome = outcome[:300]
        event.save(update_fields=["outcome"])
        _received(connection)
    if outcome.startswith("skipped"):
        result.skipped = 1
    else:
        result.processed = 1
    result.outcomes.append(outcome)
    return result


def _shopify_order(connection: CrmConnection, order: shopify.Order) -> str:
    """A conversion for the order, attributed to the link (campaign or journey step) that brought it."""
    tenant = connection.tenant
    now = timezone.now()
    at = min(order.created_at or now, now)
    contact = selectors.order_contact(tenant=tenant, order=order)
    link, how = selectors.order_link(tenant=tenant, order=order, contact=contact, at=at)
    if link is None and contact is None:
        return "skipped: no short-link code and no known contact on the order (not attributed)"
    if link is not None and link.message_id and contact is not None and link.message.contact_id != contact.pk:
        contact = None  # the code wins: conversion_record takes the contact from the link's message
    conversion, created = integrations_services.conversion_record(
        tenant_id=tenant.pk,
        order_id=order.order_id,
        value=order.value,
        currency=order.currency,
        link=link,
        contact=contact,
    )
    if not created:
        return f"order {order.order_id}: already recorded (conversion {conversion.pk})"
    target = f"campaign {conversion.campaign_id} by {how}" if conversion.campaign_id else "contact only"
    return f"order {order.order_id}: conversion {conversion.pk} ({target})"


def _shopify_customer(connection: CrmConnection, data: dict) -> str:
    tenant = connection.tenant
    phone = data.pop("phone_number")
    numbers = selectors.phones_normalize(tenant=tenant, phones=[phone] if phone else [])
    _clean_email(data["values"])
    outcome = contact_upsert(
        tenant=tenant, phone_number=numbers[0] if numbers else None, policy=merge_policy_get(tenant=tenant), **data
    )
    verb = "created" if outcome.created else "updated" if outcome.changed else "unchanged"
    notes = f"; ignored: {' '.join(outcome.ignored)}" if outcome.ignored else ""
    return f"customer {data['external_id']}: contact {outcome.contact.pk} {verb}{notes}"


# --- HubSpot --------------------------------------------------------------------------------------------------


def hubspot_webhook_handle(*, connection: CrmConnection, payload) -> WebhookResult:
    """Act on a verified HubSpot delivery (a list of events), each event once by its ``eventId``."""
    events = hubspot.events_read(payload)
    result = WebhookResult(received=len(events))
    tenant = connection.tenant
    policy = merge_policy_get(tenant=tenant)
    for item in events:
        with transaction.atomic():
            event = _claim(connection=connection, key=item.key, topic=item.topic, object_id=item.object_id)
            if event is None:
                result.duplicates += 1
                continue
            try:
                outcome = _hubspot_event(connection, item, policy)
            except UpsertError as exc:
                outcome = f"skipped: {exc}"
            event.outcome = outcome[:300]
            event.save(update_fields=["outcome"])
            _received(connection)
        if outcome.startswith("skipped"):
            result.skipped += 1
        else:
            result.processed += 1
        result.outcomes.append(f"{item.key}: {outcome}")
    return result


def _hubspot_event(connection: CrmConnection, item: hubspot.HubSpotEvent, policy) -> str:
    tenant = connection.tenant
    if item.topic not in hubspot.CONTACT_TOPICS:
        return f"skipped: {item.topic or 'no subscriptionType'} is not acted on"
    if not item.object_id:
        return "skipped: no objectId"
    if item.topic == "contact.creation":
        return f"recorded: HubSpot contact {item.object_id} created (the phone's property change creates ours)"
    if item.is_phone:
        numbers = selectors.phones_normalize(tenant=tenant, phones=[item.property_value])
        if not numbers:
            return f"skipped: {item.property_name} is not a phone number"
        outcome = contact_upsert(
            tenant=tenant, phone_number=numbers[0], source="hubspot", external_id=item.object_id, policy=policy
        )
    else:
        values = hubspot.event_values(item)
        if values is None:
            return f"skipped: property {item.property_name or '?'} is not kept"
        _clean_email(values)
        if not values:
            return "skipped: email is not an email address"
        outcome = contact_upsert(
            tenant=tenant,
            phone_number=None,
            values=values,
            source="hubspot",
            external_id=item.object_id,
            policy=policy,
        )
    verb = "created" if outcome.created else "updated" if outcome.changed else "unchanged"
    return f"contact {outcome.contact.pk} {verb}"


# --- REST hooks (Zapier, Make, n8n) ---------------------------------------------------------------------------


def hook_subscribe(*, tenant_id: int, target_url: str, event: str) -> tuple[RestHook, str]:
    """A subscription of ``target_url`` to ``event``; ``(hook, signing secret)``."""
    with transaction.atomic():
        subscription = integrations_services.subscription_create(
            tenant_id=tenant_id, url=target_url, event_types=[event], description=f"REST hook: {event}"[:200]
        )
        hook = RestHook.objects.create(
            tenant_id=tenant_id, subscription=subscription, event=event, target_url=target_url
        )
    return hook, subscription.secret


def hook_unsubscribe(*, hook: RestHook) -> None:
    """Remove the hook and its subscription (deliveries still waiting for it go with it)."""
    subscription = EventSubscription.objects.filter(pk=hook.subscription_id).first()
    if subscription is not None:
        subscription.delete()  # cascades to the hook
    else:
        hook.delete()
