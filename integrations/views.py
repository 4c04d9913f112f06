"""API for webhook subscriptions, their deliveries, and conversions. Thin: services do the work."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from common.params import id_param
from contacts.models import Contact
from links.models import ShortLink
from tenants.api import TenantScopedMixin, TenantScopedViewSet

from . import services
from .models import Conversion, DeliveryStatus, EventDelivery, EventSubscription
from .serializers import (
    ConversionSerializer,
    EventDeliverySerializer,
    EventSubscriptionCreatedSerializer,
    EventSubscriptionSerializer,
    SecretSerializer,
)

SUBSCRIPTION_EXAMPLE = {
    "id": 7,
    "url": "https://crm.example.com/hooks/sms",
    "event_types": ["link.clicked", "contact.opted_out"],
    "description": "CRM sync",
    "active": True,
    "secret_masked": "••••••••Q2x3",
    "disabled_reason": "",
    "failing_since": None,
    "created_at": "2026-11-27T09:00:00Z",
}
DELIVERY_EXAMPLE = {
    "id": 42,
    "subscription": 7,
    "event_id": "0b7d2f4e-6c1a-4f51-9d8e-3a5f2b1c9e77",
    "event_type": "link.clicked",
    "payload": {"campaign_id": 3, "contact_id": 12, "code": "aZ3kP9qL", "device_type": "mobile", "country": "US"},
    "contact_id": 12,
    "status": "failed",
    "attempts": 14,
    "next_attempt_at": "2026-11-28T09:00:00Z",
    "delivered_at": None,
    "last_error": "Gave up after 14 attempts: HTTP 503.",
    "replays": 0,
    "created_at": "2026-11-27T09:00:00Z",
    "attempt_log": [
        {
            "number": 1,
            "started_at": "2026-11-27T09:00:00Z",
            "succeeded": False,
            "status_code": 503,
            "latency_ms": 87,
            "response_excerpt": "Service Unavailable",
            "error": "HTTP 503.",
        }
    ],
}
CONVERSION_EXAMPLE = {
    "id": 5,
    "order_id": "A-1001",
    "value": "49.90",
    "currency": "USD",
    "code": "aZ3kP9qL",
    "contact": 12,
    "campaign": 3,
    "created_at": "2026-11-27T10:00:00Z",
}


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints",
        examples=[OpenApiExample("Endpoints", value=[SUBSCRIPTION_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One webhook endpoint",
        examples=[OpenApiExample("Endpoint", value=SUBSCRIPTION_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Add a webhook endpoint (the secret is in this answer only)",
        responses={201: EventSubscriptionCreatedSerializer},
        examples=[
            OpenApiExample(
                "New endpoint",
                value={
                    "url": "https://crm.example.com/hooks/sms",
                    "event_types": ["link.clicked", "contact.opted_out"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={**SUBSCRIPTION_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    ),
    update=extend_schema(
        summary="Replace a webhook endpoint",
        examples=[OpenApiExample("Endpoint", value=SUBSCRIPTION_EXAMPLE, response_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change a webhook endpoint (active: true re-enables a disabled one)",
        examples=[
            OpenApiExample("Re-enable", value={"active": True}, request_only=True),
            OpenApiExample("Endpoint", value=SUBSCRIPTION_EXAMPLE, response_only=True),
        ],
    ),
    destroy=extend_schema(summary="Remove a webhook endpoint"),
)
@extend_schema(tags=["Webhooks"])
class EventSubscriptionViewSet(TenantScopedViewSet):
    """Your webhook endpoints: URLs this server POSTs events to (``event_types``, e.g. ``link.clicked``,
    ``contact.opted_out``), signed with the endpoint's secret and retried with backoff. An endpoint that keeps
    failing for a day is disabled; ``PATCH {"active": true}`` re-enables it. docs/integrations.md has the
    payloads and how to verify a signature.
    """

    queryset = EventSubscription.objects.all()
    serializer_class = EventSubscriptionSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_create(tenant_id=self.tenant.pk, **serializer.validated_data)
        return Response(EventSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        was_active = serializer.instance.active
        subscription = serializer.save()
        if subscription.active and not was_active:
            services.subscription_enable(subscription=subscription)

    @extend_schema(
        summary="Replace the signing secret (the new one is in this answer only)",
        request=None,
        responses={200: SecretSerializer},
        examples=[OpenApiExample("New secret", value={"secret": "whsec_Q2x3…"}, response_only=True)],
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        return Response({"secret": services.subscription_rotate_secret(subscription=subscription)})


@extend_schema_view(
    list=extend_schema(
        summary="Deliveries of events to your endpoints, newest first, with their attempts",
        parameters=[
            OpenApiParameter("subscription", OpenApiTypes.INT, description="Only this endpoint's deliveries"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=DeliveryStatus.values),
        ],
        examples=[OpenApiExample("Deliveries", value=[DELIVERY_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One delivery with its attempts log",
        examples=[OpenApiExample("Delivery", value=DELIVERY_EXAMPLE, response_only=True)],
    ),
)
@extend_schema(tags=["Webhooks"])
class EventDeliveryViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Each event sent to one of your endpoints: its status (pending, delivering, succeeded, failed), attempts,
    the next retry and the log of every attempt (status code, latency, an excerpt of the answer)."""

    queryset = EventDelivery.objects.select_related("event").prefetch_related("attempt_log")
    serializer_class = EventDeliverySerializer

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        subscription_id = id_param(params, "subscription", what="subscription")
        if subscription_id is not None:
            qs = qs.filter(subscription_id=subscription_id)
        if "status" in params:
            if params["status"] not in DeliveryStatus.values:
                raise ValidationError({"status": [f"One of {', '.join(DeliveryStatus.values)}."]})
            qs = qs.filter(status=params["status"])
        return qs

    @extend_schema(
        summary="Send this delivery again now (same webhook-id)",
        request=None,
        responses={202: EventDeliverySerializer, 409: OpenApiResponse(description="Endpoint disabled or in flight")},
        examples=[
            OpenApiExample(
                "Queued again",
                value={**DELIVERY_EXAMPLE, "status": "pending"},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        try:
            delivery = services.delivery_replay(delivery=delivery)
        except services.ReplayRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="Conversions you reported",
        examples=[OpenApiExample("Conversions", value=[CONVERSION_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One conversion", examples=[OpenApiExample("Conversion", value=CONVERSION_EXAMPLE, response_only=True)]
    ),
    create=extend_schema(
        summary="Report a conversion (an order) for a short-link code or a contact; idempotent per order_id",
        responses={
            201: ConversionSerializer,
            200: OpenApiResponse(ConversionSerializer, description="This order_id was already recorded"),
        },
        examples=[
            OpenApiExample(
                "By link code",
                value={"order_id": "A-1001", "value": "49.90", "currency": "USD", "code": "aZ3kP9qL"},
                request_only=True,
            ),
            OpenApiExample(
                "By contact",
                value={"order_id": "A-1002", "value": "15.00", "currency": "USD", "contact": 12},
                request_only=True,
            ),
            OpenApiExample("Recorded", value=CONVERSION_EXAMPLE, response_only=True, status_codes=["201", "200"]),
        ],
    ),
)
@extend_schema(tags=["Conversions"])
class ConversionViewSet(
    TenantScopedMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Orders your shop reports back, attributed to a campaign through the short-link ``code`` the buyer came by
    (or a ``contact``): they are the ``conversions`` and ``revenue`` of the campaign's stats. ``order_id`` makes a
    report idempotent."""

    queryset = Conversion.objects.all()
    serializer_class = ConversionSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        link = contact = None
        if data.get("code"):
            # Another tenant's code is "unknown", exactly like a code that does not exist.
            link = (
                ShortLink.objects.for_tenant(self.tenant)
                .select_related("message__contact")
                .filter(code=data["code"])
                .first()
            )
            if link is None:
                raise ValidationError({"code": ["Unknown short-link code."]})
        if data.get("contact_id"):
            contact = Contact.objects.for_tenant(self.tenant).filter(pk=data["contact_id"]).first()
            if contact is None:
                raise ValidationError({"contact": ["Unknown contact."]})
            if link is not None and link.message_id and link.message.contact_id not in (None, contact.pk):
                raise ValidationError({"contact": ["This contact is not the one the link was sent to."]})
        conversion, created = services.conversion_record(
            tenant_id=self.tenant.pk,
            order_id=data["order_id"],
            value=data["value"],
            currency=data["currency"],
            link=link,
            contact=contact,
        )
        return Response(
            self.get_serializer(conversion).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
