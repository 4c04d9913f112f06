"""A tenant's media files: what an MMS campaign attaches, and Twilio fetches from our public URL."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.models import TenantOwned


def media_storage_name(instance: MediaFile, filename: str) -> str:
    """Where the bytes go in the storage: under the unguessable token, never the tenant's own file name."""
    return f"mms/{instance.token}/{instance.filename}"


class MediaFile(TenantOwned):
    """One uploaded file, checked by its content (``media.inspection``), never by its name or the client's type.

    ``token`` (``secrets.token_urlsafe(24)``) is the only key in the public URL
    ``{PUBLIC_BASE_URL}/media/{token}/{filename}``: Twilio fetches it without credentials, so it must not be
    guessable or enumerable. ``filename`` is a short, safe name with the extension of the detected type (what
    Twilio's Content-Disposition advice asks for); ``original_name`` is what the user uploaded, for display.
    """

    token = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to=media_storage_name, max_length=300)
    filename = models.CharField(max_length=40)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(help_text="Bytes")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "media file"

    def __str__(self) -> str:
        return self.original_name or self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def public_path(self) -> str:
        return f"/media/{self.token}/{self.filename}"

    @property
    def public_url(self) -> str:
        """The URL Twilio fetches (``MediaUrl``): on ``PUBLIC_BASE_URL``'s origin."""
        return f"{settings.PUBLIC_BASE_URL}{self.public_path}"
