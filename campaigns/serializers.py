from __future__ import annotations

from rest_framework import serializers

from .models import Campaign, CampaignPurpose


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign. ``body`` may use {{first_name}}, {{last_name}}, {{link}} and {{first_name|fallback}}.

    ``variants`` (optional A/B test): 2-4 ``{"body", "percent"}`` summing to 100; ``body`` is then variant A's.
    Checks beyond types live in ``campaigns.authoring.campaign_check`` (called by the view).
    """

    audience = serializers.JSONField(required=False, help_text='{"tags": [...], "rules": [...], "exclude_tags": [...]}')
    variants = serializers.JSONField(required=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "purpose",
            "body",
            "link_url",
            "audience",
            "variants",
            "status",
            "send_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "send_at", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.instance is None and not attrs.get("body") and not attrs.get("variants"):
            raise serializers.ValidationError({"body": ["A message body is required."]})
        return attrs


class PreviewRequestSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    link_url = serializers.URLField(required=False, allow_blank=True, default="")
    audience = serializers.JSONField(required=False, default=dict)
    variants = serializers.JSONField(required=False, default=list)
    sample_contact = serializers.IntegerField(required=False, allow_null=True, default=None)
    purpose = serializers.ChoiceField(
        choices=CampaignPurpose.choices, required=False, default=CampaignPurpose.MARKETING
    )
