from __future__ import annotations

from rest_framework import permissions

from .models import ApiKey, ApiKeyScope, Role


class IsTenantUser(permissions.BasePermission):
    """Authenticated, belongs to a tenant; viewers may only read, and so may a read-scope API key (every API view
    has this permission: the one place a key's scope is checked)."""

    message = "This API is for tenant users."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.tenant_id):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if isinstance(request.auth, ApiKey) and request.auth.scope == ApiKeyScope.READ:
            self.message = "This API key is read-only (scope 'read'): it may only GET."
            return False
        return user.role in (Role.ADMIN, Role.MARKETER)


class ManagesApiKeys(permissions.BasePermission):
    """API keys are managed by admins (all of the tenant's) and marketers (their own); viewers have none to manage."""

    message = "Viewers cannot manage API keys."

    def has_permission(self, request, view) -> bool:
        return request.user.role in (Role.ADMIN, Role.MARKETER)
