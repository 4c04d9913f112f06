from __future__ import annotations

from rest_framework import serializers

from .models import Contact, ContactImport
from .phone import InvalidPhoneNumber, phone_normalize, timezone_is_valid


class TagNamesField(serializers.ListField):
    child = serializers.CharField(max_length=64, allow_blank=False)

    def to_representation(self, value):
        return [tag.name for tag in value.all()]


class ContactSerializer(serializers.ModelSerializer):
    """A contact; ``phone_number`` comes back in E.164 (national formats read in the tenant's country)."""

    tags = TagNamesField(required=False)

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone_number",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "tags",
            "custom_fields",
            "consent_status",
            "consent_source",
            "consent_at",
            "consent_text",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness per tenant is checked below with the tenant known.
        validators: list = []

    @property
    def tenant(self):
        return self.context["request"].user.tenant

    def validate_phone_number(self, value: str) -> str:
        try:
            number = phone_normalize(value, default_country=self.tenant.default_country)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None
        others = Contact.objects.filter(tenant=self.tenant, phone_number=number)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A contact with this phone number already exists.")
        return number

    def validate_timezone(self, value: str) -> str:
        if value and not timezone_is_valid(value):
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone such as America/New_York.")
        return value

    def validate_custom_fields(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("custom_fields is an object of names to values.")
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool) and item is not None:
                raise serializers.ValidationError(f"custom field {key!r} must be a text, number or true/false.")
        return value


class ContactImportSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "file_name",
            "status",
            "total_rows",
            "processed_rows",
            "percent",
            "created",
            "updated",
            "error_count",
            "errors",
            "failure",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
