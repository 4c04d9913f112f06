from __future__ import annotations

from rest_framework import serializers

from .models import Campaign


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "body", "link_url", "audience", "status", "send_at", "created_at"]
        read_only_fields = ["id", "status", "send_at", "created_at"]
