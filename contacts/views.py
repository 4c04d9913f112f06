from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from tenants.api import TenantScopedReadOnlyViewSet, TenantScopedViewSet

from .importing import ImportFileError, ImportFileTooLarge, contacts_import, import_file_check
from .models import Contact, ContactImport, CrmMergePolicy, ImportStatus
from .selectors import contacts_search
from .serializers import ContactImportSerializer, ContactSerializer, ContactUpsertSerializer, first_error
from .services import (
    DuplicateContact,
    contact_create,
    contact_import_start,
    contact_import_wait,
    contact_update,
    import_fits_request,
)
from .upsert import UpsertError, contact_upsert, contacts_upsert_many, merge_policy_get, merge_policy_set

#: Rows one bulk upsert takes; more is a 400 naming ``contacts`` (send several requests, or import a CSV).
UPSERT_MAX_ROWS = 1000


class MergePolicySerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null until first changed")

    class Meta:
        model = CrmMergePolicy
        fields = ["names", "email", "custom_fields", "updated_at"]
        read_only_fields = ["updated_at"]


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


@extend_schema(tags=["Contacts"])
@extend_schema_view(
    list=extend_schema(
        summary="List contacts",
        description="Your contacts, newest first, 50 a page. `?tag=` (repeat it or comma-separate) keeps contacts "
        "with any of those tags; `?search=` matches part of the number, a name or the email.",
        parameters=[
            OpenApiParameter("tag", str, many=True, description="Contacts with any of these tags"),
            OpenApiParameter("search", str, description="Part of the number, a name or the email"),
        ],
    ),
    create=extend_schema(
        summary="Add a contact",
        description="The number is stored in E.164 (a national format is read in your default country) and is "
        "unique among your contacts: a number you already have is a 400. Unknown tags are created.",
    ),
    retrieve=extend_schema(summary="One contact"),
    update=extend_schema(
        summary="Replace a contact", description="Every field; `tags`, when given, replaces the contact's tags."
    ),
    partial_update=extend_schema(
        summary="Change a contact", description="Only the fields given; `tags`, when given, replaces the tags."
    ),
    destroy=extend_schema(summary="Delete a contact"),
)
class ContactViewSet(TenantScopedViewSet):
    """A contact: a phone number you may text, with a name, an email and tags that campaigns select on."""

    queryset = Contact.objects.all()
    serializer_class = ContactSerializer

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset().prefetch_related("tags")
        params = self.request.query_params
        tags = [t for value in params.getlist("tag") for t in value.split(",") if t.strip()]
        qs = contacts_search(tenant_id=self.tenant.pk, tag=tags, search=params.get("search", ""))
        return qs.prefetch_related("tags").order_by("-created_at", "-id")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        try:
            serializer.instance = contact_create(tenant=self.tenant, **data)
        except DuplicateContact as exc:
            raise serializers.ValidationError({"phone_number": [str(exc)]}) from None

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        try:
            serializer.instance = contact_update(contact=serializer.instance, tags=tags, **data)
        except DuplicateContact as exc:
            raise serializers.ValidationError({"phone_number": [str(exc)]}) from None

    def _upsert_answer(self, outcome) -> Response:
        contact = Contact.objects.prefetch_related("tags").get(pk=outcome.contact.pk)
        body = {**ContactSerializer(contact, context=self.get_serializer_context()).data, "ignored": outcome.ignored}
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)

    @extend_schema(
        summary="Create or update the contact with this number (idempotent)",
        request=ContactUpsertSerializer,
        responses={200: ContactSerializer, 201: ContactSerializer},
        parameters=[OpenApiParameter("phone", str, OpenApiParameter.PATH, description="The number, E.164")],
    )
    @action(detail=False, methods=["put"], url_path=r"by-phone/(?P<phone>[^/]+)")
    def by_phone(self, request, phone=None):
        """201 with the new contact, or 200 with the contact as it is now; the same body twice changes nothing.
        Absent fields are kept, ``tags`` are added. With ``source`` other than ``api`` (a CRM's name) the merge
        rules apply (docs/integrations.md) and ``external_id`` is remembered for that source; what the rules
        refused is listed in ``ignored``."""
        data = dict(request.data) if isinstance(request.data, dict) else {}
        data["phone_number"] = phone
        serializer = ContactUpsertSerializer(data=data, tenant=self.tenant)
        serializer.is_valid(raise_exception=True)
        try:
            outcome = contact_upsert(tenant=self.tenant, **serializer.upsert_kwargs())
        except UpsertError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return self._upsert_answer(outcome)

    @extend_schema(
        summary="Create or update many contacts (per-row errors; good rows go in)",
        request=ContactUpsertSerializer(many=True),
        responses={200: dict},
    )
    @action(detail=False, methods=["post"], url_path="upsert")
    def upsert(self, request):
        """A JSON list of contacts (or ``{"contacts": [...]}``), each as in ``PUT …/by-phone/{e164}/`` with its
        ``phone_number`` (or an ``external_id`` already known for its ``source``). 200 ``{"created", "updated",
        "unchanged", "errors": [{"row", "error"}], "ignored": [{"row", "note"}]}``; rows count from 1; a bad
        row never stops the good ones. At most 1,000 rows a request."""
        rows = request.data.get("contacts") if isinstance(request.data, dict) else request.data
        if not isinstance(rows, list):
            raise serializers.ValidationError({"contacts": ["Send a JSON list of contacts."]})
        if len(rows) > UPSERT_MAX_ROWS:
            raise serializers.ValidationError(
                {"contacts": [f"At most {UPSERT_MAX_ROWS:,} contacts a request; send the rest in another."]}
            )
        checked: list[tuple[int, dict | str]] = []
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                checked.append((number, "Each contact is a JSON object."))
                continue
            serializer = ContactUpsertSerializer(data=row, tenant=self.tenant, phone_required=False)
            if serializer.is_valid():
                checked.append((number, serializer.upsert_kwargs()))
            else:
                checked.append((number, first_error(serializer.errors)))
        return Response(contacts_upsert_many(tenant=self.tenant, rows=checked).as_dict())

    @extend_schema(
        summary="What a CRM may overwrite (merge rules)",
        request=MergePolicySerializer,
        responses={200: MergePolicySerializer},
    )
    @action(detail=False, methods=["get", "put", "patch"], url_path="merge-rules")
    def merge_rules(self, request):
        """Per field group (``names``, ``email``, ``custom_fields``): ``overwrite`` (default), ``fill_empty`` or
        ``never``: what an upsert from a CRM may do to a contact that exists. Tags from a CRM are only added;
        consent rules are fixed (docs/integrations.md, "Merge rules")."""
        policy = merge_policy_get(tenant=self.tenant)
        if request.method == "GET":
            return Response(MergePolicySerializer(policy).data)
        serializer = MergePolicySerializer(policy, data=request.data, partial=request.method == "PATCH")
        serializer.is_valid(raise_exception=True)
        policy = merge_policy_set(tenant=self.tenant, **serializer.validated_data)
        return Response(MergePolicySerializer(policy).data)

    @extend_schema(
        summary="Import contacts from a CSV file",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={200: dict, 202: dict, 413: dict},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request):
        """A CSV with a header row in the multipart field ``file``: ``phone_number`` (required), ``first_name``,
        ``last_name``, ``email``, ``timezone``, ``tags`` (separated by ``;``), consent columns; any other column is
        a custom field. A number you already have is updated. A small file is imported at once: 200 with
        ``created``, ``updated`` and per-row ``errors`` (the header is row 1; a bad row never stops the good ones).

        A file over ``CONTACT_IMPORT_SYNC_MAX_ROWS`` rows or ``CONTACT_IMPORT_SYNC_MAX_BYTES`` bytes always runs
        in a worker, never in the request. The request waits up to ``CONTACT_IMPORT_API_WAIT_SECONDS`` (20 s) for
        it and answers 200 with the same counts (plus the import's ``id`` and ``error_count``; ``errors`` holds
        the first 1,000); a longer import, or any with ``?background=1``, is a 202 with the import, whose progress
        and counts are at ``/api/v1/contact-imports/{id}/``. A file over ``CONTACT_IMPORT_MAX_BYTES`` is a 413
        naming the limit.
        """
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["Upload a CSV file in the multipart field 'file'."]}, status=400)
        try:
            info = import_file_check(upload)
            if not import_fits_request(info):
                job = contact_import_start(
                    tenant=self.tenant, fileobj=upload, file_name=upload.name or "", user=request.user
                )
                wait = settings.CONTACT_IMPORT_API_WAIT_SECONDS
                if wait > 0 and request.query_params.get("background") not in ("1", "true"):
                    job = contact_import_wait(import_id=job.pk, timeout=wait)
                    if job.status == ImportStatus.DONE:
                        body = {"created": job.created, "updated": job.updated, "errors": job.errors}
                        return Response({**body, "id": job.pk, "error_count": job.error_count})
                body = ContactImportSerializer(job).data
                body["url"] = request.build_absolute_uri(f"/api/v1/contact-imports/{job.pk}/")
                return Response(body, status=status.HTTP_202_ACCEPTED)
            result = contacts_import(tenant=self.tenant, fileobj=upload)
        except ImportFileTooLarge as exc:
            return Response(
                {"detail": str(exc), "file": [str(exc)], "limit_bytes": exc.limit_bytes},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        except ImportFileError as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_200_OK)


@extend_schema(tags=["Contacts"])
@extend_schema_view(
    list=extend_schema(summary="List background imports"),
    retrieve=extend_schema(summary="One background import and its progress"),
)
class ContactImportViewSet(TenantScopedReadOnlyViewSet):
    """Background CSV imports (``POST /api/v1/contacts/import/?background=1``): status, rows done, created,
    updated and per-row errors."""

    queryset = ContactImport.objects.defer("data")
    serializer_class = ContactImportSerializer
