"""Short links (one per recipient of a campaign with a link) and their clicks.

Counters are maintained as clicks are written (``links.services.clicks_record``),
never recomputed with COUNT(*) over the clicks table when someone looks:

- per link (= per message, since each message has its own link): ``human_clicks``,
  ``bot_hits``, and ``unique`` (the recipient clicked at least once);
- per campaign: ``CampaignClickCount`` (human clicks, unique clickers, bot hits).
"""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned


class ShortLink(TenantOwned):
    """``{SHORT_LINK_BASE_URL}/{code}`` → ``target_url``. The code identifies a person: random, never sequential."""

    code = models.CharField(max_length=16, unique=True)
    target_url = models.URLField(max_length=2000)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.OneToOneField(
        "campaigns.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="short_link"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Maintained counters (see the module docstring).
    human_clicks = models.PositiveIntegerField(default=0)
    bot_hits = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True, help_text="First human click")
    last_clicked_at = models.DateTimeField(null=True, blank=True, help_text="Last human click")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.code

    @property
    def unique_clicks(self) -> int:
        """A link belongs to one recipient: they count once however often they click."""
        return 1 if self.human_clicks else 0


class DeviceType(models.TextChoices):
    MOBILE = "mobile", "Mobile"
    TABLET = "tablet", "Tablet"
    DESKTOP = "desktop", "Desktop"
    OTHER = "other", "Other"


class Click(TenantOwned):
    """One request to a short link: a person's click, or a bot's hit (``is_bot`` with ``bot_reason``).

    ``event_id`` is minted when the request is answered, so a batch written twice
    (a writer that died between commit and acknowledgement) is written once.

    Partitioned by month on ``clicked_at`` (migration 0004, ``common.partitions``; old
    months dropped whole by ``retention``): the primary key is ``(id, clicked_at)`` and
    the unique index ``(event_id, clicked_at)`` in the database. A click's time comes
    with its event, so a replayed event lands in the same month and is still written once.
    """

    # The FKs to tenant, link and campaign lead the composite indexes below: no single-column index of their own
    # (every index is written once per click). No database FK constraints (as on the status history): their checks
    # ran at every batch's commit, a third of the writer's database time, and took KEY SHARE locks on the tenant's,
    # campaign's and message's rows the sender updates. Django still cascades deletes (CASCADE / SET_NULL) itself,
    # and the writer holds the link rows locked while it writes their clicks.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    event_id = models.UUIDField(help_text="Unique with clicked_at and tenant (the table is partitioned on them)")
    link = models.ForeignKey(
        ShortLink, on_delete=models.CASCADE, related_name="clicks", db_index=False, db_constraint=False
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="clicks", db_constraint=False
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="clicks", db_constraint=False
    )
    clicked_at = models.DateTimeField()
    method = models.CharField(max_length=8, default="GET")
    user_agent = models.CharField(max_length=512, blank=True)
    device_type = models.CharField(max_length=8, choices=DeviceType.choices, default=DeviceType.OTHER)
    os_family = models.CharField("OS", max_length=64, blank=True)
    os_version = models.CharField(max_length=32, blank=True)
    browser_family = models.CharField("browser", max_length=64, blank=True)
    browser_version = models.CharField(max_length=32, blank=True)
    device_brand = models.CharField(max_length=64, blank=True)
    device_model = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Truncated (/24, /48) unless LINKS_KEEP_FULL_IP is on"
    )
    country = models.CharField(max_length=2, blank=True)
    is_bot = models.BooleanField(default=False)
    bot_reason = models.CharField(max_length=100, blank=True)
    is_unique = models.BooleanField(default=False, help_text="The recipient's first human click")

    class Meta:
        ordering = ["-clicked_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "clicked_at"], name="click_tenant_time"),
            models.Index(fields=["campaign", "clicked_at"], name="click_campaign_time"),
            models.Index(fields=["link", "clicked_at"], name="click_link_time"),
        ]

    def __str__(self) -> str:
        kind = f"bot ({self.bot_reason})" if self.is_bot else "click"
        return f"{kind} #{self.pk} on {self.link_id}"


class CampaignClickCount(TenantOwned):
    """A campaign's click counters, updated once per written batch of clicks."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    clicks = models.PositiveIntegerField(default=0, help_text="Human clicks")
    unique_clicks = models.PositiveIntegerField(default=0, help_text="Recipients who clicked at least once")
    bot_hits = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"clicks of campaign {self.campaign_id}"


class DomainMethod(models.TextChoices):
    DNS = "dns", "DNS TXT record"
    HTTP = "http", "HTTP file on the domain"


def domain_token_new() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class LinkDomain(TenantOwned):
    """A tenant's own short domain (``go.shop.example``): once verified, links go out as ``https://<host>/<code>``.

    Verified means the tenant showed control of the host: the token as a DNS TXT record at ``_smscampaigns.<host>``,
    or served at ``http://<host>/.well-known/smscampaigns-verify/<token>`` (this server answers that itself once the
    host points here). A host verified by one tenant is nobody else's (the partial unique index). Every verified
    domain of a tenant serves that tenant's codes (links already sent keep working); ``active`` picks the one new
    links use, at most one per tenant.
    """

    host = models.CharField(
        max_length=253, help_text="The domain only, e.g. go.shop.example (no http://, no path, no port)."
    )
    token = models.CharField(max_length=64, default=domain_token_new, editable=False)
    method = models.CharField("verify by", max_length=4, choices=DomainMethod.choices, default=DomainMethod.DNS)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    active = models.BooleanField(
        "use for new links", default=True, help_text="New campaign links use this domain once it is verified."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["host"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "host"], name="linkdomain_tenant_host"),
            models.UniqueConstraint(
                fields=["host"], condition=models.Q(verified_at__isnull=False), name="linkdomain_verified_host"
            ),
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(active=True), name="linkdomain_one_active"),
        ]

    def __str__(self) -> str:
        return self.host

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class LinkExpiry(TenantOwned):
    """When a campaign's links stop redirecting: at ``expires_at``, or ``ttl_days`` after each link was made.

    Kept beside the links (keyed by campaign) rather than on the campaign: the links are what expire. An expired
    link answers a 410 page with the tenant's name and records no click.
    """

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Links stop working at this time.")
    ttl_days = models.PositiveIntegerField(
        "days valid", null=True, blank=True, help_text="Or: links stop working this many days after they were sent."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "link expiry"
        verbose_name_plural = "link expiries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=False, ttl_days__isnull=True)
                | models.Q(expires_at__isnull=True, ttl_days__isnull=False),
                name="linkexpiry_one_rule",
            ),
            models.CheckConstraint(
                condition=models.Q(ttl_days__gte=1) | models.Q(ttl_days__isnull=True), name="linkexpiry_ttl_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"link expiry of campaign {self.campaign_id}"
