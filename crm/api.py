"""API: CRM connections (``/api/v1/crm-connections/``) and REST hooks for Zapier, Make and n8n (``/api/v1/hooks/``).

Thin: serializers check, services write, selectors read; the tenant boundary is ``TenantScopedMixin``.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from integrations.models import EventType
from integrations.services import event_envelope
from tenants.api import TenantScopedMixin, TenantScopedViewSet

from . import samples, selectors, services
from .models import CrmConnection, RestHook
from .serializers import CrmConnectionSerializer, RestHookCreatedSerializer, RestHookSerializer

POLL_DEFAULT_LIMIT = 50
POLL_MAX_LIMIT = 100


@extend_schema(tags=["CRM connections"])
@extend_schema_view(
    list=extend_schema(summary="Your Shopify and HubSpot connections"),
    create=extend_schema(summary="Connect a Shopify store or a HubSpot app (give its webhook_url to the platform)"),
    retrieve=extend_schema(summary="One connection"),
    update=extend_schema(summary="Replace a connection"),
    partial_update=extend_schema(summary="Change a connection (a new secret, active: false)"),
    destroy=extend_schema(summary="Remove a connection (its URL answers 404 from now on)"),
)
class CrmConnectionViewSet(TenantScopedViewSet):
    """A Shopify store's or HubSpot app's webhooks into your contacts and conversions: the platform posts to
    ``webhook_url`` and signs with the app's client secret (``secret``, write-only, stored encrypted).
    docs/integrations.md has what each topic does."""

    queryset = CrmConnection.objects.all()
    serializer_class = CrmConnectionSerializer

    def perform_create(self, serializer):
        serializer.instance = services.connection_create(tenant_id=self.tenant.pk, **serializer.validated_data)


def _event_type(event: str) -> str:
    if event not in EventType.values:
        raise NotFound(f"Unknown event type {event!r}; one of {', '.join(EventType.values)}.")
    return event


def _since(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value.strip().replace(" ", "+"))
    if parsed is None:
        raise ValidationError({"since": ["An ISO 8601 time such as 2026-12-01T09:00:00Z."]})
    return timezone.make_aware(parsed, dt.UTC) if timezone.is_naive(parsed) else parsed


HOOK_EXAMPLE = {
    "id": 3,
    "target_url": "https://hooks.zapier.com/hooks/standard/1/abc/",
    "event": "link.clicked",
    "created_at": "2026-12-01T09:00:00Z",
}


@extend_schema(tags=["REST hooks"])
@extend_schema_view(
    list=extend_schema(summary="Your REST hooks"),
    retrieve=extend_schema(summary="One REST hook"),
    create=extend_schema(
        summary="Subscribe a URL to one event type (Zapier/Make/n8n's subscribe call)",
        responses={201: RestHookCreatedSerializer},
        examples=[
            OpenApiExample(
                "Subscribe",
                value={"target_url": HOOK_EXAMPLE["target_url"], "event": "link.clicked"},
                request_only=True,
            ),
            OpenApiExample(
                "Subscribed", value={**HOOK_EXAMPLE, "secret": "whsec_…"}, response_only=True, status_codes=["201"]
            ),
        ],
    ),
    destroy=extend_schema(summary="Unsubscribe (Zapier/Make/n8n's unsubscribe call)"),
)
class RestHookViewSet(
    TenantScopedMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """REST hooks in the shape Zapier, Make and n8n expect: subscribe (``POST``, 201 with ``id``), unsubscribe
    (``DELETE /{id}/``), sample payloads and a polling fallback. Each event is POSTed to ``target_url`` as the
    webhooks' signed JSON (docs/integrations.md), retried the same way."""

    queryset = RestHook.objects.all()
    serializer_class = RestHookSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook, secret = services.hook_subscribe(tenant_id=self.tenant.pk, **serializer.validated_data)
        hook.secret = secret  # for this answer only
        return Response(RestHookCreatedSerializer(hook).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.hook_unsubscribe(hook=instance)

    @extend_schema(summary="A sample of an event type (a list of one, as a poll answers)", responses={200: dict})
    @action(detail=False, methods=["get"], url_path=r"samples/(?P<event>[a-z_.]+)")
    def samples(self, request, event=None):
        """``[{"id", "type", "version", "timestamp", "data"}]``: the shape each delivery and poll item has."""
        return Response([samples.sample_envelope(_event_type(event))])

    @extend_schema(
        summary="Recent events of a type, newest first (polling fallback)",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Only events after this time"),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"At most this many (default {POLL_DEFAULT_LIMIT}, up to {POLL_MAX_LIMIT})",
            ),
        ],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"], url_path=r"poll/(?P<event>[a-z_.]+)")
    def poll(self, request, event=None):
        """A JSON list of events as deliveries carry them, newest first; ``id`` is stable (de-duplicate on it).
        Events are recorded while one of your endpoints or hooks wants the type."""
        event = _event_type(event)
        raw_limit = request.query_params.get("limit", str(POLL_DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= POLL_MAX_LIMIT:
            raise ValidationError({"limit": [f"A whole number from 1 to {POLL_MAX_LIMIT}."]})
        events = selectors.events_poll(
            tenant_id=self.tenant.pk,
            type=event,
            since=_since(request.query_params.get("since")),
            limit=int(raw_limit),
        )
        return Response([event_envelope(e) for e in events])
