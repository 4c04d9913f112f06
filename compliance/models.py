"""The suppression list: numbers a tenant must never text again."""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned


class SuppressionSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword (STOP)"
    CARRIER = "carrier", "Carrier / Twilio 21610"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORT = "import", "Import"


class Suppression(TenantOwned):
    """One opted-out number per tenant. Deleting a contact never deletes it."""

    phone_number = models.CharField(max_length=16, help_text="E.164")
    source = models.CharField(max_length=10, choices=SuppressionSource.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "phone_number"], name="suppression_unique_per_tenant")]

    def __str__(self) -> str:
        return self.phone_number
