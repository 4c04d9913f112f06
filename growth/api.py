"""REST API: the tenant's keywords (``/api/v1/keywords/``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers

from tenants.api import TenantScopedViewSet

from .models import Keyword
from .services import keyword_word_clean, tags_clean

KEYWORD_EXAMPLE = {
    "id": 7,
    "word": "VIP",
    "auto_reply": "{brand}: welcome to the VIP list! Show this text in store for 10% off.",
    "tags": ["vip"],
    "ask_consent": True,
    "sms_number": "",
    "active": True,
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:00:00Z",
}


class KeywordSerializer(serializers.ModelSerializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Tags added to the contact."
    )

    class Meta:
        model = Keyword
        fields = ["id", "word", "auto_reply", "tags", "ask_consent", "sms_number", "active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_word(self, value: str) -> str:
        view = self.context["view"]
        try:
            return keyword_word_clean(tenant=view.tenant, word=value, keyword_id=getattr(self.instance, "pk", None))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["word"]) from exc

    def validate_tags(self, value: list[str]) -> list[str]:
        return tags_clean(value)


@extend_schema(tags=["Keywords"])
@extend_schema_view(
    list=extend_schema(
        summary="List your keywords", examples=[OpenApiExample("Keywords", value=[KEYWORD_EXAMPLE], response_only=True)]
    ),
    retrieve=extend_schema(summary="One keyword"),
    create=extend_schema(
        summary="Add a keyword",
        description="`word` is one word of letters and digits, stored upper case. A STOP/START/HELP word or phrase, "
        "your JOIN keyword or a word you already have is a 400 naming `word`.",
        examples=[
            OpenApiExample(
                "VIP",
                value={"word": "vip", "auto_reply": "{brand}: welcome to the VIP list!", "tags": ["vip"]},
                request_only=True,
            ),
            OpenApiExample("Created", value=KEYWORD_EXAMPLE, response_only=True),
        ],
    ),
    update=extend_schema(summary="Replace a keyword"),
    partial_update=extend_schema(summary="Change a keyword (e.g. active: false)"),
    destroy=extend_schema(summary="Remove a keyword"),
)
class KeywordViewSet(TenantScopedViewSet):
    """Words people text to your number (VIP, a promo word): each answers with its auto-reply, adds its tags to the
    contact (created if new) and, with ``ask_consent``, asks someone who has not granted consent to reply YES.
    docs/growth.md has the rules."""

    queryset = Keyword.objects.all()
    serializer_class = KeywordSerializer
