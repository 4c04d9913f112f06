from __future__ import annotations

from rest_framework import serializers

from .models import Contact


class ContactSerializer(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Contact
        fields = ["id", "phone_number", "first_name", "last_name", "email", "timezone", "tags", "created_at"]
        read_only_fields = ["id", "created_at"]
