"""The fraud and anomaly guard: a tenant's limits, what the guard did, and the counters it keeps.

``GuardSettings``: where a tenant may text (geo permissions, high-risk ranges), how much it may spend (caps), when
a sending campaign is paused by itself (anomaly thresholds) and what counts as abuse (inbound bursts, click
surges). One row per tenant, made with the documented defaults on first use (docs/compliance.md, "Fraud and
anomaly guard", says why each default is what it is).

``GuardEvent``: every automatic pause (an anomaly, a cap) and every abuse flag, with the figures that triggered
it; a pause is open until someone resumes the campaign (the Guard page: audited) or the guard resumes it itself
(a cap raised, a new day).

``GuardBlock``: counters of the recipients the fan-out never sent to, by campaign, reason and country or range;
written in the fan-out chunk's own transaction, read (summed) by the Guard page. ``GuardUsage``: the tenant's
segments and estimated cost per day and month, kept in Redis while sending and copied here by the guard's tick.
``CampaignCountryCount``: a campaign's recipients handed to sending by country, upserted per fan-out chunk, the
denominator of the tick's "undelivered to one country".
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenants.models import TenantOwned

RATE_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]

#: tenant id → (monotonic time read, settings): the sender's per-process copy (``guard.spend``), so a claim group
#: costs no query; a save drops this process's copy at once, other processes' within their TTL.
SETTINGS_CACHE: dict[int, tuple[float, GuardSettings]] = {}


class GuardSettings(TenantOwned):
    """A tenant's guard limits (one row per tenant, created on demand by ``selectors.guard_settings_get``)."""

    # --- where (geo permissions) -------------------------------------------------------------------------------
    allowed_countries = models.CharField(
        max_length=300,
        blank=True,
        help_text="ISO country codes this tenant may text, separated by commas (e.g. US, CA, PR). Empty: the "
        "tenant's own country only (its default country). Other numbers are never sent and count as blocked.",
    )
    block_high_risk = models.BooleanField(
        "block high-risk ranges",
        default=True,
        help_text="Never text premium-rate, shared-cost, satellite and international-network ranges "
        "(guard/ranges.py lists them, with their sources), even in an allowed country.",
    )
    # --- anomalies while sending ---------------------------------------------------------------------------------
    anomaly_min_reports = models.PositiveIntegerField(
        "minimum delivery reports",
        default=200,
        validators=[MinValueValidator(20)],
        help_text="Rates are judged only once a campaign has this many final delivery reports (delivered, "
        "undelivered, failed): fewer say too little.",
    )
    max_filtered_rate = models.DecimalField(
        "carrier filtering rate",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.050"),
        validators=RATE_VALIDATORS,
        help_text="Pause when this share of the reports carry 30007 (filtered as spam), 30003 (unreachable) or "
        "30005 (unknown handset). 0.05 = 5%.",
    )
    max_failed_rate = models.DecimalField(
        "failure rate",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.150"),
        validators=RATE_VALIDATORS,
        help_text="Pause when this share of the reports are undelivered or failed, whatever the code.",
    )
    max_opt_out_rate = models.DecimalField(
        "opt-out rate",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.030"),
        validators=RATE_VALIDATORS,
        help_text="Pause when this share of the recipients reached reply STOP.",
    )
    # --- compared with the tenant's own history and by country (docs/compliance.md says why these defaults) ---
    history_min_reports = models.PositiveIntegerField(
        "history: minimum reports",
        default=1000,
        validators=[MinValueValidator(100)],
        help_text="A campaign is also compared with the tenant's usual rates (its other campaigns of the last 30 "
        "days) once that history holds this many final delivery reports.",
    )
    history_multiplier = models.DecimalField(
        "history: multiplier",
        max_digits=4,
        decimal_places=1,
        default=Decimal("3.0"),
        validators=[MinValueValidator(Decimal("1.5"))],
        help_text="Pause when a rate is above this many times the tenant's usual rate …",
    )
    history_floor = models.DecimalField(
        "history: floor",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.020"),
        validators=RATE_VALIDATORS,
        help_text="… and above the usual rate plus this much (0.02 = 2 percentage points), so a tenant whose "
        "usual rate is near zero is not paused for a handful of failures.",
    )
    country_min_reports = models.PositiveIntegerField(
        "country: minimum reports",
        default=50,
        validators=[MinValueValidator(20)],
        help_text="A country is judged on its own once about this many of its recipients have a final report.",
    )
    max_country_failed_rate = models.DecimalField(
        "country: failure rate",
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.250"),
        validators=RATE_VALIDATORS,
        help_text="Pause when this share of one country's reports are undelivered or failed and that is at least "
        "3 times the campaign's rate in the other countries.",
    )
    # --- caps (empty: no cap) --------------------------------------------------------------------------------------
    daily_segment_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Segments (MMS: messages) per day (UTC); empty = no cap."
    )
    monthly_segment_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Segments (MMS: messages) per calendar month (UTC); empty = no cap."
    )
    daily_cost_cap = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Estimated cost per day (SMS_PRICE_PER_SEGMENT, MMS_PRICE_PER_MESSAGE); empty = no cap.",
    )
    monthly_cost_cap = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Estimated cost per month; empty = no cap."
    )
    # --- abuse -------------------------------------------------------------------------------------------------------
    inbound_burst_per_number = models.PositiveIntegerField(
        default=10,
        help_text="Inbound texts from one number in GUARD_ABUSE_WINDOW_SECONDS (10 min) past which the rest are "
        "flagged: kept, STOP still honoured, but not answered and not counted as replies.",
    )
    inbound_burst_per_range = models.PositiveIntegerField(
        default=30,
        help_text="The same for a range of numbers (all but the last 3 digits): many numbers of one block.",
    )
    click_surge_per_network = models.PositiveIntegerField(
        default=200,
        help_text="Hits on this tenant's links from one network (IPv4 /24, IPv6 /48) in the window past which "
        "the rest are flagged and not counted as human clicks. Generous: mobile carriers put many people behind "
        "one network (carrier-grade NAT).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guard settings"
        verbose_name_plural = "guard settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="guard_settings_one_per_tenant")]

    def __str__(self) -> str:
        return f"Guard settings ({self.tenant_id})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        SETTINGS_CACHE.pop(self.tenant_id, None)


class GuardEventKind(models.TextChoices):
    ANOMALY = "anomaly", "Paused: anomaly"
    CAP = "cap", "Paused: cap reached"
    INBOUND_BURST = "inbound_burst", "Flagged: inbound burst"
    CLICK_SURGE = "click_surge", "Flagged: click surge"


#: The kinds that pause a campaign (and so can be resumed).
PAUSE_KINDS = (GuardEventKind.ANOMALY, GuardEventKind.CAP)


class GuardEvent(TenantOwned):
    """Something the guard did: a campaign paused (with the figures that crossed a threshold) or abuse flagged.

    A pause is open (``resolved_at`` empty) until its campaign is resumed: from the Guard page (audited, with
    who), elsewhere (the campaign's own resume: noticed by the tick), or by the guard itself (a cap raised or a
    new period). ``baseline`` keeps the counters at the resume, so an anomaly is judged again only on what
    happened after it.
    """

    class Resolution(models.TextChoices):
        RESUMED = "resumed", "Resumed from the Guard page"
        RESUMED_ELSEWHERE = "resumed_elsewhere", "Resumed elsewhere (campaign page or API)"
        AUTO_RESUMED = "auto_resumed", "Resumed by the guard (room under the cap)"
        CLOSED = "closed", "Campaign canceled or finished"

    kind = models.CharField(max_length=16, choices=GuardEventKind.choices)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="guard_events"
    )
    reason = models.CharField(max_length=300)
    figures = models.JSONField(default=dict, blank=True, help_text="The numbers behind the decision")
    subject = models.CharField(
        max_length=64, blank=True, help_text="Flags: the range or network (never a whole phone number)"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    baseline = models.JSONField(default=dict, blank=True, help_text="Counters when the pause was resolved")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="guardevent_tenant_time"),
            models.Index(fields=["campaign"], name="guardevent_open", condition=models.Q(resolved_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else self.kind

    @property
    def is_open_pause(self) -> bool:
        return self.kind in PAUSE_KINDS and self.resolved_at is None


class BlockReason(models.TextChoices):
    COUNTRY = "country", "Outside the allowed countries"
    HIGH_RISK = "high_risk", "High-risk range"


class GuardBlock(TenantOwned):
    """Counter rows of recipients the fan-out blocked: one row per chunk, reason and country or range.

    Inserted in the fan-out chunk's transaction (``guard.screening``), so they agree with the ``blocked``
    messages; summed by the Guard page (a tenant's rows, by reason and ``code``), never a scan of messages.
    """

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    reason = models.CharField(max_length=10, choices=BlockReason.choices)
    code = models.CharField(max_length=16, help_text="The country (ISO) or the high-risk prefix")
    count = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "reason"], name="guardblock_tenant_reason")]


class CampaignCountryCount(TenantOwned):
    """Recipients of a campaign handed to sending, by country (ISO, ``guard.geo.region_of``).

    One upsert per fan-out chunk and country (``guard.screening.recipients_by_country_record``), so the tick can
    tell a country's share of a campaign without reading its messages: the denominator of "undelivered to one
    country" (the failures themselves are read from the few failed messages).
    """

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    country = models.CharField(max_length=3)
    recipients = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "country"], name="guard_country_count_one_per_country")
        ]


class UsagePeriod(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class GuardUsage(TenantOwned):
    """A tenant's use in one day or month (UTC): the durable copy of the Redis counters the sender takes from.

    Written by the guard's tick (``services.usage_persist``) and read back into Redis when its key is missing
    (Redis restarted without its data), so a cap survives a Redis loss, give or take one tick.
    """

    period = models.CharField(max_length=5, choices=UsagePeriod.choices)
    starts_on = models.DateField()
    segments = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0, help_text="Estimated cost in millionths of the currency")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period", "starts_on"], name="guardusage_one_per_period")
        ]
