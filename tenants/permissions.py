from __future__ import annotations

from rest_framework import permissions

from .models import Role


class IsTenantUser(permissions.BasePermission):
    """Authenticated, belongs to a tenant; viewers may only read."""

    message = "This API is for tenant users."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.tenant_id):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return user.role in (Role.ADMIN, Role.MARKETER)
