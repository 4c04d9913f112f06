from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .admin_scoping import TenantScopedAdmin, scope_queryset
from .crypto import mask
from .models import Role, Tenant, User


class TenantForm(forms.ModelForm):
    twilio_auth_token = forms.CharField(
        label="Twilio auth token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the current token.",
    )

    class Meta:
        model = Tenant
        fields = [
            "name",
            "slug",
            "twilio_account_sid",
            "twilio_auth_token",
            "sender",
            "sender_type",
            "sending_rate",
            "default_country",
            "help_text",
            "quiet_hours_start",
            "quiet_hours_end",
            "legal_quiet_hours",
            "sending_paused_reason",
        ]

    def clean_twilio_auth_token(self):
        value = self.cleaned_data.get("twilio_auth_token")
        return value or (self.instance.twilio_auth_token if self.instance.pk else "")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ("name", "slug", "twilio_account_sid", "sender", "sender_type", "paused")
    search_fields = ("name", "slug", "twilio_account_sid")
    readonly_fields = ("auth_token_on_file", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "slug")}),
        (
            "Twilio",
            {
                "fields": (
                    "twilio_account_sid",
                    "twilio_auth_token",
                    "auth_token_on_file",
                    "sender",
                    "sender_type",
                    "sending_rate",
                )
            },
        ),
        (
            "Compliance",
            {"fields": ("default_country", "help_text", "quiet_hours_start", "quiet_hours_end", "legal_quiet_hours")},
        ),
        ("State", {"fields": ("sending_paused_reason", "created_at")}),
    )

    @admin.display(description="Token on file")
    def auth_token_on_file(self, obj):
        return mask(obj.twilio_auth_token) or "—"

    @admin.display(boolean=True, description="Paused")
    def paused(self, obj):
        return bool(obj.sending_paused_reason)

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request)

    def has_module_permission(self, request):
        return request.user.is_superuser or (request.user.is_staff and request.user.tenant_id is not None)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        return request.user.tenant_id is not None and (obj is None or obj.pk == request.user.tenant_id)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or (self.has_view_permission(request, obj) and request.user.role == Role.ADMIN)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("slug")
        return fields


class TenantUserCreationForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    class Meta:
        model = User
        fields = ("email", "tenant", "role")

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password"])
        user.is_staff = True
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(TenantScopedAdmin, BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "tenant", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("email", "first_name", "last_name")
    superuser_fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "tenant", "role")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    tenant_fieldsets = (
        (None, {"fields": ("email",)}),
        ("Profile", {"fields": ("first_name", "last_name", "role", "is_active")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "role", "password")}),)
    add_form = TenantUserCreationForm

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = self.add_fieldsets
            if request.user.is_superuser:
                fields = ((None, {"fields": ("email", "tenant", "role", "password")}),)
            return fields
        return self.superuser_fieldsets if request.user.is_superuser else self.tenant_fieldsets

    def has_change_permission(self, request, obj=None):
        # Managing logins is the tenant admin's job, not a marketer's.
        return request.user.is_superuser or (
            super().has_change_permission(request, obj) and request.user.role == Role.ADMIN
        )

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or (
            super().has_view_permission(request, obj) and request.user.role == Role.ADMIN
        )

    def has_module_permission(self, request):
        return request.user.is_superuser or (
            request.user.is_staff and getattr(request.user, "role", None) == Role.ADMIN
        )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(is_superuser=False)
