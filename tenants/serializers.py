from __future__ import annotations

from rest_framework import serializers

from .models import ApiKey, ApiKeyScope

#: The longest grace a rotation gives the old key: long enough to redeploy, short enough to not forget it.
MAX_GRACE_SECONDS = 7 * 24 * 3600


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True, help_text="Whose key: it acts as this user.")
    scope = serializers.ChoiceField(
        choices=ApiKeyScope.choices, default=ApiKeyScope.FULL, help_text="read: GET only; full: the user's rights."
    )
    expires_at = serializers.DateTimeField(
        source="expiry_date", required=False, allow_null=True, help_text="Stops working then (none: never)."
    )
    created_at = serializers.DateTimeField(source="created", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scope", "user", "created_at", "expires_at", "last_used_at", "revoked"]
        read_only_fields = ["id", "prefix", "user", "created_at", "last_used_at", "revoked"]
        # The model's name has default=None (the library's), which would make it optional here.
        extra_kwargs = {"name": {"required": True, "help_text": "What the key is for (50 characters)."}}


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The create and rotate answer: the only time the secret is shown."""

    key = serializers.CharField(read_only=True, help_text="The secret, shown this once: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyRotateSerializer(serializers.Serializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        default=0,
        help_text="Keep the old key working this many seconds (0: revoked at once).",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="The new key's expiry.")
