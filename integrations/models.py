"""Signed event webhooks to a tenant's own systems (CRMs), and conversions.

An ``Event`` is written once when something happens; one ``EventDelivery`` per
(event, subscription) tracks getting it to one endpoint, and every HTTP try is a
``DeliveryAttempt`` row (the log shown in the admin).

EventDelivery status machine::

    pending ──claim (conditional UPDATE)──▶ delivering ──2xx──▶ succeeded
       ▲                                        │
       └──────── non-2xx / error, retry due ◀───┤
                                                └──retry window over, or endpoint disabled──▶ failed

A manual replay moves succeeded/failed back to pending. ``succeeded`` and
``failed`` are terminal otherwise.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from tenants.crypto import EncryptedTextField, mask
from tenants.models import TenantOwned

#: tenant id → (expiry, event types wanted), for ``services.tenant_wants``.
WANTS_CACHE: dict[int, tuple[float, frozenset[str]]] = {}


class EventType(models.TextChoices):
    MESSAGE_SENT = "message.sent", "Message sent"
    MESSAGE_DELIVERED = "message.delivered", "Message delivered"
    MESSAGE_FAILED = "message.failed", "Message failed"
    LINK_CLICKED = "link.clicked", "Link clicked (humans only)"
    CONTACT_OPTED_OUT = "contact.opted_out", "Contact opted out"
    CONTACT_OPTED_IN = "contact.opted_in", "Contact opted in"
    REPLY_RECEIVED = "reply.received", "Reply received"
    CAMPAIGN_FINISHED = "campaign.finished", "Campaign finished"
    CAMPAIGN_PAUSED_BY_GUARD = "campaign.paused_by_guard", "Campaign paused by the fraud guard"
    JOURNEY_WEBHOOK = "journey.webhook", "Journey webhook step reached"


class EventSubscription(TenantOwned):
    """An endpoint of the tenant's that wants some event types, signed with its own secret."""

    url = models.URLField("URL", max_length=2000)
    secret = EncryptedTextField(help_text="whsec_… (Standard Webhooks). Stored encrypted, shown once.")
    event_types = models.JSONField(default=list, help_text="Event types this endpoint wants.")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failure since the last success.")
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="Endpoint back-off: no delivery is tried before this time."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.url} (#{self.pk})"

    @property
    def secret_masked(self) -> str:
        return mask(self.secret)

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        WANTS_CACHE.pop(self.tenant_id, None)  # this process sees the change at once

    def delete(self, *args, **kwargs):
        WANTS_CACHE.pop(self.tenant_id, None)
        return super().delete(*args, **kwargs)

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class Event(TenantOwned):
    """Something that happened, once. ``id`` is the ``webhook-id`` receivers de-duplicate on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices, db_index=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    contact_id = models.BigIntegerField(null=True, blank=True, help_text="Events of one contact go out in order.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering (claimed)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (given up)"


OPEN_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)


class EventDelivery(TenantOwned):
    """One event on its way to one endpoint."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(EventSubscription, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event so that "an earlier open delivery of this contact to
    # this endpoint" is one indexed lookup.
    contact_id = models.BigIntegerField(null=True, blank=True)
    event_created_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    replays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "event deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="delivery_unique_per_event_subscription"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in DeliveryStatus]), name="delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["subscription", "contact_id", "event_created_at"], name="delivery_contact_order_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} of {self.event_id}"


class DeliveryAttempt(TenantOwned):
    """One HTTP try: what the endpoint answered, how fast, or why it could not be reached."""

    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery #{self.delivery_id}"


class Conversion(TenantOwned):
    """An order the tenant reports back, tied to a short link or a contact. One per (tenant, order_id)."""

    order_id = models.CharField(max_length=100)
    value = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, help_text="ISO 4217, e.g. USD")
    code = models.CharField(max_length=16, blank=True, help_text="The short-link code it was reported with.")
    link = models.ForeignKey("links.ShortLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "order_id"], name="conversion_unique_order")]

    def __str__(self) -> str:
        return f"order {self.order_id}"
