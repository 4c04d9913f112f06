from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from integrations import outbound
from integrations.models import EventType

from .models import CrmConnection, RestHook


class CrmConnectionSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        max_length=500,
        help_text="The app's client secret (Shopify: API secret key; HubSpot: client secret). Write-only.",
    )
    secret_masked = serializers.CharField(read_only=True)
    webhook_url = serializers.SerializerMethodField(help_text="Give this URL to the platform as the webhook address.")

    class Meta:
        model = CrmConnection
        fields = [
            "id",
            "kind",
            "name",
            "secret",
            "secret_masked",
            "webhook_url",
            "active",
            "received",
            "last_received_at",
            "created_at",
        ]
        read_only_fields = ["id", "received", "last_received_at", "created_at"]

    def get_webhook_url(self, obj: CrmConnection) -> str:
        return settings.PUBLIC_BASE_URL.rstrip("/") + obj.webhook_path

    def validate_kind(self, value: str) -> str:
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("A connection's kind cannot change; make another connection.")
        return value


class RestHookSerializer(serializers.ModelSerializer):
    target_url = serializers.URLField(max_length=2000, help_text="Where to POST each event (the platform's hook URL)")
    event = serializers.ChoiceField(choices=EventType.choices, help_text="One event type, e.g. link.clicked")

    class Meta:
        model = RestHook
        fields = ["id", "target_url", "event", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_target_url(self, value: str) -> str:
        try:
            outbound.url_check_syntax(value)
        except outbound.UnsafeTarget as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class RestHookCreatedSerializer(RestHookSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_… to verify signatures (optional). Shown once.")

    class Meta(RestHookSerializer.Meta):
        fields = [*RestHookSerializer.Meta.fields, "secret"]
