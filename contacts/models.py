"""Contacts (the audience) and their tags."""

from __future__ import annotations

from django.conf import settings
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


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactImport(TenantOwned):
    """A CSV upload that a worker imports in the background, with its progress.

    The file is kept in the database (workers may be on other machines) until the
    import finishes, then dropped. ``errors`` keeps the first ``MAX_KEPT_ERRORS``.
    """

    MAX_KEPT_ERRORS = 1000

    file_name = models.CharField(max_length=255, blank=True)
    data = models.BinaryField(editable=False, default=bytes)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0, help_text="Data rows in the file (estimated from its lines)")
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    failure = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name or 'import'} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.processed_rows / self.total_rows))


class ContactExternalId(TenantOwned):
    """A contact's id in another system (``source``: ``shopify``, ``hubspot``, ``api``, …), unique per tenant and
    source: a CRM's later update finds the contact by it, even after the number changed."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="external_ids")
    source = models.CharField(max_length=32)
    external_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "external_id"], name="contact_external_id_unique_per_source"
            )
        ]
        indexes = [models.Index(fields=["contact", "source"], name="contact_external_id_contact")]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class MergeMode(models.TextChoices):
    OVERWRITE = "overwrite", "The CRM's value replaces ours"
    FILL_EMPTY = "fill_empty", "The CRM's value fills only an empty field"
    NEVER = "never", "The CRM never changes it"


class CrmMergePolicy(TenantOwned):
    """What a CRM (any upsert whose ``source`` is not ``api``: Shopify, HubSpot, a Zap) may change on a contact that
    exists, per field group. One per tenant; a tenant without one has the defaults.

    Fixed rules besides these: tags from a CRM are only ever added; consent is never moved away from ``revoked`` by
    a CRM (only the recipient's own START does that), a CRM may revoke, and it may grant only with the evidence
    (when, and what the person agreed to or where): ``contacts.upsert`` applies them."""

    names = models.CharField(max_length=10, choices=MergeMode.choices, default=MergeMode.OVERWRITE)
    email = models.CharField(max_length=10, choices=MergeMode.choices, default=MergeMode.OVERWRITE)
    custom_fields = models.CharField(
        max_length=10,
        choices=MergeMode.choices,
        default=MergeMode.OVERWRITE,
        help_text="Per key: overwrite replaces the keys the CRM sends, fill_empty adds only keys the contact lacks.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "CRM merge policies"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="crm_merge_policy_one_per_tenant")]

    def __str__(self) -> str:
        return f"names {self.names}, email {self.email}, custom fields {self.custom_fields}"
