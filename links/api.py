"""REST API: the tenant's branded short domains (``/api/v1/link-domains/``) and a campaign's link expiry
(``/api/v1/campaigns/{id}/link-expiry/``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api import IsTenantUser, TenantScopedViewSet

from .models import DomainMethod, LinkDomain, LinkExpiry
from .services import (
    link_domain_create,
    link_domain_delete,
    link_domain_update,
    link_domain_verify,
    link_expiry_set,
)
from .verification import challenge_url, txt_name

DOMAIN_EXAMPLE = {
    "id": 3,
    "host": "go.acme.example",
    "method": "dns",
    "active": True,
    "verified": True,
    "verified_at": "2026-12-07T09:05:00Z",
    "last_checked_at": "2026-12-07T09:05:00Z",
    "last_error": "",
    "token": "q0yJ7Hc2m3tC1bZ7w0pXzq9gkXo3Yh1D",
    "dns_record": {"name": "_smscampaigns.go.acme.example", "type": "TXT", "value": "q0yJ7Hc2m3tC1bZ7w0pXzq9gkXo3Yh1D"},
    "http_url": "http://go.acme.example/.well-known/smscampaigns-verify/q0yJ7Hc2m3tC1bZ7w0pXzq9gkXo3Yh1D",
    "created_at": "2026-12-07T09:00:00Z",
}


def _field_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class LinkDomainSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(read_only=True)
    dns_record = serializers.SerializerMethodField(help_text="The TXT record to add for DNS verification.")
    http_url = serializers.SerializerMethodField(help_text="Where the HTTP check fetches the token.")
    method = serializers.ChoiceField(choices=DomainMethod.choices, required=False, default=DomainMethod.DNS)
    active = serializers.BooleanField(required=False, default=True, help_text="New links use this domain.")

    class Meta:
        model = LinkDomain
        fields = [
            "id",
            "host",
            "method",
            "active",
            "verified",
            "verified_at",
            "last_checked_at",
            "last_error",
            "token",
            "dns_record",
            "http_url",
            "created_at",
        ]
        read_only_fields = ["id", "verified_at", "last_checked_at", "last_error", "token", "created_at"]

    def get_dns_record(self, obj) -> dict:
        return {"name": txt_name(obj.host), "type": "TXT", "value": obj.token}

    def get_http_url(self, obj) -> str:
        return challenge_url(obj.host, obj.token)

    def validate_host(self, value: str) -> str:
        if self.instance is not None and value != self.instance.host:
            raise serializers.ValidationError("A domain's host cannot change: add the new domain instead.")
        return value

    def create(self, validated_data):
        try:
            return link_domain_create(
                tenant=validated_data["tenant"],
                host=validated_data["host"],
                method=validated_data.get("method", DomainMethod.DNS),
                active=validated_data.get("active", True),
            )
        except DjangoValidationError as exc:
            raise _field_errors(exc) from exc

    def update(self, instance, validated_data):
        try:
            return link_domain_update(
                domain=instance, method=validated_data.get("method"), active=validated_data.get("active")
            )
        except DjangoValidationError as exc:
            raise _field_errors(exc) from exc


@extend_schema(tags=["Link domains"])
@extend_schema_view(
    list=extend_schema(
        summary="List your short-link domains",
        examples=[OpenApiExample("Domains", value=[DOMAIN_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(summary="One domain, with its verification instructions"),
    create=extend_schema(
        summary="Add a domain (then point it here and verify it)",
        description="`host` is the domain only (`go.acme.example`): lower-cased, IDNA-encoded; an IP address, a "
        "port, a path, a domain you already added or one another account verified is a 400 naming `host`.",
        examples=[
            OpenApiExample("Add", value={"host": "go.acme.example", "method": "dns"}, request_only=True),
            OpenApiExample(
                "Added", value={**DOMAIN_EXAMPLE, "verified": False, "verified_at": None}, response_only=True
            ),
        ],
    ),
    update=extend_schema(summary="Change the method or whether new links use it"),
    partial_update=extend_schema(summary="Change the method or whether new links use it"),
    destroy=extend_schema(summary="Remove a domain (its links stop answering on it; the shared domain still works)"),
)
class LinkDomainViewSet(TenantScopedViewSet):
    """Your own short domains: once verified, campaign links go out as ``https://<host>/<code>``.

    Point the host at the platform (a CNAME), then prove it is yours: a TXT record ``_smscampaigns.<host>`` holding
    ``token`` (method ``dns``), or nothing more for method ``http`` (the platform serves the token on the host
    itself). Then ``POST …/{id}/verify/``. docs/links.md has the DNS and TLS steps."""

    queryset = LinkDomain.objects.all()
    serializer_class = LinkDomainSerializer

    def perform_destroy(self, instance):
        link_domain_delete(domain=instance)

    @extend_schema(
        summary="Check the domain now (DNS TXT record or the HTTP token)",
        request=None,
        responses={200: LinkDomainSerializer},
        description="Answers 200 with the domain either way: `verified` and `last_error` say how it went.",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        domain = link_domain_verify(domain=self.get_object())
        return Response(self.get_serializer(domain).data)


class LinkExpirySerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Links stop working then.")
    ttl_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        help_text="Or: links stop working this many days after sending.",
    )

    def validate(self, attrs):
        if attrs.get("expires_at") is not None and attrs.get("ttl_days") is not None:
            raise serializers.ValidationError({"ttl_days": ["Give expires_at or ttl_days, not both."]})
        return attrs


@extend_schema(tags=["Link domains"])
class CampaignLinkExpiryView(APIView):
    """When a campaign's links stop redirecting: an expired link answers a page with your name (HTTP 410) and
    counts no click. ``expires_at`` (one moment) or ``ttl_days`` (days after each link was sent); both empty
    removes the expiry. Links already sent follow the new rule."""

    permission_classes = [IsTenantUser]
    serializer_class = LinkExpirySerializer

    def _campaign(self, request, pk: int):
        from campaigns.models import Campaign

        return get_object_or_404(Campaign.objects.filter(tenant=request.user.tenant), pk=pk)

    def _answer(self, campaign) -> Response:
        rule = LinkExpiry.objects.filter(campaign=campaign).values("expires_at", "ttl_days").first()
        return Response(LinkExpirySerializer(rule or {"expires_at": None, "ttl_days": None}).data)

    @extend_schema(summary="A campaign's link expiry", responses={200: LinkExpirySerializer})
    def get(self, request, pk: int):
        return self._answer(self._campaign(request, pk))

    @extend_schema(
        summary="Set a campaign's link expiry",
        request=LinkExpirySerializer,
        responses={200: LinkExpirySerializer},
        examples=[OpenApiExample("A week", value={"ttl_days": 7}, request_only=True)],
    )
    def put(self, request, pk: int):
        campaign = self._campaign(request, pk)
        serializer = LinkExpirySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            link_expiry_set(
                campaign=campaign,
                expires_at=serializer.validated_data.get("expires_at"),
                ttl_days=serializer.validated_data.get("ttl_days"),
            )
        except DjangoValidationError as exc:
            raise _field_errors(exc) from exc
        return self._answer(campaign)

    @extend_schema(summary="Remove a campaign's link expiry", responses={204: None})
    def delete(self, request, pk: int):
        link_expiry_set(campaign=self._campaign(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
