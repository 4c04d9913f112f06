"""Admin for delivery tracking: the callback history (orphans included) and failures by error code."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from tenants.admin_scoping import TenantScopedAdmin

from .error_codes import error_code_description
from .models import DeliveryFailure, StatusEvent


class ErrorCodeFilter(admin.SimpleListFilter):
    """Filter by Twilio error code, each shown with its description. Usable on any model with ``error_code``."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        codes = (
            model_admin.get_queryset(request)
            .exclude(error_code=None)
            .order_by("error_code")
            .values_list("error_code", flat=True)
            .distinct()
        )
        return [(str(code), f"{code} · {error_code_description(code)}") for code in codes[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        try:
            return queryset.filter(error_code=int(value))
        except ValueError:
            return queryset.none()


class OrphanFilter(admin.SimpleListFilter):
    title = "matched to a message"
    parameter_name = "orphan"

    def lookups(self, request, model_admin):
        return [("yes", "No: orphan (SID unknown)"), ("no", "Yes")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(message=None)
        if self.value() == "no":
            return queryset.exclude(message=None)
        return queryset


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """The append-only callback history: nobody edits or deletes it here."""

    list_display = ("sid", "status", "error", "matched", "received_at", "applied_at")
    list_filter = (OrphanFilter, "status", ErrorCodeFilter)
    search_fields = ("=sid",)
    readonly_fields = ("sid", "status", "error_code", "error", "message", "fields", "received_at", "applied_at")
    fields = readonly_fields

    @admin.display(description="error")
    def error(self, obj):
        return f"{obj.error_code} · {error_code_description(obj.error_code)}" if obj.error_code else ""

    @admin.display(description="matched", boolean=True)
    def matched(self, obj):
        return obj.message_id is not None


@admin.register(DeliveryFailure)
class DeliveryFailureAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """Failed and undelivered messages, filterable by error code with its meaning."""

    list_display = ("to", "campaign", "status", "error_code", "error", "sid", "sent_at")
    list_filter = (ErrorCodeFilter, "status")
    search_fields = ("to", "=sid")
    list_select_related = ("campaign",)
    readonly_fields = ("to", "campaign", "status", "error_code", "error", "sid", "sent_at", "delivered_at", "body")
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=DeliveryFailure.FAILURE_STATUSES)

    @admin.display(description="meaning")
    def error(self, obj):
        return format_html("{}", error_code_description(obj.error_code) or obj.error_message)
