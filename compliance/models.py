"""Compliance: the suppression list, inbound replies, the consent ledger, the audit log.

A number on a tenant's suppression list is never texted by that tenant again
until it opts back in by keyword. When a contact is erased, its suppression
keeps only a keyed hash of the number (``phone_hash``) so it still holds.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.crypto import EncryptedTextField
from tenants.models import TenantOwned

DEFAULT_STOP_CONFIRMATION = (
    "{brand}: you are unsubscribed and will receive no more messages. Reply START to resubscribe."
)
DEFAULT_START_CONFIRMATION = "{brand}: you are subscribed again. Reply HELP for help, STOP to opt out."
DEFAULT_JOIN_PROMPT = (
    "{brand}: reply YES to confirm you want recurring marketing texts. Msg&data rates may apply. Reply STOP to opt out."
)
DEFAULT_JOIN_CONFIRMATION = "{brand}: thanks, you are subscribed. Reply HELP for help, STOP to opt out."
DEFAULT_OPT_OUT_FOOTER = "Reply STOP to opt out"


class SuppressionSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword (STOP)"
    CARRIER = "carrier", "Carrier / Twilio 21610"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORT = "import", "Import"


class Suppression(TenantOwned):
    """One opted-out number per tenant. Deleting a contact never deletes it.

    ``phone_hash`` is always set (HMAC of tenant and number, see ``compliance.hashing``);
    an erased contact's suppression keeps only the hash and an empty ``phone_number``.
    """

    phone_number = models.CharField(max_length=16, blank=True, help_text="E.164; empty once the contact is erased")
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    source = models.CharField(max_length=10, choices=SuppressionSource.choices)
    note = models.CharField(max_length=300, blank=True)
    inbound = models.ForeignKey(
        "compliance.InboundMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The message that asked for it",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "phone_number"],
                condition=~models.Q(phone_number=""),
                name="suppression_unique_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "phone_hash"], condition=~models.Q(phone_hash=""), name="suppression_hash_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.phone_number or f"erased ({self.phone_hash[:8]}…)"

    def save(self, *args, **kwargs):
        if self.phone_number and not self.phone_hash:
            from .hashing import phone_hash

            self.phone_hash = phone_hash(tenant_id=self.tenant_id, phone_number=self.phone_number)
        super().save(*args, **kwargs)


class ComplianceSettings(TenantOwned):
    """A tenant's compliance templates and limits (one row per tenant, created on demand)."""

    stop_confirmation = models.TextField(default=DEFAULT_STOP_CONFIRMATION, help_text="{brand} is the tenant name.")
    start_confirmation = models.TextField(default=DEFAULT_START_CONFIRMATION)
    join_keyword = models.CharField(
        max_length=30, default="JOIN", blank=True, help_text="Keyword for double opt-in sign-ups; empty = off."
    )
    join_prompt = models.TextField(default=DEFAULT_JOIN_PROMPT, help_text="Answer to the join keyword.")
    join_confirmation = models.TextField(default=DEFAULT_JOIN_CONFIRMATION, help_text="Answer to the YES.")
    disclosure_version = models.CharField(
        max_length=30, default="1", help_text="Version of the join prompt, recorded with each consent."
    )
    frequency_cap = models.PositiveIntegerField(
        default=3, help_text="At most this many marketing messages per contact per 24 hours; 0 = no cap."
    )
    opt_out_footer = models.CharField(
        max_length=100,
        default=DEFAULT_OPT_OUT_FOOTER,
        help_text="Added to the first message a contact gets from this tenant, unless the body already says STOP.",
    )
    unknown_consent_marketing = models.BooleanField(
        default=False,
        verbose_name="Text unknown consent in marketing campaigns",
        help_text="Off: marketing campaigns go only to contacts who granted consent.",
    )
    unknown_consent_transactional = models.BooleanField(
        default=True,
        verbose_name="Text unknown consent in transactional campaigns",
        help_text="On: order, appointment and account notices also reach contacts whose consent is unknown.",
    )

    class Meta:
        verbose_name = "compliance settings"
        verbose_name_plural = "compliance settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="compliance_settings_one_per_tenant")]

    def __str__(self) -> str:
        return f"Compliance settings ({self.tenant_id})"


