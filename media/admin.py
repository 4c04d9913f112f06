"""The media library in the admin: upload (checked like the API), list with thumbnails, delete unless in use."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from tenants.admin_scoping import TenantScopedAdmin

from .inspection import ACCEPTED_LABEL, MediaRejected
from .models import MediaFile
from .services import (
    PENDING_CAMPAIGN_STATUSES,
    MediaInUse,
    media_campaigns_pending,
    media_check_upload,
    media_delete,
    media_upload,
    read_upload,
    size_warnings,
)
from .widgets import thumbnail


class MediaUploadForm(forms.ModelForm):
    upload = forms.FileField(
        label="File",
        help_text=f"{ACCEPTED_LABEL}, checked by content; at most 5 MB (MMS_MAX_FILE_BYTES). Carriers resize "
        "images over 600 KB.",
    )

    class Meta:
        model = MediaFile
        fields = ["tenant"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        try:
            media_check_upload(data=read_upload(upload))
        except MediaRejected as exc:
            raise ValidationError(exc.message) from None
        return upload


@admin.register(MediaFile)
class MediaFileAdmin(TenantScopedAdmin):
    form = MediaUploadForm
    list_display = ("thumb", "__str__", "content_type", "size_display", "dimensions", "pending_campaigns", "created_at")
    list_display_links = ("thumb", "__str__")
    list_filter = ("content_type",)
    search_fields = ("original_name", "filename")
    readonly_fields = (
        "preview",
        "public_link",
        "original_name",
        "content_type",
        "size_display",
        "dimensions",
        "warnings",
        "created_at",
    )

    class Media:
        css = {"all": ("media/media_admin.css",)}

    def get_queryset(self, request):
        pending = Q(campaign_uses__campaign__status__in=PENDING_CAMPAIGN_STATUSES)
        return super().get_queryset(request).annotate(pending_uses=Count("campaign_uses", filter=pending))

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tenant", "upload"] if request.user.is_superuser else ["upload"]
        return list(self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        # A file's bytes never change (Twilio and carriers cache them by URL): upload a new one instead.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        tenant = form.cleaned_data.get("tenant") if request.user.is_superuser else request.user.tenant
        media_upload(tenant=tenant, upload=form.cleaned_data["upload"], user=request.user, into=obj)
        for warning in size_warnings(content_type=obj.content_type, size=obj.size):
            self.message_user(request, warning, messages.WARNING)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            in_use = media_campaigns_pending(media=obj)
            if in_use:
                self.message_user(request, str(MediaInUse(in_use)), messages.ERROR)
                return redirect(reverse(f"{self.admin_site.name}:media_mediafile_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        try:
            media_delete(media=obj)
        except MediaInUse as exc:  # a campaign took it since the confirmation page
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request, queryset):
        refused = []
        for media in queryset:
            try:
                media_delete(media=media)
            except MediaInUse:
                refused.append(str(media))
        if refused:
            self.message_user(
                request,
                f"Not deleted, used by campaigns that may still send: {', '.join(refused)}.",
                messages.ERROR,
            )

    @admin.display(description="")
    def thumb(self, obj: MediaFile) -> str:
        return thumbnail(obj)

    @admin.display(description="")
    def preview(self, obj: MediaFile) -> str:
        return thumbnail(obj, "media-preview")

    @admin.display(description="Public URL (what Twilio fetches)")
    def public_link(self, obj: MediaFile) -> str:
        return format_html('<a href="{}">{}</a>', obj.public_path, obj.public_url)

    @admin.display(description="size", ordering="size")
    def size_display(self, obj: MediaFile) -> str:
        return f"{obj.size / 1000:,.0f} KB" if obj.size >= 1000 else f"{obj.size} bytes"

    @admin.display(description="pixels")
    def dimensions(self, obj: MediaFile) -> str:
        return f"{obj.width}×{obj.height}" if obj.width else "—"

    @admin.display(description="pending campaigns", ordering="pending_uses")
    def pending_campaigns(self, obj: MediaFile) -> int:
        return getattr(obj, "pending_uses", 0)

    @admin.display(description="carriers")
    def warnings(self, obj: MediaFile) -> str:
        return " ".join(size_warnings(content_type=obj.content_type, size=obj.size)) or "Fine for every carrier."
