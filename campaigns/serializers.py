from __future__ import annotations

from rest_framework import serializers

from .authoring import campaign_media_ids
from .models import Campaign, CampaignPurpose, MessageTemplate, MmsFallback


class CampaignMediaField(serializers.ListField):
    """The campaign's media ids, in order (``CampaignMedia`` of variant 0): what ``"media": [id, …]`` set."""

    child = serializers.IntegerField()

    def get_attribute(self, instance):
        if "media_items" in getattr(instance, "_prefetched_objects_cache", {}):  # a list: one query for the page
            items = sorted((m for m in instance.media_items.all() if m.variant == 0), key=lambda m: m.position)
            return [m.media_id for m in items]
        return campaign_media_ids(campaign=instance)


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign. ``body`` may use {{first_name}}, {{last_name}}, {{link}} and {{first_name|fallback}}.

    ``variants`` (optional A/B test): 2-4 ``{"body", "percent"}`` summing to 100; ``body`` is then variant A's.
    ``media``: ids of the tenant's media files, sent with every message as MMS (a variant may name its own
    ``"media"``); the body may then be empty. ``mms_fallback``: ``skip`` or ``link`` for recipients who cannot
    take MMS.
    Checks beyond types live in ``campaigns.authoring.campaign_check`` (called by the view).
    """

    audience = serializers.JSONField(required=False, help_text='{"tags": [...], "rules": [...], "exclude_tags": [...]}')
    variants = serializers.JSONField(required=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    media = CampaignMediaField(required=False, help_text="Media file ids, in order (at most 10, 5 MB in all)")
    template = serializers.IntegerField(
        write_only=True,
        required=False,
        help_text="Create only: a message template's id; its body, link and media fill those the request leaves out",
    )

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
            "media",
            "mms_fallback",
            "template",
            "local_send_time",
            "ab_test_percent",
            "ab_wait_hours",
            "ab_metric",
            "ab_winner",
            "ab_decided_at",
            "ab_decision",
            "status",
            "send_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "ab_winner",
            "ab_decided_at",
            "ab_decision",
            "status",
            "send_at",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        given = attrs.get("body") or attrs.get("variants") or attrs.get("media") or attrs.get("template") is not None
        if self.instance is None and not given:
            raise serializers.ValidationError({"body": ["A message body is required."]})
        return attrs


class PreviewRequestSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    link_url = serializers.URLField(required=False, allow_blank=True, default="")
    audience = serializers.JSONField(required=False, default=dict)
    variants = serializers.JSONField(required=False, default=list)
    sample_contact = serializers.IntegerField(required=False, allow_null=True, default=None)
    media = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    mms_fallback = serializers.ChoiceField(choices=MmsFallback.choices, required=False, default=MmsFallback.SKIP)
    purpose = serializers.ChoiceField(
        choices=CampaignPurpose.choices, required=False, default=CampaignPurpose.MARKETING
    )


class MessageTemplateSerializer(serializers.ModelSerializer):
    """A saved message: ``body`` (merge fields as in a campaign), ``link_url``, ``media`` (ids, in order)."""

    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    link_url = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    media = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)

    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "body", "link_url", "media", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}  # unique per tenant: campaigns.msgtemplates says it
