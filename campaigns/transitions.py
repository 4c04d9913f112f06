"""The one way a message's status changes: forward-only, compare-and-set, counted.

Both the sender (claims, send results) and the delivery webhooks move messages
through ``message_move``; it never moves a status backwards (``can_move``), two
racing callers cannot both win, and the campaign's counters move with the row in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from .models import Message, MessageStatus, MessageStatusCount, can_move

MAX_RACE_RETRIES = 5


def message_move(
    *,
    message_id: int,
    to: str,
    allowed_from: Iterable[str] | None = None,
    **fields,
) -> str | None:
    """Move a message to ``to`` if the state machine allows it.

    ``allowed_from`` narrows the statuses it may come from (a claim is only from
    ``pending``). ``fields`` are written in the same UPDATE (sid, error_code, …).
    Returns the status it moved from, or ``None`` when it did not move.
    """
    allowed = set(MessageStatus.values if allowed_from is None else allowed_from)
    for _ in range(MAX_RACE_RETRIES):
        row = Message.objects.filter(pk=message_id).values_list("status", "campaign_id").first()
        if row is None:
            return None
        old, campaign_id = row
        if old not in allowed or not can_move(old, to):
            return None
        with transaction.atomic():
            won = Message.objects.filter(pk=message_id, status=old).update(status=to, **fields)
            if won:
                MessageStatusCount.objects.bulk_create(
                    [
                        MessageStatusCount(campaign_id=campaign_id, status=old, count=-1),
                        MessageStatusCount(campaign_id=campaign_id, status=to, count=1),
                    ]
                )
                return old
        # Someone else moved it between our read and our write: look again.
    return None


def counts_add(*, campaign_id: int, deltas: dict[str, int]) -> None:
    """Record bulk changes (e.g. a fan-out that created N pending messages)."""
    MessageStatusCount.objects.bulk_create(
        [MessageStatusCount(campaign_id=campaign_id, status=s, count=n) for s, n in deltas.items() if n]
    )
