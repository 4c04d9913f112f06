"""Claiming a group of messages for sending: one statement, suppression checked in it.

A claim is the compare-and-set of ``message_move`` (``pending`` → ``sending``)
for a whole group, so only one worker ever sends a message, and a number that
opted out a second before the claim is never taken (``suppressed`` instead).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.transitions import message_move_ctes, messages_move_rows
from compliance.selectors import suppressed_numbers_sql


def messages_claim(*, message_ids: list[int], tenant_id: int, phone_numbers: list[str]) -> tuple[set[int], set[int]]:
    """Claim many messages at once. Returns ``(won, suppressed)`` message ids.

    One statement takes every message of ``message_ids`` that is still
    ``pending`` and whose number is not on the suppression list *at that
    instant*, locks it, moves it to ``sending`` (``claimed_at`` now) and counts
    it: the compare-and-set of ``message_move``, for the whole group. Another
    worker's claim waits on the row lock and then finds it not pending. Pending
    messages left out because their number opted out are moved to
    ``suppressed`` by a second statement, only when there are any.

    """
    won: set[int] = set()
    suppressed: set[int] = set()
    left = sorted(set(message_ids))
    for _ in range(3):  # a number that opted back in between the two statements is claimed on the next round
        claimed = _claim_statement(left, tenant_id, phone_numbers, to=MessageStatus.SENDING)
        won |= claimed
        left = [mid for mid in left if mid not in claimed]
        if not left:
            break
        skipped = _claim_statement(left, tenant_id, phone_numbers, to=MessageStatus.SUPPRESSED)
        suppressed |= skipped
        left = [mid for mid in left if mid not in skipped]
        if not left or not Message.objects.filter(pk__in=left, status=MessageStatus.PENDING).exists():
            break
    return won, suppressed


def messages_unclaim(*, message_ids: list[int]) -> set[int]:
    """Claimed messages never handed to the HTTP client go back to ``pending`` at once (no question to ask).

    One statement, the counters with it (``sending`` → ``pending`` is one of the
    state machine's two ``RETURN_EDGES``). Returns the ids that moved.
    """
    rows = [(mid, MessageStatus.PENDING, None) for mid in message_ids]
    return set(messages_move_rows(rows=rows, fields=("claimed_at",), allowed_from=[MessageStatus.SENDING]))


def _claim_statement(message_ids: list[int], tenant_id: int, phone_numbers: list[str], *, to: str) -> set[int]:
    """``pending`` → ``to`` for the ids whose number is (``suppressed``) or is not (``sending``) suppressed."""
    fields = {"claimed_at": timezone.now()} if to == MessageStatus.SENDING else {}
    move_sql, move_params = message_move_ctes(to=to, allowed_from=[MessageStatus.PENDING], fields=fields, source="cand")
    sup_sql, sup_params = suppressed_numbers_sql(tenant_id=tenant_id, phone_numbers=phone_numbers)
    msg = connection.ops.quote_name(Message._meta.db_table)
    opted_out = "EXISTS" if to == MessageStatus.SUPPRESSED else "NOT EXISTS"
    sql = (
        f"WITH sup AS ({sup_sql}), "  # noqa: S608 - names from model meta, values bound
        f"cand AS (SELECT m.id, m.status, m.campaign_id FROM {msg} AS m WHERE m.id = ANY(%s) AND m.tenant_id = %s "
        "AND m.status = %s "
        f'AND {opted_out} (SELECT 1 FROM sup WHERE sup.number = m."to") ORDER BY m.id FOR NO KEY UPDATE OF m), '
        f"{move_sql} "
        "SELECT ARRAY(SELECT id FROM cand), (SELECT count(*) FROM upd)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*sup_params, message_ids, tenant_id, MessageStatus.PENDING, *move_params])
        ids, moved = cursor.fetchone()
    if moved == len(ids):  # every locked candidate was still pending, so the move took each one
        return set(ids)
    # Cannot happen with the rows locked; should it, trust only what the table says.
    fields_match = {"claimed_at": fields["claimed_at"]} if fields else {}
    return set(Message.objects.filter(pk__in=ids, status=to, **fields_match).values_list("pk", flat=True))
