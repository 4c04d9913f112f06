from __future__ import annotations

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import Suppression


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    list_display = ("phone_number", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("phone_number",)
