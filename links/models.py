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
    """

    # The FKs to tenant, link and campaign lead the composite indexes below: no single-column index of their own
    # (every index is written once per click).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    event_id = models.UUIDField(unique=True)
    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="clicks"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="clicks"
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
