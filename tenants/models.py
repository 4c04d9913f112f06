"""Tenants, their users, and the base every tenant-owned model inherits."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from .crypto import EncryptedTextField

DEFAULT_HELP_TEXT = "{brand}: for help reply HELP or contact support. Msg&data rates may apply. Reply STOP to opt out."


class SenderType(models.TextChoices):
    LONG_CODE = "long_code", "Long code (10DLC / local)"
    TOLL_FREE = "toll_free", "Toll-free"
    SHORT_CODE = "short_code", "Short code"
    MESSAGING_SERVICE = "messaging_service", "Messaging Service"


#: Carrier throughput per sender in segments per second (../shared/GATEWAY.md).
DEFAULT_SENDING_RATE = {
    SenderType.LONG_CODE: 1.0,
    SenderType.TOLL_FREE: 3.0,
    SenderType.SHORT_CODE: 100.0,
    SenderType.MESSAGING_SERVICE: 1.0,
}


class Tenant(models.Model):
    """A marketing team: owns contacts, campaigns and a Twilio account."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    twilio_account_sid = models.CharField(
        "Twilio Account SID",
        max_length=34,
        blank=True,
        db_index=True,
        validators=[RegexValidator(r"^AC[0-9a-fA-F]{32}$", "An Account SID is AC followed by 32 hex digits.")],
    )
    twilio_auth_token = EncryptedTextField("Twilio auth token", blank=True, default="")
    sender = models.CharField(
        max_length=34,
        blank=True,
        help_text="E.164 sender number (+1…) or Messaging Service SID (MG…).",
        validators=[
            RegexValidator(
                r"^(\+[1-9]\d{1,14}|MG[0-9a-fA-F]{32}|[0-9]{5,6})$",
                "A sender is an E.164 number, a short code or a Messaging Service SID (MG…).",
            )
        ],
    )
    sender_type = models.CharField(max_length=20, choices=SenderType.choices, default=SenderType.LONG_CODE)
    sending_rate = models.FloatField(
        null=True, blank=True, help_text="Segments per second; empty = the default for the sender type."
    )
    default_country = models.CharField(max_length=2, default="US", help_text="ISO country for national numbers.")
    help_text = models.TextField(
        default=DEFAULT_HELP_TEXT, help_text="Answer to HELP/INFO. {brand} is the tenant name."
    )
    quiet_hours_start = models.TimeField(default=dt.time(8, 0), help_text="Earliest local send time.")
    quiet_hours_end = models.TimeField(default=dt.time(21, 0), help_text="Latest local send time.")
    legal_quiet_hours = models.BooleanField(
        "US quiet-hours rules",
        default=True,
        help_text="Also apply the US federal (8am-9pm) and stricter state windows. Turn off only for "
        "programs those rules do not cover (non-US audiences, demos).",
    )
    event_retention_months = models.PositiveSmallIntegerField(
        "Keep raw events (months)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
        help_text="How many months this tenant's raw status callbacks and clicks are kept (0: for ever); empty: the "
        "server's setting (RETENTION_MONTHS). Expired months are dropped whole by the hourly retention job. Totals, "
        "charts and counters are kept either way.",
    )
    sending_paused_reason = models.CharField(max_length=300, blank=True)
    require_two_factor = models.BooleanField(
        "Require two-factor sign-in",
        default=False,
        help_text="Every user of this tenant must sign in with a code from an authenticator app. Users who have "
        "not set one up are sent to do so right after their password, and can open nothing else until they have.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Tenants sharing a Twilio account must be told apart by their sender.

        Twilio signs all of an account's webhooks with the account's one token, so
        an inbound text is routed by its ``To``/``MessagingServiceSid`` and an early
        status callback by its ``From``/``MessagingServiceSid``: each tenant on a
        shared account needs a sender of its own (docs/tracking.md).
        """
        super().clean()
        if not self.twilio_account_sid:
            return
        others = Tenant.objects.filter(twilio_account_sid=self.twilio_account_sid).exclude(pk=self.pk)
        senders = set(others.values_list("sender", flat=True))
        if not senders:
            return
        if not self.sender:
            raise ValidationError(
                {"sender": "Another tenant uses this Twilio account: tenants sharing an account need a sender each."}
            )
        if "" in senders:
            raise ValidationError(
                {
                    "twilio_account_sid": "Another tenant on this Twilio account has no sender: give it one before "
                    "a second tenant shares the account."
                }
            )
        if self.sender in senders:
            raise ValidationError(
                {
                    "sender": "Another tenant on this Twilio account already uses this sender: its texts and "
                    "delivery reports could not be told from yours."
                }
            )

    @property
    def effective_sending_rate(self) -> float:
        return self.sending_rate or DEFAULT_SENDING_RATE[SenderType(self.sender_type)]

    @property
    def uses_messaging_service(self) -> bool:
        return self.sender.startswith("MG")


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    VIEWER = "viewer", "Viewer"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A login. Tenant users belong to exactly one tenant; superusers to none."""

    username = None
    email = models.EmailField(unique=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="users")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MARKETER)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_superuser=True) | models.Q(tenant__isnull=False),
                name="user_has_tenant_unless_superuser",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def can_edit(self) -> bool:
        return self.is_superuser or self.role in (Role.ADMIN, Role.MARKETER)


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | int) -> TenantQuerySet:
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Base of every tenant-owned row: the tenant FK and ``for_tenant()``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only (GET)"
    FULL = "full", "Full"


