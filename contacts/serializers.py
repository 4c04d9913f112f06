from __future__ import annotations

from rest_framework import serializers

from .models import ConsentStatus, Contact, ContactImport
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


class ContactUpsertSerializer(serializers.Serializer):
    """One contact to create or update (``contacts.upsert``): absent fields are kept; ``tags`` are added."""

    phone_number = serializers.CharField(max_length=32, required=False, help_text="Any format; stored in E.164")
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    custom_fields = serializers.DictField(required=False)
    consent_status = serializers.ChoiceField(choices=ConsentStatus.choices, required=False)
    consent_at = serializers.DateTimeField(required=False)
    consent_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    consent_text = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    source = serializers.RegexField(
        r"^[a-z0-9_.-]{1,32}$",
        required=False,
        default="api",
        help_text="Who says so: api (you; every field given is written) or a CRM's name (shopify, hubspot, …: the "
        "merge rules apply).",
    )
    external_id = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="The contact's id in that source."
    )

    def __init__(self, *args, tenant=None, phone_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.phone_required = phone_required

    def validate_timezone(self, value: str) -> str:
        if value and not timezone_is_valid(value):
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone such as America/New_York.")
        return value

    def validate_custom_fields(self, value):
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool) and item is not None:
                raise serializers.ValidationError(f"custom field {key!r} must be a text, number or true/false.")
        return value

    def validate(self, attrs):
        phone = attrs.get("phone_number")
        if phone:
            try:
                attrs["phone_number"] = phone_normalize(phone, default_country=self.tenant.default_country)
            except InvalidPhoneNumber as exc:
                raise serializers.ValidationError({"phone_number": [str(exc)]}) from None
        elif self.phone_required or not attrs.get("external_id"):
            raise serializers.ValidationError({"phone_number": ["A phone number is required."]})
        return attrs

    def upsert_kwargs(self) -> dict:
        data = dict(self.validated_data)
        return {
            "phone_number": data.pop("phone_number", None),
            "tags": data.pop("tags", []),
            "source": data.pop("source", "api"),
            "external_id": data.pop("external_id", ""),
            "values": data,
        }


def first_error(errors) -> str:
    """``"field: message"`` of a serializer's first error, for a bulk row."""
    if isinstance(errors, dict):
        name, value = next(iter(errors.items()))
        message = value[0] if isinstance(value, list) and value else value
        if isinstance(message, dict):
            return first_error(message)
        return f"{name}: {message}" if name != "non_field_errors" else str(message)
    return str(errors)
