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


class Campaign(TenantOwned):
    """A message to an audience.

    draft → scheduled (send_at in the future) → sending ⇄ paused → sent;
    canceled from any state before sent. ``sent`` means no message is left
    waiting to be handed to the gateway; delivery reports keep arriving after.
    """

    name = models.CharField(max_length=200)
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

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    """The message state machine. Statuses only move forward, by ``STATUS_RANK``.

    pending ──claim──▶ sending ──gateway──▶ accepted/scheduled ▶ queued ▶ sent ▶ delivered ▶ read
     ▲ │                 │ │                                        │        └▶ undelivered
     │ ├▶ suppressed     │ ├▶ unknown ──asked: found──▶ (the status   └▶ failed
     │ └▶ capped         │ │     │        the gateway reports)
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
    value stays in the callback history. Terminal: suppressed, capped, failed,
    undelivered, delivered (only ``read`` may follow), read, canceled.

    Status callbacks (``tracking``) only ever move a message to one of Twilio's
    statuses (accepted, scheduled, queued, sent, delivered, undelivered, failed,
    read, canceled); pending, sending, unknown, suppressed and capped are set by
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


class Message(TenantOwned):
    """One recipient's copy of a campaign. Unique per (campaign, contact): a rerun cannot double it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    to = models.CharField(max_length=16)
    body = models.TextField()
    variant = models.PositiveSmallIntegerField(null=True, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
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

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="message_unique_per_campaign_contact"),
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
