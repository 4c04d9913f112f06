"""Contacts (the audience) and their tags."""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned


class Tag(TenantOwned):
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tag_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    REVOKED = "revoked", "Revoked"


class Contact(TenantOwned):
    """One person a tenant may text. Unique per (tenant, E.164 number)."""

    phone_number = models.CharField(max_length=16, help_text="E.164")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone; empty = derived from the number")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    custom_fields = models.JSONField(default=dict, blank=True)
    consent_status = models.CharField(max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    consent_source = models.CharField(max_length=200, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone_number"], name="contact_phone_unique_per_tenant")
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.phone_number})" if name else self.phone_number
