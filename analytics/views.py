"""The dashboard's JSON and CSV endpoints: they check the query, scope by tenant, and call a selector.

The selectors' reads go to the read replica when one is configured (``common.replica``): the campaign is
looked up (tenant scoping) on the primary, its figures read from the replica, whose lag the overview says."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from common.replica import replica_lag_seconds, replica_reads
from tenants.api import TenantScopedMixin

from . import exports, selectors


class TimeseriesQuery(serializers.Serializer):
    interval = serializers.ChoiceField(choices=sorted(selectors.INTERVALS), required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and until < since:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


class OverviewQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)


_BUCKET = {"t": serializers.DateTimeField(), **{name: serializers.IntegerField() for name in selectors.SERIES}}
TimeseriesSerializer = inline_serializer(
    "CampaignTimeseries",
    {
        "interval": serializers.ChoiceField(choices=sorted(selectors.INTERVALS)),
        "buckets": inline_serializer("TimeseriesBucket", _BUCKET, many=True),
        "truncated": serializers.BooleanField(required=False),
    },
)
_DIMENSION_ROW = {
    "value": serializers.CharField(),
    "clicks": serializers.IntegerField(),
    "unique_clicks": serializers.IntegerField(),
    "bot_hits": serializers.IntegerField(),
}
BreakdownSerializer = inline_serializer(
    "CampaignBreakdown",
    {
        **{
            str(dim): inline_serializer(f"Breakdown{str(dim).title()}Row", _DIMENSION_ROW, many=True)
            for dim in selectors.BREAKDOWN_DIMENSIONS
        },
        "bots": inline_serializer(
            "BotHits",
            {
                "bot_hits": serializers.IntegerField(),
                "by_reason": inline_serializer(
                    "BotReason", {"reason": serializers.CharField(), "bot_hits": serializers.IntegerField()}, many=True
                ),
            },
        ),
        "error_codes": inline_serializer(
            "ErrorCodeRow",
            {
                "code": serializers.IntegerField(allow_null=True),
                "status": serializers.CharField(),
                "count": serializers.IntegerField(),
                "description": serializers.CharField(),
            },
            many=True,
        ),
    },
)
_FIGURES = {
    name: serializers.IntegerField()
    for name in ("recipients", "sent", "delivered", "failed", "undelivered", "clicks", "unique_clicks")
}
VariantsSerializer = inline_serializer(
    "CampaignVariants",
    {
        "variants": inline_serializer(
            "VariantRow",
            {
                "variant": serializers.IntegerField(allow_null=True),
                "label": serializers.CharField(),
                "body": serializers.CharField(),
                "percent": serializers.IntegerField(allow_null=True),
                **_FIGURES,
                "queued": serializers.IntegerField(),
                "suppressed": serializers.IntegerField(),
                "bot_hits": serializers.IntegerField(),
                "opt_outs": serializers.IntegerField(),
                "reached": serializers.IntegerField(),
                "click_rate": serializers.FloatField(),
                "delivery_rate": serializers.FloatField(),
                "opt_out_rate": serializers.FloatField(),
            },
            many=True,
        ),
        "test": inline_serializer(
            "VariantTest",
            {
                "metric": serializers.CharField(),
                "a": serializers.IntegerField(),
                "b": serializers.IntegerField(),
                "a_label": serializers.CharField(),
                "b_label": serializers.CharField(),
                "z": serializers.FloatField(allow_null=True),
                "p_value": serializers.FloatField(allow_null=True),
                "significant": serializers.BooleanField(),
                "winner": serializers.IntegerField(allow_null=True),
                "winner_label": serializers.CharField(allow_null=True),
                "alpha": serializers.FloatField(),
                "verdict": serializers.CharField(),
            },
            allow_null=True,
        ),
        "unassigned": serializers.IntegerField(required=False),
    },
)
_OVERVIEW_FIGURES = {
    **_FIGURES,
    "suppressed": serializers.IntegerField(),
    "opt_outs": serializers.IntegerField(),
    "reached": serializers.IntegerField(),
    "delivery_rate": serializers.FloatField(),
    "click_rate": serializers.FloatField(),
    "opt_out_rate": serializers.FloatField(),
    "read": serializers.IntegerField(),
    "read_rate": serializers.FloatField(
        allow_null=True, help_text="read / messages sent on channels that report reads (RCS, WhatsApp); null: none"
    ),
}
OverviewSerializer = inline_serializer(
    "TenantOverview",
    {
        "since": serializers.DateTimeField(),
        "days": serializers.IntegerField(),
        "replica_lag_seconds": serializers.FloatField(
            help_text="How far behind the figures may be: the read replica's lag in seconds (0 without a replica)"
        ),
        "totals": inline_serializer("OverviewTotals", {"campaigns": serializers.IntegerField(), **_OVERVIEW_FIGURES}),
        "campaigns": inline_serializer(
            "OverviewCampaign",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "status": serializers.CharField(),
                "created_at": serializers.DateTimeField(),
                "send_at": serializers.DateTimeField(allow_null=True),
                "started_at": serializers.DateTimeField(allow_null=True),
                "finished_at": serializers.DateTimeField(allow_null=True),
                **_OVERVIEW_FIGURES,
            },
            many=True,
        ),
    },
)


class _CampaignView(TenantScopedMixin, generics.GenericAPIView):
    # A read about one of the tenant's campaigns (another tenant's id is a 404). A comment, not a docstring,
    # so that it never stands in for a subclass's API description.

    queryset = Campaign.objects.all()
    pagination_class = None


class CampaignTimeseriesView(_CampaignView):
    """Sent, delivered, failed, undelivered, clicks, unique clicks and bot hits per minute, hour or day, for a
    chart. Buckets come from per-minute counters kept as events arrive."""

    @extend_schema(
        summary="A campaign's figures over time",
        tags=["Stats"],
        parameters=[
            OpenApiParameter(
                "interval",
                str,
                enum=sorted(selectors.INTERVALS),
                description="Bucket size; default minute when the data spans under 3 hours, else hour",
            ),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO-8601; only minutes from then"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="ISO-8601; only minutes up to then"),
        ],
        responses={200: TimeseriesSerializer},
        examples=[
            OpenApiExample(
                "Two minutes of a sending campaign",
                value={
                    "interval": "minute",
                    "buckets": [
                        {
                            "t": "2026-11-27T10:01:00Z",
                            "sent": 12,
                            "delivered": 10,
                            "failed": 1,
                            "undelivered": 0,
                            "clicks": 3,
                            "unique_clicks": 2,
                            "bot_hits": 1,
                        },
                        {
                            "t": "2026-11-27T10:02:00Z",
                            "sent": 0,
                            "delivered": 2,
                            "failed": 0,
                            "undelivered": 1,
                            "clicks": 1,
                            "unique_clicks": 1,
                            "bot_hits": 0,
                        },
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        campaign = self.get_object()
        query = TimeseriesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        with replica_reads():
            return Response(selectors.campaign_timeseries(campaign_id=campaign.pk, **query.validated_data))


class CampaignBreakdownView(_CampaignView):
    """Human clicks by device, OS, browser, country and A/B variant; bot hits by reason; failed and undelivered
    messages by carrier error code, each with what the code means."""

    @extend_schema(
        summary="A campaign's clicks and errors broken down", tags=["Stats"], responses={200: BreakdownSerializer}
    )
    def get(self, request, pk: int):
        campaign = self.get_object()
        with replica_reads():
            return Response(selectors.campaign_breakdown(campaign_id=campaign.pk))


class CampaignVariantsView(_CampaignView):
    """An A/B test's figures per variant (sent, delivered, clicks, opt-outs and their rates) and the test between
    the two best: z, p-value, whether the difference is significant, the winner and a verdict in words."""

    @extend_schema(summary="A campaign's A/B variants compared", tags=["Stats"], responses={200: VariantsSerializer})
    def get(self, request, pk: int):
        campaign = self.get_object()
        with replica_reads():
            return Response(selectors.campaign_variants(campaign=campaign))


class TenantOverviewView(TenantScopedMixin, APIView):
    """Totals and rates over your campaigns of the last ``days`` days, and the same figures per campaign."""

    @extend_schema(
        summary="All your campaigns' figures",
        tags=["Stats"],
        parameters=[OpenApiParameter("days", int, description="Window in days (1-366), default 30")],
        responses={200: OverviewSerializer},
    )
    def get(self, request):
        query = OverviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        with replica_reads():
            overview = selectors.tenant_overview(tenant=self.tenant, days=query.validated_data["days"])
            overview["replica_lag_seconds"] = replica_lag_seconds()
        return Response(overview)


class _AnyAccept(BaseContentNegotiation):
    """The CSV exports answer CSV whatever the client's Accept header says (a browser download sends */*,
    curl may send text/csv): never a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_CSV = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, streamed")}


class MessagesExportView(_CampaignView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Export a campaign's messages as CSV",
        tags=["Stats"],
        responses=_CSV,
        description=f"One row per recipient, streamed. Columns: {','.join(exports.MESSAGE_COLUMNS)}. Cells a "
        "spreadsheet would run as a formula start with `'`.",
    )
    def get(self, request, pk: int):
        campaign = self.get_object()
        return exports.messages_csv_response(campaign=campaign)


class ClicksExportView(_CampaignView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Export a campaign's clicks as CSV",
        tags=["Stats"],
        responses=_CSV,
        description=f"One row per click (bots included, marked), streamed. Columns: {','.join(exports.CLICK_COLUMNS)}. "
        "Cells a spreadsheet would run as a formula start with `'`.",
    )
    def get(self, request, pk: int):
        campaign = self.get_object()
        return exports.clicks_csv_response(campaign=campaign)
