"""Pre-aggregated click figures, so a dashboard read is O(buckets), never a scan over clicks.

Both tables are upserted by ``links.services.clicks_record`` (through
``analytics.services.click_aggregates_add``) in the same transaction as the
clicks they count: one ``INSERT … ON CONFLICT DO UPDATE`` per table per batch.
Status figures live in ``campaigns.MessageStatusCount`` (see docs/analytics.md).
"""

from __future__ import annotations

from django.db import models


class ClickBucket(models.Model):
    """A campaign's clicks in one minute (UTC): human clicks, first clicks of a recipient, bot hits."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    minute = models.DateTimeField()
    clicks = models.PositiveIntegerField(default=0, help_text="Human clicks")
    unique_clicks = models.PositiveIntegerField(default=0, help_text="First human click of a recipient")
    bot_hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "minute"], name="clickbucket_campaign_minute")]

    def __str__(self) -> str:
        return f"clicks of campaign {self.campaign_id} at {self.minute:%Y-%m-%d %H:%M}"


class Dimension(models.TextChoices):
    DEVICE = "device", "Device type"
    OS = "os", "Operating system"
    BROWSER = "browser", "Browser"
    COUNTRY = "country", "Country"
    VARIANT = "variant", "A/B variant"
    BOT_REASON = "bot_reason", "Bot (why)"


class ClickBreakdown(models.Model):
    """A campaign's clicks with one value of one dimension (device "mobile", country "FR", variant "1", …).

    ``value`` is "" when unknown (no country for a private address, a message without a variant). The
    ``bot_reason`` dimension counts bot hits only.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    value = models.CharField(max_length=100, blank=True)
    clicks = models.PositiveIntegerField(default=0, help_text="Human clicks")
    unique_clicks = models.PositiveIntegerField(default=0, help_text="First human click of a recipient")
    bot_hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "dimension", "value"], name="clickbreakdown_campaign_dim_value")
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.value or 'unknown'} of campaign {self.campaign_id}"
