"""REST API: saved segments (``/api/v1/segments/``) and their live count."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from tenants.api import TenantScopedViewSet

from .models import Segment
from .selectors import segment_count
from .services import SegmentError, SegmentInUse, segment_create, segment_delete, segment_update

DEFINITION_EXAMPLE = {
    "groups": [
        [
            {"type": "field", "field": "city", "op": "equals", "value": "Boston"},
            {"type": "engagement", "event": "clicked", "op": "in_last_days", "days": 30},
        ],
        [{"type": "tag", "op": "has", "value": "vip"}],
    ]
}
SEGMENT_EXAMPLE = {
    "id": 7,
    "name": "Boston clickers or VIPs",
    "description": "",
    "definition": DEFINITION_EXAMPLE,
    "created_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
}


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class SegmentSerializer(serializers.ModelSerializer):
    """A saved segment. ``definition``: ``{"groups": [[condition, …], …]}``: any group matches (OR), every
    condition of a group must (AND). Checked by ``segments.conditions.definition_validate`` (a 400 naming the
    group and condition)."""

    definition = serializers.JSONField(help_text='{"groups": [[condition, …], …]}: groups OR-ed, conditions AND-ed')
    description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "definition", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}  # the per-tenant unique name: segments.services says it


class SegmentCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    by_consent = serializers.DictField(child=serializers.IntegerField())


@extend_schema(tags=["Segments"])
@extend_schema_view(
    list=extend_schema(summary="List saved segments"),
    retrieve=extend_schema(
        summary="One segment", examples=[OpenApiExample("Segment", value=SEGMENT_EXAMPLE, response_only=True)]
    ),
    create=extend_schema(
        summary="Save a segment",
        description="A named audience: groups of conditions over contact and custom fields, tags, consent and "
        "engagement (delivered, clicked, replied, converted in the last N days, ever or never). Use it as a "
        'campaign\'s audience with `"audience": {"segment": <id>}`.',
        examples=[
            OpenApiExample(
                "New segment",
                value={"name": "Boston clickers or VIPs", "definition": DEFINITION_EXAMPLE},
                request_only=True,
            ),
            OpenApiExample("Created", value=SEGMENT_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    update=extend_schema(summary="Replace a segment"),
    partial_update=extend_schema(summary="Change a segment"),
    destroy=extend_schema(summary="Delete a segment (409 while a campaign not yet sent uses it)"),
)
class SegmentViewSet(TenantScopedViewSet):
    """Saved segments: named, reusable audiences, counted live."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer

    def perform_create(self, serializer):
        try:
            serializer.instance = segment_create(
                tenant=self.tenant, user=self.request.user, **serializer.validated_data
            )
        except SegmentError as exc:
            raise serializers.ValidationError(exc.errors) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = segment_update(segment=serializer.instance, **serializer.validated_data)
        except SegmentError as exc:
            raise serializers.ValidationError(exc.errors) from None

    def perform_destroy(self, instance):
        try:
            segment_delete(segment=instance)
        except SegmentInUse as exc:
            raise Conflict(str(exc)) from None

    @extend_schema(
        summary="How many contacts are in the segment now",
        request=None,
        responses={200: SegmentCountSerializer},
        examples=[
            OpenApiExample(
                "Count",
                value={"count": 1204, "by_consent": {"granted": 1180, "unknown": 20, "revoked": 4}},
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        """The contacts the segment selects right now, and how many of them granted, have unknown or revoked
        consent (a marketing campaign texts only the granted; revoked never)."""
        return Response(segment_count(segment=self.get_object()))
