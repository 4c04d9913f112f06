from __future__ import annotations

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import Campaign, Message


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    list_display = ("name", "status", "send_at", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "started_at", "finished_at", "paused_reason", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Message)
class MessageAdmin(TenantScopedAdmin):
    list_display = ("to", "campaign", "status", "error_code", "sid", "sent_at")
    list_filter = ("status", "error_code")
    search_fields = ("to", "sid")
    list_select_related = ("campaign",)
    raw_id_fields = ("contact",)

    def has_add_permission(self, request):
        return False  # messages are made by sending a campaign

    def has_change_permission(self, request, obj=None):
        return False  # read-only: the status machine moves them

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
