"""Recording what the gateway said about claimed messages, a group per statement, and parking.

Accepted, refused and unknown outcomes each go in one statement
(``messages_move_rows``: forward only, so a status webhook that came first keeps
its status). 429 and 20003 *park* their message: it stays ``sending`` with
``claimed_at`` empty until ``dispatch.parked_message_send`` takes it back.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.transitions import message_move, messages_move_rows
from compliance.services import suppression_add
from gateways import GatewayError
from gateways.base import CODE_BAD_CREDENTIALS, CODE_TOO_MANY_REQUESTS
from integrations.events import message_moved_emit

from .enqueue import resend_enqueue
from .pausing import campaign_pause, tenant_sending_pause

if TYPE_CHECKING:
    from .dispatch import Outgoing, Sender

logger = logging.getLogger(__name__)

GATEWAY_STATUSES = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.SCHEDULED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
}


@contextmanager
def _lazy_commit():
    """The outcome's commit need not wait for the disk (one WAL flush less per group).

    Safe for exactly-once: were PostgreSQL to lose this commit in a crash, the
    messages would be left claimed, the tick marks a stale claim ``unknown``, and
    the resolver finds each at the gateway. The claim itself is always committed
    durably.
    """
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def record_outcome(sender: Sender, m: Outgoing, fut: Future) -> None:
    """Record what the gateway said about one claimed message."""
    record_outcomes(sender, [(m, fut)])


def record_outcomes(sender: Sender, items: list[tuple[Outgoing, Future]]) -> None:
    """Record what the gateway said about claimed messages (in the database thread), a group at a time.

    Accepted messages, refusals and unknown outcomes each go in one statement
    (``messages_move_rows``: forward only, so a status webhook that came first
    keeps its status); 429 and 20003 park their message one by one.
    """
    try:
        sids = _record_outcomes_atomically(sender, items)
    except Exception:
        if len(items) == 1:
            raise
        # One bad row must not cost the group its SIDs (a text that went out and
        # lost its SID could never be matched to its delivery reports).
        logger.exception("Recording %d outcomes together failed; recording them one by one", len(items))
        sids = []
        for item in items:
            try:
                sids += _record_outcomes_atomically(sender, [item])
            except Exception:  # left claimed: the tick marks it unknown and the resolver asks the gateway
                logger.exception("Recording the outcome of message %s failed", item[0].id)
    while sender.after:
        sender.after.pop(0)()
    _orphans_apply(tenant_id=sender.tenant.pk, sids=sids)


def _record_outcomes_atomically(sender: Sender, items: list[tuple[Outgoing, Future]]) -> list[str]:
    """All of the group's outcomes or none (its counts and after-commit work too)."""
    counts, after = copy.deepcopy(vars(sender.result)), len(sender.after)
    try:
        with _lazy_commit(), transaction.atomic():
            return _record_outcomes(sender, items)
    except Exception:
        vars(sender.result).update(counts)
        del sender.after[after:]
        raise


