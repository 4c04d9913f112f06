"""``/api/v1/media/``: upload, list, read and delete a tenant's media files (CONTRACT.md, second wave)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from tenants.api import TenantScopedMixin

from .inspection import MediaRejected
from .models import MediaFile
from .serializers import MediaFileSerializer, MediaUploadSerializer
from .services import MediaInUse, media_delete, media_upload


def rejected(exc: MediaRejected, field: str = "file") -> Response:
    """A 400 that names the field and the limit (the setting's name, and its value where it has one)."""
    body = {field: [exc.message], "limit": exc.limit}
    if exc.limit_value is not None:
        body["limit_value"] = exc.limit_value
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(tags=["Media"])
@extend_schema_view(
    list=extend_schema(summary="List media files", description="Your media library, newest first, 50 a page."),
    retrieve=extend_schema(summary="One media file"),
    create=extend_schema(
        summary="Upload a media file",
        description="Multipart field `file`: JPEG, PNG or GIF (or PDF), checked by content, at most "
        "`MMS_MAX_FILE_BYTES` (5,000,000). Over a limit or not an accepted type: a 400 naming `file` and the "
        "`limit`. The answer's `url` is where Twilio fetches it.",
        request={"multipart/form-data": MediaUploadSerializer},
        responses={201: MediaFileSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a media file",
        description="Refused with a 409 while a campaign that may still send (draft, scheduled, sending, paused) "
        "uses it.",
    ),
)
class MediaFileViewSet(
    TenantScopedMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Images (and PDFs) for MMS campaigns: `"media": [id, …]` on a campaign attaches them."""

    queryset = MediaFile.objects.all()
    serializer_class = MediaFileSerializer
    parser_classes = [MultiPartParser, FormParser]

    def create(self, request, *args, **kwargs):
        given = MediaUploadSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            media = media_upload(tenant=self.tenant, upload=given.validated_data["file"], user=request.user)
        except MediaRejected as exc:
            return rejected(exc)
        return Response(MediaFileSerializer(media).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        media = self.get_object()
        try:
            media_delete(media=media)
        except MediaInUse as exc:
            return Response(
                {"detail": str(exc), "campaigns": [cid for cid, _name, _status in exc.campaigns]},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
