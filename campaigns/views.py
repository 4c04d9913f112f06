from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from smscampaigns.params import id_param
from tenants.api import TenantScopedViewSet

from .authoring import (
    CampaignError,
    CampaignNotDraft,
    campaign_check,
    campaign_create,
    campaign_delete,
    campaign_preview,
    campaign_preview_for,
    campaign_update,
)
from .models import Campaign
from .serializers import CampaignSerializer, PreviewRequestSerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Only a draft campaign can be changed."
    default_code = "conflict"


class CampaignViewSet(TenantScopedViewSet):
    """Campaign authoring: create, list, retrieve; update and delete while draft; preview."""

    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer

    def perform_create(self, serializer):
        try:
            serializer.instance = campaign_create(
                tenant=self.tenant, user=self.request.user, **serializer.validated_data
            )
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = campaign_update(campaign=serializer.instance, **serializer.validated_data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None
        except CampaignNotDraft as exc:
            raise Conflict(str(exc)) from None

    def perform_destroy(self, instance):
        try:
            campaign_delete(campaign=instance)
        except CampaignNotDraft as exc:
            raise Conflict(str(exc)) from None

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The saved campaign rendered for a sample recipient (``?contact=<id>``), its segments and cost."""
        campaign = self.get_object()
        sample = id_param(request.query_params, "contact", what="contact")
        return Response(campaign_preview_for(campaign=campaign, sample_contact_id=sample).as_dict())

    @extend_schema(request=PreviewRequestSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_draft(self, request):
        """The message calculator for an unsaved body: encoding, segments, GSM replacements, recipients, cost."""
        given = PreviewRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        sample = data.pop("sample_contact")
        try:
            data = campaign_check(tenant=self.tenant, data=data)
        except CampaignError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return Response(campaign_preview(tenant=self.tenant, sample_contact_id=sample, **data).as_dict())
