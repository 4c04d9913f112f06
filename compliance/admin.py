from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from tenants.admin_scoping import TenantScopedAdmin

from .csv_export import consent_csv_response
from .models import AuditLog, ComplianceSettings, ConsentEvent, InboundMessage, Suppression, SuppressionSource
from .phone import phone_normalize
from .selectors import compliance_settings_get
from .services import audit_record, suppression_add, suppression_remove


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["tenant", "phone_number", "note"]

    def clean_phone_number(self):
        value = self.cleaned_data.get("phone_number", "")
        number = phone_normalize(value)
        if number is None:
            raise forms.ValidationError("Enter a valid phone number (E.164, e.g. +14155550100).")
        return number


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    """The suppression list. Adding goes through ``suppression_add``; a change is never allowed (add or lift)."""

    form = SuppressionForm
    list_display = ("__str__", "source", "created_at", "inbound", "erased_at")
    list_filter = ("source",)
    search_fields = ("phone_number",)
    readonly_fields = ("source", "inbound", "created_at", "erased_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("phone_number", "note", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing about a suppression is editable
        tenant = request.user.tenant if not request.user.is_superuser else obj.tenant
        saved = suppression_add(
            tenant=tenant, phone_number=obj.phone_number, source=SuppressionSource.ADMIN, note=obj.note
        )
        obj.pk, obj.tenant = saved.pk, saved.tenant
        audit_record(
            tenant=tenant,
            actor=request.user,
            channel="admin",
            action="suppression_add",
            object_type="suppression",
            object_id=saved.pk,
            phone_number=obj.phone_number,
        )

    def delete_model(self, request, obj):
        self._lift(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._lift(request, obj)

    def _lift(self, request, obj):
        audit_record(
            tenant=obj.tenant_id,
            actor=request.user,
            channel="admin",
            action="suppression_remove",
            object_type="suppression",
            object_id=obj.pk,
            detail={"source": obj.source, "erased": not obj.phone_number},
        )
        if obj.phone_number:
            suppression_remove(tenant=obj.tenant, phone_number=obj.phone_number)
        else:
            obj.delete()


@admin.register(InboundMessage)
class InboundMessageAdmin(TenantScopedAdmin):
    """The replies inbox: messages that need a person first (to review an opt-out, then to answer a question)."""

    list_display = (
        "received_at",
        "from_number",
        "body_preview",
        "kind",
        "needs_review",
        "needs_reply",
        "campaign",
        "contact",
    )
    list_filter = ("needs_review", "needs_reply", "kind")
    search_fields = ("from_number", "body")
    readonly_fields = (
        "sid",
        "from_number",
        "to_number",
        "body",
        "kind",
        "review_reason",
        "contact",
        "campaign",
        "message",
        "received_at",
        "reviewed_at",
        "keyword",
    )
    fields = (*readonly_fields[:5], "needs_review", "needs_reply", *readonly_fields[5:])
    actions = ["mark_reviewed"]
    ordering = ("-needs_review", "-needs_reply", "-received_at", "-id")  # the ones a person must read, first

    def has_add_permission(self, request):
        return False

    @admin.display(description="message")
    def body_preview(self, obj):
        return obj.body[:80]

    @admin.action(description="Mark reviewed", permissions=["change"])
    def mark_reviewed(self, request, queryset):
        n = queryset.filter(needs_review=True).update(needs_review=False, reviewed_at=timezone.now())
        self.message_user(request, f"{n} replies marked reviewed.", messages.SUCCESS)


@admin.register(ConsentEvent)
class ConsentEventAdmin(TenantScopedAdmin):
    """The consent ledger: read-only, exportable as CSV."""

    list_display = ("created_at", "phone_number", "kind", "source", "disclosure_version", "contact")
    list_filter = ("kind", "source")
    search_fields = ("phone_number",)
    actions = ["export_csv"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return consent_csv_response(queryset.order_by("created_at", "id"), filename="consent.csv")


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(TenantScopedAdmin):
    """One row per tenant, created on first visit; tenant users edit theirs, never add a second."""

    list_display = ("__str__", "frequency_cap", "join_keyword", "disclosure_version")

    def changelist_view(self, request, extra_context=None):
        if not request.user.is_superuser and request.user.tenant_id:
            compliance_settings_get(tenant=request.user.tenant)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return request.user.is_superuser


@admin.register(AuditLog)
class AuditLogAdmin(TenantScopedAdmin):
    list_display = ("created_at", "actor_email", "channel", "action", "object_type", "object_id")
    list_filter = ("channel", "action")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
