"""The admin's tenant boundary, in one place.

Every admin of a tenant-owned model inherits ``TenantScopedAdmin``: a tenant user
sees, edits and picks (foreign keys, many-to-many, actions) only their own
tenant's rows; superusers see everything. Viewers read, they never write.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from .models import Role, Tenant, TenantOwned


def request_tenant(request) -> Tenant | None:
    user = request.user
    return None if user.is_superuser else user.tenant


def scope_queryset(qs: models.QuerySet, request) -> models.QuerySet:
    """Limit ``qs`` to the request's tenant when its model is tenant-owned."""
    if request.user.is_superuser:
        return qs
    model = qs.model
    if model is Tenant:
        return qs.filter(pk=request.user.tenant_id)
    if issubclass(model, TenantOwned) or any(f.name == "tenant" for f in model._meta.fields):
        return qs.filter(tenant_id=request.user.tenant_id)
    return qs


class TenantScopedAdmin(admin.ModelAdmin):
    """ModelAdmin for tenant-owned models: scoped rows, choices and permissions."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scope_queryset(field.queryset, request)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scope_queryset(field.queryset, request)
        return field

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            exclude.append("tenant")
        return exclude

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser and "tenant" not in filters:
            filters.insert(0, "tenant")
        return filters

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.tenant_id = request.user.tenant_id
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for inst in instances:
            if not request.user.is_superuser and hasattr(inst, "tenant_id"):
                inst.tenant_id = request.user.tenant_id
            inst.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    # Permissions by role, not by Django permission rows: tenant users are staff
    # with no model permissions of their own.
    def _tenant_user(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.tenant_id is not None

    def has_module_permission(self, request):
        return request.user.is_superuser or self._tenant_user(request)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if not self._tenant_user(request):
            return False
        return obj is None or getattr(obj, "tenant_id", request.user.tenant_id) == request.user.tenant_id

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj) and (
            request.user.is_superuser or request.user.role in (Role.ADMIN, Role.MARKETER)
        )

    def has_add_permission(self, request):
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)
