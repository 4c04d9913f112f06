"""Campaigns and the one message per recipient they fan out to."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.models import TenantOwned


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELED = "canceled", "Canceled"


class CampaignPurpose(models.TextChoices):
    """What a campaign is for, which decides whether contacts with unknown consent may get it.

    Marketing: offers, sales, news, anything that promotes (US law wants express
    consent: by default only contacts who granted it). Transactional: a notice the
    contact expects about their own account, order or appointment (by default also
    contacts whose consent is unknown). Revoked consent is never texted either way;
    the tenant changes the defaults in its compliance settings.
    """

    MARKETING = "marketing", "Marketing (offers, sales, news)"
    TRANSACTIONAL = "transactional", "Transactional (orders, appointments, account notices)"


class MmsFallback(models.TextChoices):
    """What an MMS campaign does for a recipient who cannot take MMS (media/destinations.py says who)."""

    SKIP = "skip", "Skip them (recorded as suppressed, never sent)"
    LINK = "link", "Send the text with their own short link to the image"


class CampaignKind(models.TextChoices):
    """What owns a campaign. Only ``campaign`` is a marketer's blast, listed and fanned out to an audience; the
    others are carriers that put single messages through the same pipeline (claims, consent, suppression, quiet
    hours, frequency cap, throttle, fraud guard): one per journey send step (``journeys``), and one per tenant for
    direct sends (``campaigns.sending.direct``: inbox replies, form confirmations). A carrier stays ``sending``
    while it may send (``paused`` with its journey), is never fanned out and never finishes."""

    CAMPAIGN = "campaign", "Campaign"
    JOURNEY = "journey", "Journey step"
    DIRECT = "direct", "Direct messages"


class AbMetric(models.TextChoices):
    """What an A/B test that picks its winner compares (``campaigns.winners``)."""

    CLICKS = "clicks", "Click rate (people who clicked, of those delivered)"
    DELIVERED = "delivered", "Delivery rate"
    REPLIES = "replies", "Reply rate (people who replied, of those delivered)"


class Campaign(TenantOwned):
    """A message to an audience.

    draft → scheduled (send_at in the future) → sending ⇄ paused → sent;
    canceled from any state before sent. ``sent`` means no message is left
    waiting to be handed to the gateway; delivery reports keep arriving after.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=8, choices=CampaignKind.choices, default=CampaignKind.CAMPAIGN, db_default=CampaignKind.CAMPAIGN
    )
    body = models.TextField(help_text="Merge fields: {{first_name}}, {{last_name}}, {{link}}, {{first_name|there}}")
    link_url = models.URLField(max_length=2000, blank=True)
    audience = models.JSONField(default=dict, blank=True, help_text='{"tags": ["vip"]}; empty = all contacts')
    variants = models.JSONField(
        default=list,
        blank=True,
        help_text='A/B test: 2-4 {"body", "percent"} summing to 100; Message.variant is the index. Empty = one body.',
    )
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True
    )
    purpose = models.CharField(
        max_length=13,
        choices=CampaignPurpose.choices,
        default=CampaignPurpose.MARKETING,
        help_text="Marketing goes to contacts who granted consent; transactional also to those whose consent is "
        "unknown (the tenant's compliance settings say). Revoked consent is never texted.",
    )
    mms_fallback = models.CharField(
        "recipients who cannot take MMS",
        max_length=4,
        choices=MmsFallback.choices,
        default=MmsFallback.SKIP,
        help_text="With media: numbers outside the US and Canada, and landlines Twilio reported, get no MMS. "
        "Skip them, or send them the text with their own short link to the image (counted as a click).",
    )
    # A/B test that picks its winner (campaigns.abtest, campaigns.winners): the variants go to a sample first, the
    # winner to the rest once ``ab_wait_hours`` have passed; the decision is recorded.
    ab_test_percent = models.PositiveSmallIntegerField(
        "test on (% of the audience)",
        null=True,
        blank=True,
        help_text="With variants: send them to this share of the audience first, then the winner to the rest. "
        "Empty: the variants split the whole audience.",
    )
    ab_wait_hours = models.PositiveSmallIntegerField(
        "pick the winner after (hours)", default=4, help_text="Hours after the start to compare the variants"
    )
    ab_metric = models.CharField(
        "winner by", max_length=10, choices=AbMetric.choices, default=AbMetric.CLICKS, blank=True
    )
    ab_winner = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The variant sent to the rest")
    ab_decided_at = models.DateTimeField(null=True, blank=True)
    ab_decision = models.CharField(max_length=500, blank=True, help_text="The figures and the verdict")
    local_send_time = models.TimeField(
        "at this local time",
        null=True,
        blank=True,
        help_text="Send at this time of day in each recipient's own time zone (their contact's zone, else their "
        "number's): each message waits for the next such time after the send starts, and for the recipient's "
        "quiet hours. Empty: as soon as the send starts.",
    )
    send_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    fanned_out_at = models.DateTimeField(
        null=True, blank=True, help_text="When every recipient had its message (the fan-out finished)"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ab_test_percent__isnull=True)
                | models.Q(ab_test_percent__gte=1, ab_test_percent__lte=99),
                name="campaign_ab_test_percent_range",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CampaignMedia(models.Model):
    """A campaign's media, in order, per A/B variant (0: the campaign's own, or variant A's).

    Written only by ``campaigns.authoring`` from the campaign's ``media`` and its variants' ``media`` lists; the
    sender reads it once per campaign and send batch, never per message.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="media_items")
    media = models.ForeignKey("media.MediaFile", on_delete=models.CASCADE, related_name="campaign_uses")
    variant = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "variant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "variant", "position"], name="campaignmedia_unique_position")
        ]

    def __str__(self) -> str:
        return f"media {self.media_id} of campaign {self.campaign_id}"


class MessageStatus(models.TextChoices):
    """The message state machine. Statuses only move forward, by ``STATUS_RANK``.

    pending ──claim──▶ sending ──gateway──▶ accepted/scheduled ▶ queued ▶ sent ▶ delivered ▶ read
     ▲ │                 │ │                                        │        └▶ undelivered
     │ ├▶ suppressed     │ ├▶ unknown ──asked: found──▶ (the status   └▶ failed
     │ ├▶ capped         │ │     │        the gateway reports)
     │ └▶ blocked        │ │     │
     │                   │ └▶ failed (refused by the gateway)
     └──── never handed ─┘       │
     └──── asked: never created ─┘  (not found after the grace period: resent once, through the claim)
    canceled: a scheduled send that was canceled.

    ``unknown`` is transient: the request may or may not have reached the gateway
    (a worker died holding the claim, the connection broke, a 5xx, a timeout). It
    is a question for the gateway (``campaigns.sending.resolution``): found, it takes the
    SID and status the gateway reports; not found once no request can still be in
    flight (``SENDING_UNKNOWN_GRACE_SECONDS`` after the claim), it goes back to
    ``pending`` and through the normal claim again. The two backward edges
    (``RETURN_EDGES``) are the only ones, and only the sender takes them.

    ``sending`` is *our* claim (a worker owns the message). Twilio's own
    ``sending`` status (in flight to the carrier) is applied as ``queued``; the raw
    value stays in the callback history. Terminal: suppressed, capped, blocked, failed,
    undelivered, delivered (only ``read`` may follow), read, canceled. ``blocked``: the fraud
    guard's geo permissions or high-risk ranges (``guard.screening``), set by the fan-out, never sent.

    ``read`` is a read receipt, which only some channels send (``READ_RECEIPT_CHANNELS``: RCS and WhatsApp;
    SMS and MMS never do). It ranks above ``delivered`` and implies it: a ``read`` that arrives before
    ``delivered`` (from queued, sent, accepted, …) moves the message straight to ``read``, counted once, and
    the late ``delivered`` then moves nothing. The stats count a read message as delivered too.

    Status callbacks (``tracking``) only ever move a message to one of Twilio's
    statuses (accepted, scheduled, queued, sent, delivered, undelivered, failed,
    read, canceled); pending, sending, unknown, suppressed, capped and blocked are set by
    the sender alone. Every move goes through ``campaigns.transitions.message_move``
    (or its SQL form, ``message_move_ctes``): one conditional UPDATE, counted.
    """

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending (claimed)"
    UNKNOWN = "unknown", "Outcome unknown"
    ACCEPTED = "accepted", "Accepted"
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    READ = "read", "Read"
    CANCELED = "canceled", "Canceled"
    SUPPRESSED = "suppressed", "Suppressed (opted out)"
    CAPPED = "capped", "Skipped (frequency cap)"
    BLOCKED = "blocked", "Blocked (fraud guard)"


STATUS_RANK: dict[str, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 10,
    MessageStatus.UNKNOWN: 15,
    MessageStatus.ACCEPTED: 20,
    MessageStatus.SCHEDULED: 20,
    MessageStatus.QUEUED: 30,
    MessageStatus.SENT: 40,
    MessageStatus.DELIVERED: 50,
    MessageStatus.UNDELIVERED: 50,
    MessageStatus.FAILED: 50,
    MessageStatus.CANCELED: 50,
    MessageStatus.SUPPRESSED: 50,
    MessageStatus.CAPPED: 50,
    MessageStatus.BLOCKED: 50,
    MessageStatus.READ: 60,
}
TERMINAL_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
        MessageStatus.SUPPRESSED,
        MessageStatus.CAPPED,
        MessageStatus.BLOCKED,
        MessageStatus.READ,
    }
)


#: The only backward moves, both back to ``pending`` and both the sender's: a claim whose message was never
#: handed to the HTTP client, and an unknown outcome the gateway says it never created
#: (``campaigns.sending.resolution``).
RETURN_EDGES = frozenset(
    {(MessageStatus.SENDING, MessageStatus.PENDING), (MessageStatus.UNKNOWN, MessageStatus.PENDING)}
)


def can_move(old: str, new: str) -> bool:
    """Whether a message in ``old`` may move to ``new`` (forward only, but for ``RETURN_EDGES``; terminal stays)."""
    if old == new:
        return False
    if (old, new) in RETURN_EDGES:
        return True
    if old in TERMINAL_STATUSES:
        return old == MessageStatus.DELIVERED and new == MessageStatus.READ
    return STATUS_RANK[new] > STATUS_RANK[old]


#: A message's channel until a status callback names another (``tracking.services.callback_channel``).
DEFAULT_CHANNEL = "sms"
#: The channels whose messages report reads (a ``read`` status callback). Twilio sends read receipts for RCS
#: (through a Messaging Service with an RCS sender) and WhatsApp; SMS and MMS have none.
READ_RECEIPT_CHANNELS = ("rcs", "whatsapp")


class Message(TenantOwned):
    """One recipient's copy of a campaign. Unique per (campaign, contact), or per (carrier campaign, run): a rerun
    cannot double it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    to = models.CharField(max_length=16)
    body = models.TextField()
    variant = models.PositiveSmallIntegerField(null=True, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    mms = models.BooleanField(
        default=False, help_text="Sent as MMS, with its campaign's (variant's) media; billed per message"
    )
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    error_code = models.IntegerField(null=True, blank=True, db_index=True)
    error_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Handed to the gateway")
    hold_until = models.DateTimeField(
        null=True, blank=True, help_text="Held by quiet hours: goes when the recipient's window opens"
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Gateway attempts refused as retryable (429)")
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True, help_text="When its read receipt came (RCS, WhatsApp)")
    channel = models.CharField(
        max_length=16,
        default=DEFAULT_CHANNEL,
        db_default=DEFAULT_CHANNEL,  # rows written with raw SQL or COPY (benchmarks) that do not name it
        help_text="What it went out on, as Twilio's status callbacks say (sms, mms, rcs, whatsapp); sms until one "
        "names another",
    )
    updated_at = models.DateTimeField(auto_now=True)
    # Resolution of an unknown outcome (campaigns.sending.resolution): when to ask the gateway next, how often it was
    # asked, how often the message was resent because the gateway had never created it, and why a person must
    # look (the gateway could not be asked for hours): empty while the resolver is still on it.
    check_after = models.DateTimeField(null=True, blank=True, help_text="Unknown outcome: when to ask Twilio next")
    checks = models.PositiveSmallIntegerField(default=0, help_text="Times Twilio was asked about this message")
    resends = models.PositiveSmallIntegerField(
        default=0, help_text="Times it was sent again because Twilio had never created it"
    )
    unresolved_reason = models.CharField(max_length=300, blank=True)
    # A carrier campaign's occurrence (CampaignKind): the journey run whose step sent it, or the direct send's own
    # key. Null for a campaign's one message per contact.
    run_id = models.BigIntegerField(null=True, blank=True, help_text="Journey run or direct send it belongs to")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(run_id__isnull=True),
                name="message_unique_per_campaign_contact",
            ),
            # Each journey step sends at most once per run (the carrier campaign is the step).
            models.UniqueConstraint(
                fields=["campaign", "run_id"], condition=models.Q(run_id__isnull=False), name="message_unique_per_run"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in MessageStatus]), name="message_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="message_campaign_status"),
            # The sender's reads: held messages due, the current rate.
            models.Index(
                fields=["hold_until"],
                name="message_held",
                condition=models.Q(status="pending", hold_until__isnull=False),
            ),
            models.Index(fields=["campaign", "sent_at"], name="message_campaign_sent_at"),
            # The resolver's read: unknown outcomes due for a question.
            models.Index(fields=["check_after"], name="message_unknown_due", condition=models.Q(status="unknown")),
        ]

    def __str__(self) -> str:
        return f"{self.to} · {self.get_status_display()}"