#: Keys made before API keys (DRF authtoken's 40 hex digits, no dot) are found by their first 8 characters.
LEGACY_PREFIX_LENGTH = 8


class ApiKeyManager(BaseAPIKeyManager.from_queryset(TenantQuerySet)):
    """djangorestframework-api-key's manager, for ``ApiKey``: the secret is ``<prefix>.<secret>``, stored as the
    prefix and a SHA-512 of the whole key. A key with no dot is an authtoken token carried over by migration
    0004: its prefix is its first 8 characters and its hash that of the whole token."""

    def assign_key(self, obj: ApiKey) -> str:
        # The library also writes "<prefix>.<hash>" into the primary key; ours is a plain number (URLs, logs).
        key, prefix, hashed_key = self.key_generator.generate()
        obj.prefix, obj.hashed_key = prefix, hashed_key
        return key

    def match(self, key: str) -> ApiKey | None:
        """The key this secret opens, revoked and expired ones included (the caller tells which), or None.

        Prefixes are not unique here (a carried-over token's first 8 hex digits may repeat), so every row
        with the prefix is checked; in practice there is one.
        """
        prefix = key.partition(".")[0] if "." in key else key[:LEGACY_PREFIX_LENGTH]
        if not prefix or len(prefix) > LEGACY_PREFIX_LENGTH:
            return None
        for api_key in self.filter(prefix=prefix).select_related("user"):
            if api_key.is_valid(key):
                return api_key
        return None

    def get_from_key(self, key: str) -> ApiKey:
        api_key = self.match(key)
        if api_key is None or api_key.revoked:
            raise self.model.DoesNotExist("Key is not valid.")
        return api_key


class ApiKey(TenantOwned, AbstractAPIKey):
    """A secret that authenticates API calls as ``user`` (``Authorization: Token <key>``).

    Only a hash is stored (``hashed_key``): the secret is shown once, when the key is made or rotated.
    ``scope`` narrows what the user's role allows (``read``: safe methods only, tenants.permissions). A key is
    never deleted, only revoked (which cannot be undone) or left to expire, so ``last_used_at`` and
    ``created_by`` stay as a record.
    """

    id = models.BigAutoField(primary_key=True)
    prefix = models.CharField(max_length=LEGACY_PREFIX_LENGTH, db_index=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.FULL)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        ordering = ["-created"]
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
