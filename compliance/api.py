"""REST API: the opt-out list, the consent ledger (JSON and CSV) and privacy requests."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from common.params import id_param
from contacts.models import Contact
from tenants.api import TenantScopedMixin
from tenants.models import Role

from .csv_export import consent_csv_response
from .models import AuditChannel, ConsentEvent, ConsentKind, ConsentSource, Suppression, SuppressionSource
from .phone import phone_normalize
from .privacy import contact_erase, privacy_export
from .selectors import consent_events_for, is_suppressed, suppression_get
from .services import audit_record, consent_record, suppression_add


def _phone_from(request, value) -> str:
    number = phone_normalize(str(value or ""), default_country=request.user.tenant.default_country)
    if number is None:
        raise ValidationError({"phone_number": ["Enter a valid phone number (E.164, e.g. +14155550100)."]})
    return number


class OptOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ["id", "phone_number", "source", "note", "created_at"]
        read_only_fields = ["id", "source", "created_at"]
        extra_kwargs = {"phone_number": {"required": True, "allow_blank": False, "validators": []}}


@extend_schema(tags=["Compliance"])
@extend_schema_view(
    list=extend_schema(summary="List opted-out numbers"),
    retrieve=extend_schema(summary="One opted-out number"),
)
class OptOutViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Numbers no campaign of yours will text: people who replied STOP (or UNSUBSCRIBE, CANCEL, …) until they
    reply START, numbers added by hand, and revoked consents."""

    queryset = Suppression.objects.all()
    serializer_class = OptOutSerializer

    @extend_schema(
        summary="Opt a number out by hand",
        description='`{"phone_number", "note"?}`: 201 with the new opt-out, or 200 with the existing one '
        "(idempotent). Only the person's own START lifts it.",
        responses={201: OptOutSerializer, 200: OptOutSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = request.data if isinstance(request.data, dict) else {}
        number = _phone_from(request, data.get("phone_number"))
        note = str(data.get("note") or "")[:300]
        existed = suppression_get(tenant_id=self.tenant.pk, phone_number=number) is not None
        suppression = suppression_add(tenant=self.tenant, phone_number=number, source=SuppressionSource.API, note=note)
        if not existed:
            audit_record(
                tenant=self.tenant,
                actor=request.user,
                channel=AuditChannel.API,
                action="suppression_add",
                object_type="suppression",
                object_id=suppression.pk,
                phone_number=number,
            )
        return Response(
            self.get_serializer(suppression).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class ConsentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "phone_number",
            "contact",
            "kind",
            "source",
            "source_url",
            "disclosure_text",
            "disclosure_version",
            "ip_address",
            "user_agent",
            "created_at",
        ]
        read_only_fields = fields


class ConsentRecordSerializer(serializers.Serializer):
    """A grant or revocation captured elsewhere (a web sign-up form, an import, a CRM)."""

    phone_number = serializers.CharField()
    kind = serializers.ChoiceField(choices=[ConsentKind.GRANTED, ConsentKind.REVOKED])
    source = serializers.ChoiceField(
        choices=[ConsentSource.WEB_FORM, ConsentSource.IMPORT, ConsentSource.API], default=ConsentSource.API
    )
    source_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    disclosure_text = serializers.CharField(required=False, allow_blank=True, default="")
    disclosure_version = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None)
    user_agent = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["kind"] == ConsentKind.GRANTED and attrs["source"] == ConsentSource.WEB_FORM:
            errors = {}
            if not attrs["source_url"]:
                errors["source_url"] = ["A web-form consent needs the form's URL."]
            if not attrs["disclosure_text"]:
                errors["disclosure_text"] = ["A consent needs the disclosure text the person agreed to."]
            if errors:
                raise ValidationError(errors)
        return attrs


@extend_schema(tags=["Compliance"])
@extend_schema_view(
    list=extend_schema(
        summary="The consent ledger",
        parameters=[
            OpenApiParameter("phone_number", str, description="Only this number's events"),
            OpenApiParameter("contact", int, description="Only this contact's events"),
        ],
    ),
    retrieve=extend_schema(summary="One consent event"),
)
class ConsentEventViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The consent ledger: every grant and revocation of consent to be texted, oldest first, with its source and
    the disclosure shown. ``?phone_number=`` or ``?contact=`` narrows it; ``export/`` streams CSV.

    ``POST`` appends a grant or revocation (web form, import, API). A revocation also
    suppresses the number; a grant never lifts a suppression (only the person's own
    START does).
    """

    queryset = ConsentEvent.objects.all()
    serializer_class = ConsentEventSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        contact_id = id_param(params, "contact", what="contact")
        if contact_id is not None:
            contact = get_object_or_404(Contact.objects.for_tenant(self.tenant), pk=contact_id)
            qs = consent_events_for(tenant_id=self.tenant.pk, phone_number=contact.phone_number)
        elif params.get("phone_number"):
            qs = consent_events_for(
                tenant_id=self.tenant.pk, phone_number=_phone_from(self.request, params["phone_number"])
            )
        return qs.order_by("created_at", "id")

    @extend_schema(
        summary="Record a consent grant or revocation",
        description="A grant or revocation captured elsewhere (a web sign-up form, an import, a CRM). A web-form "
        "grant needs `source_url` and `disclosure_text`. A revocation also opts the number out; a grant never "
        "lifts an opt-out (only the person's own START does). 201 with the event and `suppressed`.",
        request=ConsentRecordSerializer,
        responses={201: ConsentEventSerializer},
    )
    def create(self, request, *args, **kwargs):
        incoming = ConsentRecordSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        number = _phone_from(request, data.pop("phone_number"))
        with transaction.atomic():
            event = consent_record(tenant=self.tenant, phone_number=number, **data)
            if data["kind"] == ConsentKind.REVOKED:
                suppression_add(
                    tenant=self.tenant,
                    phone_number=number,
                    source=SuppressionSource.API,
                    note=f"consent revoked via {data['source']}",
                    record_consent=False,
                )
            audit_record(
                tenant=self.tenant,
                actor=request.user,
                channel=AuditChannel.API,
                action=f"consent_{data['kind']}",
                object_type="consent_event",
                object_id=event.pk,
                phone_number=number,
            )
        body = {
            **ConsentEventSerializer(event).data,
            "suppressed": is_suppressed(tenant_id=self.tenant.pk, phone_number=number),
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Export the consent ledger as CSV",
        parameters=[
            OpenApiParameter("phone_number", str, description="Only this number's events"),
            OpenApiParameter("contact", int, description="Only this contact's events"),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        """CSV of the ledger: the whole tenant's, or one contact's / number's."""
        qs = self.get_queryset()
        suffix = request.query_params.get("contact") or (
            "number" if request.query_params.get("phone_number") else "all"
        )
        audit_record(
            tenant=self.tenant,
            actor=request.user,
            channel=AuditChannel.API,
            action="consent_export",
            object_type="consent_ledger",
            object_id=request.query_params.get("contact", ""),
        )
        return consent_csv_response(qs, filename=f"consent-{self.tenant.slug}-{suffix}.csv")


class _AdminOnly:
    def check_admin(self, request) -> None:
        if request.user.role != Role.ADMIN:
            raise PermissionDenied("Privacy requests need the admin role.")


class PhoneNumberSerializer(serializers.Serializer):
    phone_number = serializers.CharField()


class PrivacyExportView(_AdminOnly, APIView):
    """Everything held about a phone number (contacts, messages, replies, clicks, consent events, opt-out) as JSON,
    for a data subject's access request. Admins only (others get a 403); the request is written to the audit log.

    ``POST {"phone_number"}`` is the way to ask: a number in a body stays out of access logs, proxies and
    browser history. ``GET ?phone_number=`` still answers the same, for callers written before (logs keep only
    the parameter's name, docs/operations.md)."""

    @extend_schema(
        summary="Export everything held about a number",
        tags=["Compliance"],
        request=PhoneNumberSerializer,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        return self._export(request, data.get("phone_number"))

    @extend_schema(
        summary="Export everything held about a number (query string; prefer POST)",
        tags=["Compliance"],
        parameters=[OpenApiParameter("phone_number", str, required=True)],
        responses={200: OpenApiTypes.OBJECT},
        deprecated=True,
    )
    def get(self, request):
        return self._export(request, request.query_params.get("phone_number"))

    def _export(self, request, value):
        self.check_admin(request)
        number = _phone_from(request, value)
        data = privacy_export(tenant=request.user.tenant, phone_number=number)
        audit_record(
            tenant=request.user.tenant,
            actor=request.user,
            channel=AuditChannel.API,
            action="privacy_export",
            object_type="contact",
            phone_number=number,
        )
        return Response(data)


class PrivacyEraseView(_AdminOnly, APIView):
    """``{"phone_number"}``: erase what is held about the number, for a data subject's erasure request. Messages
    still waiting for it are never sent; an opt-out stays, kept as a hash so the number is still never texted.
    200 with the counts of what was erased.
    Admins only (others get a 403); the request is written to the audit log."""

    @extend_schema(
        summary="Erase a number",
        tags=["Compliance"],
        request=PhoneNumberSerializer,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        self.check_admin(request)
        data = request.data if isinstance(request.data, dict) else {}
        number = _phone_from(request, data.get("phone_number"))
        counts = contact_erase(tenant=request.user.tenant, phone_number=number)
        audit_record(
            tenant=request.user.tenant,
            actor=request.user,
            channel=AuditChannel.API,
            action="privacy_erase",
            object_type="contact",
            phone_number=number,
            detail=counts,
        )
        return Response({"erased": counts})
