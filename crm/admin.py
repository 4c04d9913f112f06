"""Admin: CRM connections (the secret entered in a password box, never shown back; the webhook URL to copy), the
deliveries they received (read-only), REST hooks (read-only: the platforms make and remove them)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import CrmConnection, InboundEvent, RestHook


class CrmConnectionForm(forms.ModelForm):
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="The app's client secret (Shopify: API secret key; HubSpot: client secret). Leave empty to keep "
        "the one on file.",
    )

    class Meta:
        model = CrmConnection
        fields = ["tenant", "kind", "name", "secret", "active"]

    def clean_secret(self):
        secret = self.cleaned_data.get("secret", "")
        if not secret and (self.instance.pk is None or not self.instance.secret):
            raise forms.ValidationError("Enter the app's client secret.")
        return secret or self.instance.secret


@admin.register(CrmConnection)
class CrmConnectionAdmin(TenantScopedAdmin):
    form = CrmConnectionForm
    list_display = ("__str__", "kind", "active", "received", "last_received_at")
    list_filter = ("kind", "active")
    readonly_fields = ("webhook_url", "secret_on_file", "received", "last_received_at")

    @admin.display(description="Webhook URL (give it to the platform)")
    def webhook_url(self, obj):
        return settings.PUBLIC_BASE_URL.rstrip("/") + obj.webhook_path if obj.pk else "— (shown once saved)"

    @admin.display(description="Secret on file")
    def secret_on_file(self, obj):
        return obj.secret_masked if obj.pk else "—"


class _ReadOnly:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InboundEvent)
class InboundEventAdmin(_ReadOnly, TenantScopedAdmin):
    list_display = ("topic", "object_id", "outcome", "received_at", "connection")
    list_filter = ("topic",)
    fields = ("connection", "key", "topic", "object_id", "outcome", "received_at")
    readonly_fields = fields


@admin.register(RestHook)
class RestHookAdmin(_ReadOnly, TenantScopedAdmin):
    list_display = ("event", "target_url", "created_at")
    list_filter = ("event",)
    fields = ("event", "target_url", "subscription", "created_at")
    readonly_fields = fields
