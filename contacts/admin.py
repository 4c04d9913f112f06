from __future__ import annotations

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import Contact, Tag


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    list_display = ("phone_number", "first_name", "last_name", "consent_status", "created_at")
    list_filter = ("consent_status", "tags")
    search_fields = ("phone_number", "first_name", "last_name", "email")
    filter_horizontal = ("tags",)
