from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from tenants.api import TenantScopedReadOnlyViewSet, TenantScopedViewSet

from .importing import ImportFileError, contacts_import, import_file_check
from .models import Contact, ContactImport
from .selectors import contacts_search
from .serializers import ContactImportSerializer, ContactSerializer
from .services import (
    DuplicateContact,
    contact_create,
    contact_import_start,
    contact_update,
    sync_import_max_rows,
)


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

    @extend_schema(
        summary="Import contacts from a CSV file",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={200: dict, 202: dict},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request):
        """A CSV with a header row in the multipart field ``file``: ``phone_number`` (required), ``first_name``,
        ``last_name``, ``email``, ``timezone``, ``tags`` (separated by ``;``), consent columns; any other column is
        a custom field. A number you already have is updated. Imported at once: 200 with ``created``,
        ``updated`` and per-row ``errors`` (the header is row 1; a bad row never stops the good ones).

        With ``?background=1`` a file larger than ``CONTACT_IMPORT_SYNC_MAX_ROWS`` runs in a
        worker instead: 202 with the import, whose progress is at ``/api/v1/contact-imports/{id}/``.
        """
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["Upload a CSV file in the multipart field 'file'."]}, status=400)
        try:
            info = import_file_check(upload)
            background = request.query_params.get("background", "").lower() in ("1", "true", "yes")
            if background and info.estimated_rows > sync_import_max_rows():
                job = contact_import_start(
                    tenant=self.tenant, fileobj=upload, file_name=upload.name or "", user=request.user
                )
                body = ContactImportSerializer(job).data
                body["url"] = request.build_absolute_uri(f"/api/v1/contact-imports/{job.pk}/")
                return Response(body, status=status.HTTP_202_ACCEPTED)
            result = contacts_import(tenant=self.tenant, fileobj=upload)
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
