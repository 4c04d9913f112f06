"""Saved segments: a named, reusable selection of a tenant's contacts (``segments.conditions`` says the shape)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.models import TenantOwned


class Segment(TenantOwned):
    """A named audience: ``definition`` holds groups of conditions (any group matches; within one, all must).

    Evaluated live each time it is counted or a campaign fans out to it (``segments.selectors``): a contact who
    matches later is in it later. Written only through ``segments.services``, which validates the definition.
    """

    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    definition = models.JSONField(default=dict, help_text='{"groups": [[condition, …], …]} (segments.conditions)')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="segment_name_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name
