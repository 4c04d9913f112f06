from __future__ import annotations

from rest_framework import serializers

from .models import MediaFile
from .services import size_warnings


class MediaFileSerializer(serializers.ModelSerializer):
    """A file of the media library. ``url`` is the public address Twilio fetches (no credentials: keep it to
    yourself); ``warnings`` says when carriers are likely to resize it."""

    url = serializers.CharField(source="public_url", read_only=True)
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = MediaFile
        fields = [
            "id",
            "url",
            "content_type",
            "size",
            "width",
            "height",
            "filename",
            "original_name",
            "warnings",
            "created_at",
        ]
        read_only_fields = fields

    def get_warnings(self, obj: MediaFile) -> list[str]:
        return size_warnings(content_type=obj.content_type, size=obj.size)


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="JPEG, PNG, GIF or PDF (checked by content), at most MMS_MAX_FILE_BYTES"
    )
