from __future__ import annotations

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import ShortLink


@admin.register(ShortLink)
class ShortLinkAdmin(TenantScopedAdmin):
    list_display = ("code", "target_url", "campaign", "created_at", "expires_at")
    search_fields = ("code", "target_url")
    raw_id_fields = ("message", "campaign")