class MessageStatusCount(models.Model):
    """Squashable counter of a campaign's messages by status (rapidpro style).

    Every transition inserts deltas (-1 old status, +1 new) instead of updating a
    hot row, so concurrent webhooks never queue on one lock. Readers SUM per
    status (``campaigns.counters.campaign_status_counts``); ``squash`` folds the
    rows back now and then (one per campaign, status, minute, origin, error code,
    variant and sign).
    """

    # Written on every status move: no FK check and no index of its own per insert
    # (the (campaign, status) index serves every read; deletes cascade in the ORM).
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    status = models.CharField(max_length=12, choices=MessageStatus.choices)
    count = models.IntegerField()
    is_squashed = models.BooleanField(default=False)
    # Analytics (docs/analytics.md): a +1 row records when the message arrived in ``status`` (``minute``), the
    # status it came from and its error code; both rows carry the message's A/B variant. Squashing folds rows
    # that agree on all of them (and on the sign of ``count``), so arrivals per minute survive it.
    minute = models.DateTimeField(null=True, blank=True)
    from_status = models.CharField(max_length=12, null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    variant = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "status"], name="msgcount_campaign_status"),
            models.Index(fields=["is_squashed"], name="msgcount_unsquashed", condition=models.Q(is_squashed=False)),
        ]


