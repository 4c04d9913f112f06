"""The API's tenant boundary, in one place.

``request.user.tenant`` is the tenant; ``TenantScopedViewSet`` builds every
queryset from ``Model.objects.for_tenant(...)`` so another tenant's object is a
404, and stamps the tenant on every create.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from . import services
from .models import ApiKey, Tenant
from .permissions import IsTenantUser, ManagesApiKeys
from .selectors import api_keys_manageable
from .serializers import ApiKeyCreatedSerializer, ApiKeyRotateSerializer, ApiKeySerializer

__all__ = [
    "ApiKeyViewSet",
    "IsTenantUser",
    "TenantScopedMixin",
    "TenantScopedViewSet",
    "TenantScopedReadOnlyViewSet",
]


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


API_KEY_EXAMPLE = {
    "id": 4,
    "name": "CRM sync",
    "prefix": "Xk3pQ9aB",
    "scope": "full",
    "user": "you@acme.example",
    "created_at": "2026-12-01T09:00:00Z",
    "expires_at": None,
    "last_used_at": "2026-12-02T14:31:00Z",
    "revoked": False,
}
NEW_KEY_EXAMPLE = {**API_KEY_EXAMPLE, "last_used_at": None, "key": "Xk3pQ9aB.4vKq0sLm8TnW2yRb7ZcJ1eHd5GfA9uPo"}


@extend_schema_view(
    list=extend_schema(
        summary="List API keys (an admin sees the tenant's, anyone else their own)",
        examples=[OpenApiExample("Keys", value=[API_KEY_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One API key", examples=[OpenApiExample("Key", value=API_KEY_EXAMPLE, response_only=True)]
    ),
    create=extend_schema(
        summary="Make an API key (the secret is in this answer only)",
        responses={201: ApiKeyCreatedSerializer},
        examples=[
            OpenApiExample("New key", value={"name": "CRM sync", "scope": "read"}, request_only=True),
            OpenApiExample("Created", value=NEW_KEY_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    destroy=extend_schema(summary="Revoke an API key (for good: it answers 401 from now on)"),
)
@extend_schema(tags=["Account"])
class ApiKeyViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API keys: each acts as the user who made it, with ``scope`` ``full`` (that user's rights) or ``read``
    (GET only), until it expires (``expires_at``) or is revoked. Only a hash is kept: the secret is in the
    answer that makes the key (or rotates it) and never again. Send it as ``Authorization: Token <key>``.
    """

    queryset = ApiKey.objects.select_related("user")
    serializer_class = ApiKeySerializer
    permission_classes = [IsTenantUser, ManagesApiKeys]

    def get_queryset(self):
        return api_keys_manageable(super().get_queryset(), user=self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, secret = services.api_key_create(
            user=request.user, name=data["name"], scope=data["scope"], expires_at=data.get("expiry_date")
        )
        return self._created(key, secret)

    def perform_destroy(self, instance):
        services.api_key_revoke(key=instance)

    @extend_schema(
        summary="Rotate an API key: a new secret, the old key revoked (or after grace_seconds)",
        request=ApiKeyRotateSerializer,
        responses={
            201: ApiKeyCreatedSerializer,
            409: OpenApiResponse(description="The key is revoked: make a new one instead"),
        },
        examples=[
            OpenApiExample("Rotate with an hour's overlap", value={"grace_seconds": 3600}, request_only=True),
            OpenApiExample("New key", value=NEW_KEY_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        key = self.get_object()
        serializer = ApiKeyRotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            new, secret = services.api_key_rotate(
                key=key,
                grace_seconds=serializer.validated_data["grace_seconds"],
                expires_at=serializer.validated_data.get("expires_at"),
                rotated_by=request.user,
            )
        except services.ApiKeyRevoked:
            return Response({"detail": "This API key is revoked: make a new one."}, status=status.HTTP_409_CONFLICT)
        return self._created(new, secret)

    def _created(self, key: ApiKey, secret: str) -> Response:
        key.key = secret  # for the answer only
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)
