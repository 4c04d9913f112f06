"""API actions that send a campaign: send (202, a second send is 409), pause, resume, cancel.

Explicit paths (registered in ``smscampaigns/api_urls.py``) over the tenant's
own campaigns: another tenant's campaign is a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from campaigns import sending
from campaigns.models import Campaign
from tenants.api import TenantScopedMixin


class SendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(required=False, allow_null=True)


class CampaignStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "status", "send_at", "started_at", "finished_at", "paused_reason"]


class _CampaignAction(TenantScopedMixin, generics.GenericAPIView):
    queryset = Campaign.objects.select_related("tenant")
    serializer_class = CampaignStateSerializer

    def _answer(self, campaign: Campaign, code: int) -> Response:
        return Response(CampaignStateSerializer(campaign).data, status=code)

    def _conflict(self, campaign: Campaign, action: str) -> Response:
        campaign.refresh_from_db(fields=["status"])
        return Response(
            {"detail": f"A {campaign.status} campaign cannot be {action}.", "status": campaign.status},
            status=status.HTTP_409_CONFLICT,
        )


class CampaignSendView(_CampaignAction):
    """Send a draft campaign now (an empty body) or later (``{"send_at": ISO-8601}``): 202 with the campaign
    ``sending`` or ``scheduled``. Messages go out in the background; follow them at ``stats/`` and ``messages/``.
    Opted-out numbers are skipped and counted as ``suppressed``; quiet hours are respected. A second send is a 409.
    """

    serializer_class = SendSerializer

    @extend_schema(
        summary="Send a campaign (now or at send_at)",
        tags=["Sending"],
        request=SendSerializer,
        responses={
            202: CampaignStateSerializer,
            409: OpenApiResponse(description="Already sent, scheduled or canceled"),
        },
    )
    def post(self, request, pk: int):
        campaign = self.get_object()
        body = SendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            campaign = sending.campaign_send(
                campaign=campaign, send_at=body.validated_data.get("send_at"), user=request.user
            )
        except sending.CampaignStateError:
            return self._conflict(campaign, "sent again")
        return self._answer(campaign, status.HTTP_202_ACCEPTED)


class CampaignPauseView(_CampaignAction):
    """Stop handing a sending or scheduled campaign's messages to the carrier (those already handed over still
    go): 200 with the campaign ``paused``; waiting messages wait for ``resume/``. Any other status is a 409."""

    @extend_schema(
        summary="Pause a campaign",
        tags=["Sending"],
        request=None,
        responses={200: CampaignStateSerializer, 409: OpenApiResponse(description="Not sending")},
    )
    def post(self, request, pk: int):
        campaign = self.get_object()
        reason = f"Paused by {request.user.email}"
        if not sending.campaign_pause(campaign=campaign, reason=reason, user=request.user):
            return self._conflict(campaign, "paused")
        return self._answer(campaign, status.HTTP_200_OK)


class CampaignResumeView(_CampaignAction):
    """Carry on a paused campaign where it stopped: 202 with the campaign ``sending`` (or ``scheduled`` again when
    its ``send_at`` is still ahead). Anything but a paused campaign is a 409."""

    @extend_schema(
        summary="Resume a paused campaign",
        tags=["Sending"],
        request=None,
        responses={202: CampaignStateSerializer, 409: OpenApiResponse(description="Not paused")},
    )
    def post(self, request, pk: int):
        campaign = self.get_object()
        if not sending.campaign_resume(campaign=campaign, user=request.user):
            return self._conflict(campaign, "resumed")
        return self._answer(campaign, status.HTTP_202_ACCEPTED)


class CampaignCancelView(_CampaignAction):
    """Stop a campaign for good: messages not yet handed to the carrier become ``canceled``, sent ones keep their
    status. 200 with the campaign ``canceled``; a campaign already sent or canceled is a 409."""

    @extend_schema(
        summary="Cancel a campaign",
        tags=["Sending"],
        request=None,
        responses={200: CampaignStateSerializer, 409: OpenApiResponse(description="Already over")},
    )
    def post(self, request, pk: int):
        campaign = self.get_object()
        if not sending.campaign_cancel(campaign=campaign, user=request.user):
            return self._conflict(campaign, "canceled")
        return self._answer(campaign, status.HTTP_200_OK)
