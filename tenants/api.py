"""The API's tenant boundary, in one place.

``request.user.tenant`` is the tenant; ``TenantScopedViewSet`` builds every
queryset from ``Model.objects.for_tenant(...)`` so another tenant's object is a
404, and stamps the tenant on every create.
"""

from __future__ import annotations

from rest_framework import viewsets

from .models import Tenant
from .permissions import IsTenantUser

__all__ = ["IsTenantUser", "TenantScopedMixin", "TenantScopedViewSet", "TenantScopedReadOnlyViewSet"]


class TenantScopedMixin:
    # For DRF views over a tenant-owned model (``queryset`` names the model). A comment, not a docstring:
    # drf-spectacular shows the nearest docstring in a view's MRO as its API description.

    @property
    def tenant(self) -> Tenant:
        return self.request.user.tenant

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.tenant)

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant)


class TenantScopedViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    pass


class TenantScopedReadOnlyViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass
