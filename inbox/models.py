"""The two-way inbox: a conversation per contact, the team's replies, and the tenant's rules for answers.

A ``Conversation`` is kept from the inbound texts (``compliance.InboundMessage``) by ``services.conversations_refresh``
(on a beat and whenever the inbox is looked at): compliance, below this app, never calls it. The thread itself is
read from its sources (inbound texts, ``campaigns.Message`` rows of every campaign kind): the conversation row only
keeps what the list filters and sorts on (last activity, unread count, assignee, done), so the list never scans
messages.

Unread and done, by inbound id: ``unread`` counts the inbound texts after ``read_upto_id``; a conversation is done
while ``done_at`` is set, and a new inbound text (id above ``done_upto_id``) opens it again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.models import TenantOwned


class InboxSettings(TenantOwned):
    """One row per tenant, created on first use: which sending rules apply to an answer typed in the inbox."""

    answer_quiet_hours_exempt_hours = models.PositiveSmallIntegerField(
        "answers outside quiet hours within (hours)",
        default=24,
        help_text="An answer typed in the inbox within this many hours of the person's last text goes at once, "
        "even in quiet hours (they wrote to you). 0: quiet hours always apply, answers are held like any text.",
    )
    answer_frequency_cap = models.BooleanField(
        "frequency cap applies to answers",
        default=False,
        help_text="Off (the default): an answer is never refused for the daily frequency cap. On: an answer to "
        "someone who already had the cap's number of texts today is recorded 'capped' and not sent.",
    )
    synced_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Inbound texts up to here are in the conversations"
    )

    class Meta:
        verbose_name = "inbox settings"
        verbose_name_plural = "inbox settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="inboxsettings_unique_per_tenant")]

    def __str__(self) -> str:
        return "Inbox settings"


class Conversation(TenantOwned):
    """A tenant's exchange with one contact; kept by ``services`` (never edited by hand)."""

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    last_message_at = models.DateTimeField(help_text="The latest inbound text or inbox answer")
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_inbound_id = models.BigIntegerField(default=0, help_text="The newest inbound text counted here")
    last_preview = models.CharField(max_length=160, blank=True, help_text="The start of the latest message")
    last_direction = models.CharField(max_length=3, default="in", help_text="in or out")
    unread = models.PositiveIntegerField(default=0)
    read_upto_id = models.BigIntegerField(default=0, help_text="Inbound texts up to this id are read")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True, help_text="Marked done; a new inbound text reopens it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "contact"], name="conversation_unique_per_contact")]
        indexes = [
            models.Index(fields=["tenant", "-last_message_at"], name="conversation_recent"),
            models.Index(
                fields=["tenant", "-last_message_at"], name="conversation_unread", condition=models.Q(unread__gt=0)
            ),
            models.Index(
                fields=["tenant", "-last_message_at"], name="conversation_open", condition=models.Q(done_at=None)
            ),
            models.Index(fields=["tenant", "assigned_to", "-last_message_at"], name="conversation_assigned"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class InboxReply(TenantOwned):
    """An answer typed in the inbox (admin or API). Its id is the direct send's key: one message per reply.

    ``token`` is the form's (or the API client's ``Idempotency-Key``): a double submit finds the first reply.
    ``quiet_hours_exempt`` is decided when it is typed (``InboxSettings``) and asked by the sender
    (``selectors.replies_quiet_hours_exempt``)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    token = models.CharField(max_length=64, blank=True)
    message = models.OneToOneField(
        "campaigns.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    quiet_hours_exempt = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inbox replies"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "token"], condition=~models.Q(token=""), name="inboxreply_token_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Reply {self.pk}"