def _record_outcomes(sender: Sender, items: list[tuple[Outgoing, Future]]) -> list[str]:
    result = sender.result
    now = timezone.now()
    ask_at = now + dt.timedelta(seconds=settings.SENDING_UNKNOWN_FIRST_CHECK_SECONDS)
    accepted: list[tuple] = []
    refused: list[tuple] = []
    unknown: list[tuple] = []
    for m, fut in items:
        err = fut.exception()
        if err is None:
            sent = fut.result()
            status = GATEWAY_STATUSES.get((sent.status or "").lower(), MessageStatus.QUEUED)
            accepted.append((m.id, status, sent.sid, now))
        elif not isinstance(err, GatewayError):  # a bug or an unclassified failure: the request may have gone out
            logger.error("Unexpected error sending message %s", m.id, exc_info=err)
            message_move(
                message_id=m.id,
                to=MessageStatus.UNKNOWN,
                allowed_from=[MessageStatus.SENDING],
                error_message=f"{type(err).__name__}"[:300],
                check_after=ask_at,
            )
            result.unknown += 1
        elif err.bad_credentials or err.retryable:
            _record_parked(sender, m, err)
        elif err.permanent:
            refused.append((m.id, MessageStatus.FAILED, err.code, (err.message or "")[:300]))
            if err.opted_out:  # after the outcome, in its own durable commit (the outcome's is lazy)
                tenant, to, note = sender.tenant, m.to, f"Twilio {err.code}"
                sender.after.append(
                    lambda tenant=tenant, to=to, note=note: suppression_add(
                        tenant=tenant, phone_number=to, source="carrier", note=note
                    )
                )
        else:  # outcome unknown: the text may be on its way; a question for the gateway (campaigns.sending.resolution).
            unknown.append((m.id, MessageStatus.UNKNOWN, err.code, (err.message or "Outcome unknown")[:300], ask_at))
    messages_move_rows(
        rows=accepted, fields=("sid", "sent_at"), allowed_from=[MessageStatus.SENDING, MessageStatus.UNKNOWN]
    )
    result.sent += len(accepted)
    moved = messages_move_rows(
        rows=refused,
        fields=("error_code", "error_message"),
        allowed_from=[MessageStatus.SENDING, MessageStatus.UNKNOWN],
    )
    for message_id in moved:
        message_moved_emit(tenant_id=sender.tenant.pk, message_id=message_id, status=MessageStatus.FAILED)
    result.failed += len(refused)
    messages_move_rows(
        rows=unknown, fields=("error_code", "error_message", "check_after"), allowed_from=[MessageStatus.SENDING]
    )
    result.unknown += len(unknown)
    return [sid for _, _, sid, _ in accepted]


def _orphans_apply(*, tenant_id: int, sids: list[str]) -> None:
    from tracking.services import status_orphans_apply_many

    try:
        status_orphans_apply_many(tenant_id=tenant_id, sids=sids)
    except Exception:  # never lose the send record over a late callback
        logger.exception("Applying early status callbacks for %s SIDs failed", len(sids))


def _record_parked(sender: Sender, m: Outgoing, err: GatewayError) -> None:
    """429 (try the same message again later) and 20003 (pause): the message stays claimed, parked."""

    result = sender.result
    if err.bad_credentials:
        message_park(message_id=m.id, error_code=CODE_BAD_CREDENTIALS)
        result.parked += 1
        if not sender.live.stopped:
            sender.live.stopped = True
            reason = "Twilio refused the account's credentials (20003): fix them, then resume."
            tenant_sending_pause(tenant=sender.tenant, reason=reason)
            campaign_pause(campaign=sender.campaign, reason=reason)
        return
    attempts = message_park(message_id=m.id, error_code=err.code or CODE_TOO_MANY_REQUESTS, attempt=True)
    if attempts is None:
        return
    if attempts >= settings.SENDING_MAX_ATTEMPTS:
        if message_move(
            message_id=m.id,
            to=MessageStatus.FAILED,
            allowed_from=[MessageStatus.SENDING],
            error_code=err.code or CODE_TOO_MANY_REQUESTS,
            error_message=f"Gave up after {attempts} refusals: {err.message}"[:300],
        ):
            message_moved_emit(tenant_id=sender.tenant.pk, message_id=m.id, status=MessageStatus.FAILED)
        result.failed += 1
        return
    result.parked += 1
    countdown = err.retry_after or min(2**attempts, 300)
    resend_enqueue(message_id=m.id, attempt=attempts, countdown=countdown)


# --- parked messages ----------------------------------------------------------------


def message_park(*, message_id: int, error_code: int | None, attempt: bool = False) -> int | None:
    """Keep a claimed, not-sent message claimed but idle (``claimed_at`` empty). Returns its attempts."""
    updates: dict = {"claimed_at": None, "error_code": error_code}
    if attempt:
        updates["attempts"] = F("attempts") + 1
    qs = Message.objects.filter(pk=message_id, status=MessageStatus.SENDING)
    if not qs.update(**updates):
        return None
    return qs.values_list("attempts", flat=True).first()
