from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from . import outbound
from .models import Conversion, DeliveryAttempt, EventDelivery, EventSubscription, EventType


class EventSubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=len(EventType.values)
    )
    secret_masked = serializers.CharField(read_only=True, help_text="The secret's last characters.")

    class Meta:
        model = EventSubscription
        fields = [
            "id",
            "url",
            "event_types",
            "description",
            "active",
            "secret_masked",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]
        read_only_fields = ["id", "secret_masked", "disabled_reason", "failing_since", "created_at"]

    def validate_event_types(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate_url(self, value: str) -> str:
        try:
            outbound.url_check_syntax(value)
        except outbound.UnsafeTarget as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class EventSubscriptionCreatedSerializer(EventSubscriptionSerializer):
    """The create answer: the only time the full secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="whsec_… Shown once: store it now.")

    class Meta(EventSubscriptionSerializer.Meta):
        fields = [*EventSubscriptionSerializer.Meta.fields, "secret"]


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "succeeded", "status_code", "latency_ms", "response_excerpt", "error"]


class EventDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    payload = serializers.JSONField(source="event.payload", read_only=True)
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = EventDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "payload",
            "contact_id",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "replays",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


class ConversionSerializer(serializers.ModelSerializer):
    code = serializers.CharField(
        required=False, allow_blank=False, max_length=16, help_text="The short-link code the buyer came through."
    )
    contact = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="A contact id, when the code is not known.",
        source="contact_id",
    )
    value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217 code, e.g. USD")

    class Meta:
        model = Conversion
        fields = ["id", "order_id", "value", "currency", "code", "contact", "campaign", "created_at"]
        read_only_fields = ["id", "campaign", "created_at"]
        extra_kwargs = {"order_id": {"help_text": "Your order id; posting the same one again changes nothing."}}

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("contact_id"):
            raise serializers.ValidationError({"code": ["Give a short-link code or a contact id."]})
        return attrs
