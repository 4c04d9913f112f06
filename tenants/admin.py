from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from common.enqueue import task_enqueue
from retention.services import retention_describe

from . import services, signin
from .admin_scoping import TenantScopedAdmin, scope_queryset
from .crypto import mask
from .models import ApiKey, Role, Tenant, User
from .selectors import api_keys_manageable

# The library's own key model is unused (ours is tenants.ApiKey): its admin would list an empty, unscoped table.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)
# django-otp's device admins are unscoped and show each device's secret: the users admin resets two-factor instead
# (settings lists the otp apps before this one, so they are registered by now).
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


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
            "require_two_factor",
            "event_retention_months",
        ]

    def clean_twilio_auth_token(self):
        value = self.cleaned_data.get("twilio_auth_token")
        return value or (self.instance.twilio_auth_token if self.instance.pk else "")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ("name", "slug", "twilio_account_sid", "sender", "sender_type", "paused")
    search_fields = ("name", "slug", "twilio_account_sid")
    readonly_fields = ("auth_token_on_file", "retention_in_force", "created_at")
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
        ("Sign-in", {"fields": ("require_two_factor",)}),
        ("Data", {"fields": ("event_retention_months", "retention_in_force")}),
        ("State", {"fields": ("sending_paused_reason", "created_at")}),
    )

    @admin.display(description="Token on file")
    def auth_token_on_file(self, obj):
        return mask(obj.twilio_auth_token) or "—"

    @admin.display(boolean=True, description="Paused")
    def paused(self, obj):
        return bool(obj.sending_paused_reason)

    @admin.display(description="Raw events kept")
    def retention_in_force(self, obj):
        return retention_describe(obj.event_retention_months)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "event_retention_months" in form.changed_data:
            task_enqueue("retention.tasks.partitions_maintain", queue=settings.CONTROL_QUEUE)
            self.message_user(
                request,
                "The new retention is applied by the retention job, which has been started: months that have expired "
                "for this tenant are dropped in the next minutes.",
                messages.INFO,
            )

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
            fields += ["slug", "event_retention_months"]  # what the server stores, and for how long, is the operator's
        return fields


class TenantUserCreationForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 12 characters, not a common one.")

    class Meta:
        model = User
        fields = ("email", "tenant", "role")

    def _post_clean(self):
        super()._post_clean()
        password = self.cleaned_data.get("password")
        if password:
            try:
                signin.password_validate(password=password, user=self.instance)  # the instance: its email counts
            except ValidationError as exc:
                self.add_error(None, exc)

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
    list_display = ("email", "tenant", "role", "is_active", "two_factor", "last_login")
    actions = ["signin_unlock", "two_factor_reset"]
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
        qs = (
            super()
            .get_queryset(request)
            .annotate(has_two_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        )
        return qs if request.user.is_superuser else qs.filter(is_superuser=False)

    @admin.display(boolean=True, description="Two-factor", ordering="has_two_factor")
    def two_factor(self, obj):
        return obj.has_two_factor

    @admin.action(description="Unlock sign-in (after too many failed attempts)", permissions=["change"])
    def signin_unlock(self, request, queryset):
        for user in queryset:
            signin.signin_unlock(user=user)
        self.message_user(request, f"Sign-in unlocked for {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(
        description="Reset two-factor sign-in (lost phone and backup codes: they set it up again)",
        permissions=["change"],
    )
    def two_factor_reset(self, request, queryset):
        for user in queryset:
            signin.two_factor_reset(user=user)
        self.message_user(request, f"Two-factor sign-in reset for {queryset.count()} user(s).", messages.SUCCESS)


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name", "user", "scope", "expiry_date")
        help_texts = {
            "user": "The key acts as this user, with their role.",
            "expiry_date": "Empty: it never expires (revoke it when done).",
        }

    def clean_expiry_date(self):
        value = self.cleaned_data.get("expiry_date")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return value


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """API keys. A tenant admin manages all of the tenant's, a marketer their own, a viewer none. The secret is shown
    once, on the page that answers the add form or the rotate action, and is kept nowhere (not in a message, which
    would sit in a cookie or the session); only its prefix is shown after that, never the stored hash."""

    form = ApiKeyAddForm
    list_display = ("name", "prefix", "user", "scope", "created", "expiry_date", "last_used_at", "revoked")
    list_filter = ("scope", "revoked")
    search_fields = ("name", "prefix")
    actions = ["revoke", "rotate"]
    readonly_fields = ("prefix", "user", "scope", "created", "expiry_date", "last_used_at", "revoked", "created_by")

    def get_queryset(self, request):
        return api_keys_manageable(super().get_queryset(request).select_related("user"), user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "scope", "expiry_date"]
        return ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and field is not None:
            # Tenant users only; a marketer makes keys for themselves.
            field.queryset = api_keys_users(field.queryset, request.user)
        return field

    # Viewers manage no keys; no one deletes one (a revoked key stays, as a record).
    def _manages(self, request) -> bool:
        return request.user.is_superuser or request.user.role in (Role.ADMIN, Role.MARKETER)

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self._manages(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._manages(request) and self._mine(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def _mine(self, request, obj) -> bool:
        return obj is None or api_keys_manageable(ApiKey.objects.filter(pk=obj.pk), user=request.user).exists()

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        key, secret = services.api_key_create(
            user=obj.user, name=obj.name, scope=obj.scope, expires_at=obj.expiry_date, created_by=request.user
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        request.api_key_secrets = [(key, secret)]  # for response_add, this request only

    def response_add(self, request, obj, post_url_continue=None):
        return self._secrets_page(request, request.api_key_secrets, "API key made")

    @admin.action(description="Revoke the selected keys (they stop working at once, for good)", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked=False):
            services.api_key_revoke(key=key)
            count += 1
        self.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)

    @admin.action(description="Rotate the selected keys (new secrets; the old ones revoked)", permissions=["change"])
    def rotate(self, request, queryset):
        made, skipped = [], 0
        for key in queryset.select_related("user"):
            try:
                made.append(services.api_key_rotate(key=key, rotated_by=request.user))
            except services.ApiKeyRevoked:
                skipped += 1
        if not made:
            self.message_user(request, "Revoked keys cannot be rotated: make a new one.", messages.WARNING)
            return None
        if skipped:
            messages.warning(request, f"{skipped} revoked key(s) skipped.")
        return self._secrets_page(request, made, "API keys rotated")

    def _secrets_page(self, request, made, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "keys": [{"key": key, "secret": secret} for key, secret in made],
        }
        response = TemplateResponse(request, "admin/tenants/apikey/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response


def api_keys_users(queryset, user: User):
    """Whom ``user`` may make keys for in the admin: tenant users (the admin's queryset is already the tenant's); a
    marketer only themselves."""
    queryset = queryset.filter(tenant__isnull=False)
    if user.is_superuser or user.role == Role.ADMIN:
        return queryset
    return queryset.filter(pk=user.pk)
