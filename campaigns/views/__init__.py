from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from campaigns.authoring import (
    CampaignError,
    CampaignNotDraft,
    campaign_check,
    campaign_create,
    campaign_delete,
    campaign_preview,
    campaign_preview_for,
    campaign_update,
)
from campaigns.models import Campaign, CampaignKind
from campaigns.msgtemplates import template_fill
from campaigns.serializers import CampaignSerializer, PreviewRequestSerializer
from common.params import id_param
from tenants.api import TenantScopedViewSet


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Only a draft campaign can be changed."
    default_code = "conflict"


@extend_schema(tags=["Campaigns"])
@extend_schema_view(
    list=extend_schema(summary="List campaigns", description="Your campaigns, 50 a page, each with its status."),
    create=extend_schema(
        summary="Create a draft campaign",
        description="`body` may use the merge fields `{{first_name}}`, `{{last_name}}`, `{{first_name|fallback}}` "
        "and `{{link}}` (each recipient's own short link to `link_url`); an unknown placeholder is a 400. "
        '`audience` selects contacts (`{"tags": [...], "rules": [...], "exclude_tags": [...]}`); none means every '
        'contact. `variants` (optional A/B test): 2-4 `{"body", "percent"}` summing to 100. The new campaign is a '
        "`draft`: send it with `POST /api/v1/campaigns/{id}/send/`.",
    ),
    retrieve=extend_schema(
        summary="One campaign",
        description="The campaign and its `status`: draft, scheduled, sending, paused, sent or canceled.",
    ),
    update=extend_schema(
        summary="Replace a draft campaign", description="Only a draft can be changed: any other status is a 409."
    ),
    partial_update=extend_schema(
        summary="Change a draft campaign", description="Only a draft can be changed: any other status is a 409."
    ),
    destroy=extend_schema(
        summary="Delete a draft campaign", description="Only a draft can be deleted: any other status is a 409."
    ),
)
class CampaignViewSet(TenantScopedViewSet):
    """A campaign: one message body (or A/B variants) sent to an audience of your contacts."""

    queryset = Campaign.objects.filter(kind=CampaignKind.CAMPAIGN).prefetch_related("media_items")
    serializer_class = CampaignSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        template = data.pop("template", None)
        try:
            if template is not None:  # start from a saved template (campaigns.msgtemplates)
                data = template_fill(tenant=self.tenant, template_id=template, fields=data)
            serializer.instance = campaign_create(tenant=self.tenant, user=self.request.user, **data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None

    def perform_update(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k != "template"}  # only when created
        try:
            serializer.instance = campaign_update(campaign=serializer.instance, **data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None
        except CampaignNotDraft as exc:
            raise Conflict(str(exc)) from None

    def perform_destroy(self, instance):
        try:
            campaign_delete(campaign=instance)
        except CampaignNotDraft as exc:
            raise Conflict(str(exc)) from None

    @extend_schema(
        summary="Preview a saved campaign",
        request=None,
        responses={200: dict},
        parameters=[OpenApiParameter("contact", int, description="The contact to render the message for")],
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The saved campaign rendered for a sample recipient (``?contact=<id>``, else the first in its audience),
        with its encoding, segments, recipients and cost."""
        campaign = self.get_object()
        sample = id_param(request.query_params, "contact", what="contact")
        return Response(campaign_preview_for(campaign=campaign, sample_contact_id=sample).as_dict())

    @extend_schema(summary="Preview an unsaved message", request=PreviewRequestSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_draft(self, request):
        """The message calculator for a body you have not saved: encoding, segments, GSM replacements,
        recipients of the audience and cost."""
        given = PreviewRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        sample = data.pop("sample_contact")
        try:
            data = campaign_check(tenant=self.tenant, data=data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return Response(campaign_preview(tenant=self.tenant, sample_contact_id=sample, **data).as_dict())