class InboundKind(models.TextChoices):
    OPT_OUT = "opt_out", "Opt-out"
    OPT_IN = "opt_in", "Opt-in"
    HELP = "help", "Help"
    JOIN = "join", "Join (awaiting YES)"
    CONFIRM = "confirm", "Join confirmed"
    KEYWORD = "keyword", "Keyword"
    REPLY = "reply", "Reply"


class InboundMessage(TenantOwned):
    """A text a recipient sent us: keywords and replies alike, linked to what it answers."""

    sid = models.CharField(max_length=34, blank=True)
    from_number = models.CharField(max_length=32, blank=True)
    to_number = models.CharField(max_length=34, blank=True)
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=InboundKind.choices, default=InboundKind.REPLY)
    keyword = models.CharField(
        max_length=30,
        null=True,
        blank=True,
        help_text="The sign-up keyword the message was (a tenant keyword or the JOIN keyword), upper case; "
        "journeys trigger on it.",
    )
    needs_review = models.BooleanField(
        default=False, help_text="Mentions opting out inside a longer message: a person must decide."
    )
    review_reason = models.CharField(max_length=200, blank=True)
    needs_reply = models.BooleanField(
        "needs a reply",
        default=False,
        help_text="A plain reply that asks something (compliance.questions): a person should answer it.",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "campaigns.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest message sent to this number before the reply",
    )
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "reply"
        verbose_name_plural = "replies inbox"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sid"], condition=~models.Q(sid=""), name="inbound_sid_unique")
        ]
        indexes = [models.Index(fields=["tenant", "needs_review", "received_at"], name="inbound_review")]

    def __str__(self) -> str:
        return f"{self.from_number or 'erased'}: {self.body[:40]}"

    def save(self, *args, **kwargs):
        if self.from_number and not self.phone_hash:
            from .hashing import phone_hash

            self.phone_hash = phone_hash(tenant_id=self.tenant_id, phone_number=self.from_number)
        super().save(*args, **kwargs)


class ConsentKind(models.TextChoices):
    REQUESTED = "requested", "Requested (awaiting confirmation)"
    GRANTED = "granted", "Granted"
    REVOKED = "revoked", "Revoked"


class ConsentSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword"
    WEB_FORM = "web_form", "Web form"
    IMPORT = "import", "Import"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    CARRIER = "carrier", "Carrier"


class ConsentEventQuerySet(models.QuerySet):
    def delete(self):
        raise PermissionError("The consent ledger is append-only.")


class ConsentEvent(TenantOwned):
    """One grant or revocation of consent. Append-only: rows are never changed or deleted.

    The only exception is a privacy erasure, which blanks the number, IP and user
    agent of the erased person's rows (keeping the keyed hash) in one UPDATE.
    """

    phone_number = models.CharField(max_length=16, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, choices=ConsentKind.choices)
    source = models.CharField(max_length=10, choices=ConsentSource.choices)
    source_url = models.URLField(max_length=2000, blank=True, help_text="The web form's URL")
    disclosure_text = models.TextField(blank=True)
    disclosure_version = models.CharField(max_length=30, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    inbound = models.ForeignKey(InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "phone_number", "created_at"], name="consent_number_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.phone_number or 'erased'}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The consent ledger is append-only.")
        if self.phone_number and not self.phone_hash:
            from .hashing import phone_hash

            self.phone_hash = phone_hash(tenant_id=self.tenant_id, phone_number=self.phone_number)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The consent ledger is append-only.")


class AuditChannel(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    SYSTEM = "system", "System"


class AuditLog(TenantOwned):
    """Who did what to contacts and suppressions, from the admin or the API. Never holds a number in clear."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    channel = models.CharField(max_length=10, choices=AuditChannel.choices)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_email or 'system'} {self.action} {self.object_type} {self.object_id}".strip()


class PhoneHashKey(models.Model):
    """A key phone hashes are made with, pinned by the first ``rotate_encryption_keys`` (``compliance.hashing``).

    One set for the installation, not per tenant. Stored encrypted, so it is
    re-encrypted with the other secrets while its value never changes: the hash of
    an erased number cannot be recomputed, so its key must outlive the
    ``FIELD_ENCRYPTION_KEY`` it was derived from.
    """

    position = models.PositiveSmallIntegerField(unique=True, help_text="0 makes new hashes; lookups try every key.")
    key = EncryptedTextField(help_text="URL-safe base64 of the 32-byte HMAC key.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"phone hash key {self.position}"
