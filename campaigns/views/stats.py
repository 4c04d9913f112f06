"""Campaign numbers over the API: stats and the per-recipient message list."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response

from campaigns.models import Campaign, CampaignKind, Message
from campaigns.stats import campaign_stats
from links.selectors import message_click_counts
from links.services import short_url
from tenants.api import TenantScopedMixin

_INT_FIELDS = (
    "recipients",
    "suppressed",
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "clicks",
    "unique_clicks",
    "opt_outs",
    "capped",
    "blocked",
    "unknown",
    "canceled",
    "bot_hits",
    "conversions",
    "reached",
    "read",
)

StatsSerializer = inline_serializer(
    "CampaignStats",
    {
        **{name: serializers.IntegerField() for name in _INT_FIELDS},
        "delivery_rate": serializers.FloatField(),
        "click_rate": serializers.FloatField(),
        "opt_out_rate": serializers.FloatField(),
        "read_rate": serializers.FloatField(
            allow_null=True,
            help_text="read / messages sent on channels that report reads (read_channels); null when there were "
            "none: SMS and MMS never report reads",
        ),
        "read_channels": serializers.ListField(child=serializers.CharField()),
        "channels": serializers.DictField(
            child=serializers.IntegerField(), help_text="messages by the channel Twilio reported, other than sms"
        ),
        "revenue": serializers.CharField(),
    },
)


class CampaignStatsView(TenantScopedMixin, generics.GenericAPIView):
    """A campaign's figures: recipients, suppressed (opted out, skipped), queued, sent, delivered, undelivered,
    failed; human clicks and unique clicks (link-preview bots are counted apart in ``bot_hits``); opt-outs; the
    delivery rate, and the click and opt-out rates over the recipients reached (``reached``); conversions and
    their revenue. ``read``: messages a read receipt reached (only RCS and WhatsApp send them; a read message
    counts as delivered too); ``read_rate`` over the messages sent on those channels, null when there were none.
    ``blocked``: never sent, outside the tenant's allowed countries or in a high-risk range (the fraud guard).
    Delivery statuses come from the carrier's callbacks, so the figures move for a while after the campaign is
    ``sent``."""

    queryset = Campaign.objects.filter(kind=CampaignKind.CAMPAIGN)

    @extend_schema(
        summary="A campaign's stats",
        tags=["Stats"],
        responses={200: StatsSerializer},
        examples=[
            OpenApiExample(
                "A finished campaign",
                value={
                    "recipients": 1000,
                    "suppressed": 12,
                    "queued": 0,
                    "sent": 40,
                    "delivered": 920,
                    "undelivered": 18,
                    "failed": 10,
                    "clicks": 260,
                    "unique_clicks": 201,
                    "opt_outs": 4,
                    "delivery_rate": 0.9312,
                    "click_rate": 0.2185,
                    "read": 0,
                    "read_rate": None,
                    "read_channels": ["rcs", "whatsapp"],
                    "channels": {},
                    "reached": 920,
                    "opt_out_rate": 0.0043,
                    "capped": 0,
                    "blocked": 0,
                    "unknown": 0,
                    "canceled": 0,
                    "bot_hits": 95,
                    "conversions": 17,
                    "revenue": "1284.50",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        campaign = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(campaign_stats(campaign_id=campaign.pk))


class MessageRowSerializer(serializers.ModelSerializer):
    short_url = serializers.SerializerMethodField()
    clicks = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "to", "status", "sid", "error_code", "short_url", "clicks", "channel"]

    def get_short_url(self, obj) -> str | None:
        link = getattr(obj, "short_link", None)
        return short_url(link.code) if link is not None else None

    def get_clicks(self, obj) -> int:
        return self.context.get("clicks", {}).get(obj.pk, 0)


@extend_schema(
    summary="A campaign's messages",
    tags=["Stats"],
    parameters=[OpenApiParameter("status", str, description="Only messages with this status, e.g. failed")],
)
class CampaignMessagesView(TenantScopedMixin, generics.ListAPIView):
    """The campaign's messages, one per recipient, 50 a page: status, carrier SID, error code, short link, human
    clicks and the channel Twilio reported (sms until a status callback names another)."""

    queryset = Message.objects.all()
    serializer_class = MessageRowSerializer

    def get_queryset(self):
        campaign = get_object_or_404(Campaign.objects.filter(tenant=self.tenant), pk=self.kwargs["pk"])
        qs = super().get_queryset().filter(campaign=campaign).select_related("short_link").order_by("id")
        status = self.request.query_params.get("status")
        return qs.filter(status=status) if status else qs

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        clicks = message_click_counts([m.pk for m in page])
        serializer = self.get_serializer(page, many=True, context={**self.get_serializer_context(), "clicks": clicks})
        return self.get_paginated_response(serializer.data)
