"""Reads for tenants and their users."""

from __future__ import annotations

from django.db import models

from .models import Role, User


def api_keys_manageable(queryset: models.QuerySet, *, user: User) -> models.QuerySet:
    """The API keys ``user`` manages among ``queryset`` (already scoped to the tenant by the admin or API base): a
    tenant admin all of them, a marketer their own; the API and the admin both narrow through here."""
    if user.is_superuser or user.role == Role.ADMIN:
        return queryset
    return queryset.filter(user=user)
