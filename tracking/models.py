"""Delivery tracking: the append-only history of Twilio status callbacks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from tenants.models import Tenant, TenantOwned


class StatusEvent(TenantOwned):
    """One status callback as it arrived, kept forever (append-only).

    Deduplicated on (tenant, SID, raw status) within a month: Twilio repeats
    callbacks, and a repeat adds nothing. The table is partitioned by month on
    ``received_at`` (migration 0002, ``common.partitions``; old months dropped whole
    by ``retention``): the primary key is ``(id, received_at)`` in the database and
    the dedup index is one per partition, so a repeat that crosses a month's
    boundary is kept twice (the message still moves once: moves only go forward).
    ``status`` is Twilio's own word (``sending`` stays ``sending`` here even though
    the message moves to our ``queued``); ``fields`` are every form field posted,
    unknown ones included. ``message`` is empty while no message carries the SID
    (an *orphan*: the callback beat the sender's own write); ``status_orphans_apply``
    fills it in and applies the status when the SID is recorded, and the periodic
    sweep retries. Orphans that never match stay visible in the admin.
    """

    # An append-only log written on every callback: no second index by tenant (the unique
    # (tenant, sid, status) index of each partition serves it) and no database FK checks, which would lock
    # the tenant's and the message's rows (KEY SHARE) on every insert. Django still
    # cascades deletes (CASCADE / SET_NULL) itself.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    sid = models.CharField("Message SID", max_length=34)
    status = models.CharField(max_length=20)
    error_code = models.IntegerField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    # Set once the SID is matched; empty marks an orphan. The history is keyed by SID
    # (the unique index above serves "the history of this message"), so it needs no
    # index of its own, and it outlives a deleted message (DO_NOTHING).
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text="When an orphan was matched to its message and applied"
    )

    class Meta:
        ordering = ["-id"]  # newest first, by the primary key (no extra index to maintain)
        # The unique (tenant, sid, status) is an index of each partition (not of the partitioned table, whose unique
        # indexes must hold the time): created with the partition (common/partitions.py), not declared here.
        indexes = [
            models.Index(fields=["tenant", "sid"], name="statusevent_orphans", condition=models.Q(message=None)),
        ]

    def __str__(self) -> str:
        return f"{self.sid} · {self.status}"

    @property
    def is_orphan(self) -> bool:
        return self.message_id is None


class DeliveryFailure(Message):
    """Messages that failed or were undelivered, for the admin's by-error-code view."""

    FAILURE_STATUSES = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)

    class Meta:
        proxy = True
        verbose_name = "delivery failure"
        verbose_name_plural = "delivery failures"
