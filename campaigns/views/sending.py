"""API actions that send a campaign: send (202, a second send is 409), pause, resume, cancel.

Explicit paths (registered in ``smscampaigns/api_urls.py``) over the tenant's
own campaigns: another tenant's campaign is a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from campaigns import sending
from campaigns.models import Campaign, CampaignStatus, UserTestNumber
from campaigns.testsends import TestSendError, campaign_test_send
from contacts.phone import InvalidPhoneNumber, phone_normalize
from guard.services import send_over_caps
from tenants.api import TenantScopedMixin


class SendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(required=False, allow_null=True)
    confirm_over_cap = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Send although the estimate crosses one of the tenant's spend or volume caps (the fraud guard): "
        "sending stops at the cap and the campaign waits, paused, until the cap has room. Without it such a send "
        "is a 409 naming confirm_over_cap.",
    )


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
    A send whose estimate crosses one of the tenant's caps (the fraud guard) is a 409 naming ``confirm_over_cap``
    unless the body says ``"confirm_over_cap": true``; numbers outside the allowed countries count as ``blocked``.
    """

    serializer_class = SendSerializer

    @extend_schema(
        summary="Send a campaign (now or at send_at)",
        tags=["Sending"],
        request=SendSerializer,
        responses={
            202: CampaignStateSerializer,
            409: OpenApiResponse(
                description="Already sent, scheduled or canceled; or over a cap without confirm_over_cap"
            ),
        },
    )
    def post(self, request, pk: int):
        campaign = self.get_object()
        body = SendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        over = None if body.validated_data["confirm_over_cap"] else send_over_caps(campaign=campaign)
        if over is not None:  # the fraud guard's caps: a send that would cross one asks first
            message = f'{over.reason} Send again with "confirm_over_cap": true to send up to the cap.'
            return Response({"confirm_over_cap": [message], "cap": over.figures}, status=status.HTTP_409_CONFLICT)
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


class TestSendSerializer(serializers.Serializer):
    __test__ = False  # not a pytest class

    phone_number = serializers.CharField(
        help_text="One of your own numbers, verified first in the admin (a draft's “Send a test…” texts it a code)"
    )


class TestSentSerializer(serializers.Serializer):
    __test__ = False

    to = serializers.CharField()
    body = serializers.CharField()


class CampaignTestSendView(_CampaignAction):
    """Text a draft's message, as its first recipient would get it (``[Test]``-prefixed, the link's target for
    the short link, the first-contact opt-out line), to one of your own verified numbers. Never a message of the
    campaign, never counted. A number that is not one of yours, verified, is a 400 naming ``phone_number``; a
    campaign that is no longer a draft, a 409."""

    @extend_schema(
        tags=["Campaigns"],
        summary="Send a test to your own verified number",
        request=TestSendSerializer,
        responses={
            200: TestSentSerializer,
            400: OpenApiResponse(description="Not one of your verified numbers, or the gateway refused"),
            409: OpenApiResponse(description="Not a draft"),
        },
    )
    def post(self, request, pk):
        campaign = self.get_object()
        given = TestSendSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        if campaign.status != CampaignStatus.DRAFT:
            return self._conflict(campaign, "tested (only a draft is)")
        not_yours = {
            "phone_number": [
                "Not one of your verified numbers: add it and type the code it gets in the admin (a draft's "
                "“Send a test…”)."
            ]
        }
        try:
            e164 = phone_normalize(given.validated_data["phone_number"], default_country=self.tenant.default_country)
        except InvalidPhoneNumber:
            return Response(not_yours, status=status.HTTP_400_BAD_REQUEST)
        number = UserTestNumber.objects.filter(
            tenant=self.tenant, user=request.user, phone_number=e164, verified_at__isnull=False
        ).first()
        if number is None:
            return Response(not_yours, status=status.HTTP_400_BAD_REQUEST)
        try:
            text = campaign_test_send(campaign=campaign, number=number)
        except TestSendError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"to": e164, "body": text})
