"""REST API: message templates (``/api/v1/templates/``), saved bodies a campaign starts from."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from campaigns.authoring import CampaignError
from campaigns.models import MessageTemplate
from campaigns.msgtemplates import template_create, template_update
from campaigns.serializers import MessageTemplateSerializer
from tenants.api import TenantScopedViewSet


@extend_schema(tags=["Campaigns"])
@extend_schema_view(
    list=extend_schema(summary="List message templates"),
    retrieve=extend_schema(summary="One message template"),
    create=extend_schema(
        summary="Save a message template",
        description="`name`, `body` (merge fields as in a campaign), `link_url`, `media` (ids, in order): checked "
        'like a campaign\'s message. Start a campaign from it with `"template": <id>` when creating the campaign.',
    ),
    update=extend_schema(summary="Replace a message template"),
    partial_update=extend_schema(summary="Change a message template"),
    destroy=extend_schema(summary="Delete a message template (campaigns made from it keep their copy)"),
)
class MessageTemplateViewSet(TenantScopedViewSet):
    """Saved messages (body, link, media) to start campaigns from."""

    queryset = MessageTemplate.objects.all()
    serializer_class = MessageTemplateSerializer

    def perform_create(self, serializer):
        try:
            serializer.instance = template_create(
                tenant=self.tenant, user=self.request.user, **serializer.validated_data
            )
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = template_update(template=serializer.instance, **serializer.validated_data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None
