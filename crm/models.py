"""Connections to the tenant's store or CRM (inbound webhooks) and REST-hook subscriptions for automation platforms.

A ``CrmConnection`` is one Shopify app or HubSpot app of a tenant: the platform signs its webhooks with the app's
client secret (kept here encrypted at rest), and posts them to the connection's own URL
(``/webhooks/shopify/<token>/``, ``/webhooks/hubspot/<token>/``): the token picks the connection, the signature
proves the sender. Every delivery that was acted on leaves an ``InboundEvent`` keyed by the platform's delivery id
(Shopify's ``X-Shopify-Webhook-Id``, HubSpot's ``eventId``), unique per connection, so a redelivery changes nothing.

A ``RestHook`` is a Zapier / Make / n8n subscription: one ``integrations.EventSubscription`` to one event type,
made and removed by the platform through ``/api/v1/hooks/``.
"""

from __future__ import annotations

import secrets

from django.db import models

from tenants.crypto import EncryptedTextField, mask
from tenants.models import TenantOwned


class ConnectionKind(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    HUBSPOT = "hubspot", "HubSpot"


def token_generate() -> str:
    return secrets.token_urlsafe(24)


class CrmConnection(TenantOwned):
    """A tenant's Shopify store or HubSpot account sending webhooks to ``webhook_path``."""

    kind = models.CharField(max_length=10, choices=ConnectionKind.choices)
    name = models.CharField(max_length=100, blank=True, help_text="For you: e.g. the shop's domain")
    token = models.CharField(max_length=64, unique=True, default=token_generate, editable=False)
    secret = EncryptedTextField(
        help_text="The app's client secret (Shopify: the app's API secret key; HubSpot: the app's client secret). "
        "Stored encrypted; used only to check signatures."
    )
    active = models.BooleanField(default=True, help_text="An inactive connection answers 404 to its webhooks.")
    received = models.PositiveIntegerField(default=0, help_text="Deliveries acted on")
    last_received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name or self.pk}"

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/{self.kind}/{self.token}/"

    @property
    def secret_masked(self) -> str:
        return mask(self.secret)


class InboundEvent(TenantOwned):
    """One delivery (or one HubSpot event) acted on; its ``key`` makes a redelivery a no-op."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="events")
    key = models.CharField(max_length=200, help_text="X-Shopify-Webhook-Id, or HubSpot's eventId")
    topic = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, help_text="The order, customer or contact id")
    outcome = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["connection", "key"], name="inbound_event_once_per_key")]

    def __str__(self) -> str:
        return f"{self.topic} {self.object_id}"


class RestHook(TenantOwned):
    """A Zapier / Make / n8n REST-hook subscription: deliveries go through its ``EventSubscription``."""

    subscription = models.OneToOneField(
        "integrations.EventSubscription", on_delete=models.CASCADE, related_name="rest_hook"
    )
    event = models.CharField(max_length=32)
    target_url = models.URLField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.target_url}"