class MessageChannelCount(models.Model):
    """Squashable counter of a campaign's messages by the channel Twilio reported, other than ``sms``.

    Every message starts on ``DEFAULT_CHANNEL`` uncounted; when a status move records another channel the
    same statement inserts +1 for it (and -1 for the channel it had, unless that was the default):
    ``campaigns.transitions``. So SUM(count) per channel is the campaign's messages on it, the denominator
    of the read rate for ``READ_RECEIPT_CHANNELS``, never a COUNT over messages. Squashed with the status
    counters (``campaigns.counters.squash_status_counts``).
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    channel = models.CharField(max_length=16)
    count = models.IntegerField()
    is_squashed = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "channel"], name="msgchannel_campaign_channel"),
            models.Index(fields=["is_squashed"], name="msgchannel_unsquashed", condition=models.Q(is_squashed=False)),
        ]


class MessageCheck(models.Model):
    """One question to the gateway about a message whose outcome was unknown, and its answer (the history).

    ``outcome``: ``found`` (the gateway had it: ``sid`` and ``status`` recorded), ``not_found`` (asked again
    later, or resent once past the grace period: ``action``), or ``error`` (the gateway could not be asked).
    """

    class Outcome(models.TextChoices):
        FOUND = "found", "Found at the gateway"
        NOT_FOUND = "not_found", "Not found"
        ERROR = "error", "Could not ask"
        RETRY = "retry", "Check again (a person asked)"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="checks_made")
    asked_at = models.DateTimeField()
    method = models.CharField(max_length=10, help_text="fetch (by SID) or list (by number and time)")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    sid = models.CharField(max_length=34, blank=True)
    status = models.CharField(max_length=20, blank=True, help_text="What the gateway reported")
    action = models.CharField(max_length=20, blank=True, help_text="recorded, resent, ask_again, gave_up, canceled")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["message", "asked_at", "id"]
        indexes = [models.Index(fields=["message", "asked_at"], name="messagecheck_message")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} at {self.asked_at:%Y-%m-%d %H:%M:%S}"


class CountryPrice(TenantOwned):
    """What one segment (SMS) and one message (MMS) cost the tenant in a country, for the cost estimate.

    A country without a row, or an empty price, costs ``SMS_PRICE_PER_SEGMENT`` / ``MMS_PRICE_PER_MESSAGE``
    (Twilio's US list prices): most tenants never write a row; one texting abroad writes the countries it texts.
    """

    country = models.CharField(max_length=2, help_text="Two-letter ISO code (US, GB, DE…)")
    sms_price_per_segment = models.DecimalField(
        max_digits=8, decimal_places=4, null=True, blank=True, help_text="Empty: the default (SMS_PRICE_PER_SEGMENT)"
    )
    mms_price_per_message = models.DecimalField(
        max_digits=8, decimal_places=4, null=True, blank=True, help_text="Empty: the default (MMS_PRICE_PER_MESSAGE)"
    )

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "country"], name="countryprice_unique_per_tenant"),
            models.CheckConstraint(
                condition=(models.Q(sms_price_per_segment__gte=0) | models.Q(sms_price_per_segment__isnull=True))
                & (models.Q(mms_price_per_message__gte=0) | models.Q(mms_price_per_message__isnull=True)),
                name="countryprice_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.country


class UserTestNumber(TenantOwned):
    """A person's own phone number for test sends, verified by a code texted to it first (``campaigns.testsends``).

    A test send goes through the tenant's gateway like any message but is no ``Message``: never in a campaign's
    audience, counters or stats. The code is kept only as a keyed hash, for ``TEST_CODE_TTL_SECONDS``, with a
    few attempts.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="test_numbers")
    phone_number = models.CharField(max_length=16, help_text="E.164")
    code_hash = models.CharField(max_length=64, blank=True)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phone_number"]
        constraints = [models.UniqueConstraint(fields=["user", "phone_number"], name="testnumber_unique_per_user")]

    def __str__(self) -> str:
        return f"…{self.phone_number[-4:]}"


class MessageTemplate(TenantOwned):
    """A saved message to start a campaign from: a body, an optional link and media (``campaigns.msgtemplates``).

    A campaign made from it copies them (a later change to the template leaves that campaign as it was).
    ``media`` holds the tenant's media ids, in order, checked when saved and again when used.
    """

    name = models.CharField(max_length=200)
    body = models.TextField(
        blank=True, help_text="Merge fields as in a campaign: {{first_name|there}}, {{city}}, {{link}}"
    )
    link_url = models.URLField(max_length=2000, blank=True)
    media = models.JSONField(default=list, blank=True, help_text="Media file ids, in order")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="messagetemplate_name_unique")]

    def __str__(self) -> str:
        return self.name
