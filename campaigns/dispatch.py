"""Send batches: claim each message, hand it to the gateway, record the outcome.

At most once, per message:

- quiet hours first: a message outside its recipient's window is held
  (``hold_until``) and left ``pending``; the beat tick releases it;
- the throttle (``campaigns.throttle``) gives the sender's turn *before* the
  claim, so a claimed message is never left waiting;
- the claim is ``message_move(to="sending", allowed_from=["pending"])``: only the
  worker whose conditional UPDATE changed the row sends it;
- the suppression list is read again right after the claim;
- the gateway call runs outside any transaction, on a thread pool (so one
  worker process keeps dozens of 200 ms Twilio calls in flight), while this
  thread does all database work on its one connection;
- the outcome is recorded after, by class (``GatewayError``): retryable (429) →
  the same claimed message is *parked* and tried again later (never a second
  message); permanent → ``failed`` with Twilio's code (21610 also suppresses the
  number); 20003 → parked and the campaign paused with the reason; unknown
  outcome → ``unknown``, never resent.

A parked message stays ``sending`` with ``claimed_at`` empty; ``message_resend``
takes it back with a compare-and-set on ``attempts``, so two resends cannot
both go. A claim whose worker died (``claimed_at`` older than
``SENDING_CLAIM_TIMEOUT``) may or may not have reached Twilio: the tick moves it
to ``unknown``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from compliance.rules import next_send_time
from compliance.selectors import is_suppressed, suppressed_among
from compliance.services import suppression_add
from gateways import GatewayError, OutboundSMS, get_gateway
from gateways.base import CODE_BAD_CREDENTIALS, CODE_TOO_MANY_REQUESTS, status_callback_url
from integrations.events import message_moved_emit
from tenants.models import Tenant

from .models import Campaign, CampaignStatus, Message, MessageStatus
from .throttle import throttle_acquire
from .transitions import message_move

logger = logging.getLogger(__name__)

GATEWAY_STATUSES = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.SCHEDULED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
}


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    parked: int = 0
    suppressed: int = 0
    held: int = 0
    skipped: int = 0  # not pending any more (another worker had it) or the campaign is not sending
    campaigns: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Outgoing:
    id: int
    campaign_id: int
    to: str
    body: str
    segments: int
    timezone: str = ""
    attempts: int = 0


# --- the HTTP pool ---------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def http_pool() -> ThreadPoolExecutor:
    """Threads that only make gateway calls (no database), one pool per process."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ThreadPoolExecutor(max_workers=settings.SENDING_CONCURRENCY, thread_name_prefix="sms-send")
                _pool_pid = os.getpid()
    return _pool


# --- liveness: is the campaign still sending? -------------------------------------


class Liveness:
    """The campaign's and tenant's "may we send?", read at most every ``ttl`` seconds."""

    def __init__(self, campaign_id: int, ttl: float = 0.5) -> None:
        self.campaign_id = campaign_id
        self.ttl = ttl
        self._at = 0.0
        self._live = True
        self.stopped = False  # set by us (20003): no need to ask the database

    def __call__(self) -> bool:
        if self.stopped:
            return False
        now = time.monotonic()
        if now - self._at > self.ttl:
            row = (
                Campaign.objects.filter(pk=self.campaign_id)
                .values_list("status", "tenant__sending_paused_reason")
                .first()
            )
            self._live = bool(row) and row[0] == CampaignStatus.SENDING and not row[1]
            self._at = now
        return self._live


# --- the batch ---------------------------------------------------------------------


def messages_send_batch(*, message_ids: list[int]) -> BatchResult:
    """Send the still-pending messages among ``message_ids`` (safe to run twice, or concurrently)."""
    result = BatchResult()
    rows = list(
        Message.objects.filter(pk__in=message_ids, status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", "campaign_id", "to", "body", "segments", "hold_until", "contact__timezone")
    )
    result.skipped += len(set(message_ids)) - len(rows)
    by_campaign: dict[int, list] = {}
    for row in rows:
        by_campaign.setdefault(row[1], []).append(row)
    for campaign_id, campaign_rows in by_campaign.items():
        _send_campaign_rows(campaign_id, campaign_rows, result)
        result.campaigns.add(campaign_id)
    return result


def _send_campaign_rows(campaign_id: int, rows: list, result: BatchResult) -> None:
    from .sending import campaign_pause  # the control module imports this one

    campaign = Campaign.objects.select_related("tenant").get(pk=campaign_id)
    tenant = campaign.tenant
    if campaign.status != CampaignStatus.SENDING:
        result.skipped += len(rows)
        return
    if tenant.sending_paused_reason:
        campaign_pause(campaign=campaign, reason=tenant.sending_paused_reason)
        result.skipped += len(rows)
        return

    now = timezone.now()
    due: list[Outgoing] = []
    holds: dict = {}
    for mid, _cid, to, body, segments, hold_until, tz in rows:
        if hold_until and hold_until > now:
            result.held += 1
            continue
        opens = next_send_time(tenant=tenant, phone_number=to, timezone=tz or "", now=now)
        if opens > now:
            holds.setdefault(opens, []).append(mid)
            continue
        due.append(Outgoing(mid, campaign_id, to, body, segments, tz or ""))
    for opens, ids in holds.items():
        result.held += Message.objects.filter(pk__in=ids, status=MessageStatus.PENDING).update(hold_until=opens)

    suppressed = suppressed_among(tenant_id=tenant.pk, phone_numbers=[m.to for m in due])
    if suppressed:
        for m in due:
            if m.to in suppressed and message_move(
                message_id=m.id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.PENDING]
            ):
                result.suppressed += 1
        due = [m for m in due if m.to not in suppressed]

    send_in_lanes(campaign=campaign, tenant=tenant, due=due, result=result)


# --- lanes: parallel database work ---------------------------------------------------------

_lanes: ThreadPoolExecutor | None = None
_lanes_pid: int | None = None


def lane_pool() -> ThreadPoolExecutor:
    """Threads that each claim and record on their own database connection (kept between batches)."""
    global _lanes, _lanes_pid
    if _lanes is None or _lanes_pid != os.getpid():
        with _pool_lock:
            if _lanes is None or _lanes_pid != os.getpid():
                _lanes = ThreadPoolExecutor(max_workers=settings.SENDING_DB_LANES, thread_name_prefix="sms-lane")
                _lanes_pid = os.getpid()
    return _lanes


def lane_count() -> int:
    """Lanes for one batch. One when another thread could not see our rows (inside a transaction:
    tests) or could not write beside us (SQLite)."""
    if connection.in_atomic_block or connection.vendor == "sqlite":
        return 1
    return max(1, settings.SENDING_DB_LANES)


def send_in_lanes(*, campaign: Campaign, tenant: Tenant, due: list[Outgoing], result: BatchResult) -> None:
    """Each claim and each outcome is a committed transaction (one WAL flush), so one connection
    manages a few hundred a second at best; lanes run several side by side, sharing the gateway
    pool, the liveness check and the throttle."""
    lanes = min(lane_count(), len(due)) or 1
    live = Liveness(campaign.pk)
    per_lane_in_flight = max(1, settings.SENDING_CONCURRENCY // lanes)
    senders = [
        Sender(campaign=campaign, tenant=tenant, result=BatchResult(), live=live, max_in_flight=per_lane_in_flight)
        for _ in range(lanes)
    ]
    if lanes == 1:
        senders[0].run(due)
    else:
        futures = [lane_pool().submit(_lane_run, sender, due[i::lanes]) for i, sender in enumerate(senders)]
        for fut in futures:
            fut.result()
    for sender in senders:
        for name in ("sent", "failed", "unknown", "parked", "suppressed", "held", "skipped"):
            setattr(result, name, getattr(result, name) + getattr(sender.result, name))


def _lane_run(sender: Sender, due: list[Outgoing]) -> None:
    close_old_connections()
    try:
        sender.run(due)
    finally:
        close_old_connections()


class Sender:
    """Claims in this thread, gateway calls on the pool, outcomes recorded back here."""

    def __init__(
        self,
        *,
        campaign: Campaign,
        tenant: Tenant,
        result: BatchResult,
        live: Liveness | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.campaign = campaign
        self.tenant = tenant
        self.result = result
        self.live = live or Liveness(campaign.pk)
        self.max_in_flight = max_in_flight or settings.SENDING_CONCURRENCY
        self.gateway = get_gateway()
        self.callback = status_callback_url()
        self.after: list = []  # writes that must not share the outcome's lazy commit

    def run(self, due: list[Outgoing]) -> None:
        pool = http_pool()
        limit = self.max_in_flight
        in_flight: dict[Future, Outgoing] = {}
        try:
            for m in due:
                if not self.live():
                    break
                if not throttle_acquire(tenant=self.tenant, segments=m.segments, should_stop=lambda: not self.live()):
                    break
                if not self.claim(m):
                    continue
                in_flight[pool.submit(self.call, m)] = m
                if len(in_flight) >= limit:
                    self._drain(in_flight, block=True)
                else:
                    self._drain(in_flight, block=False)
        finally:
            while in_flight:
                self._drain(in_flight, block=True)

    def _drain(self, in_flight: dict[Future, Outgoing], *, block: bool) -> None:
        if block:
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        else:
            done = [f for f in in_flight if f.done()]
        for fut in done:
            m = in_flight.pop(fut)
            record_outcome(self, m, fut)

    def claim(self, m: Outgoing) -> bool:
        if (
            message_move(
                message_id=m.id,
                to=MessageStatus.SENDING,
                allowed_from=[MessageStatus.PENDING],
                claimed_at=timezone.now(),
            )
            is None
        ):
            self.result.skipped += 1
            return False
        return self.after_claim(m)

    def after_claim(self, m: Outgoing) -> bool:
        """Checks that must be as late as possible: an opt-out recorded a second ago wins."""
        if is_suppressed(tenant_id=self.tenant.pk, phone_number=m.to):
            message_move(message_id=m.id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.SENDING])
            self.result.suppressed += 1
            return False
        return True

    def call(self, m: Outgoing):
        """On a pool thread: the gateway call and nothing else (no database, no transaction)."""
        return self.gateway.send(self.tenant, OutboundSMS(to=m.to, body=m.body, status_callback=self.callback))


@contextmanager
def _lazy_commit():
    """The outcome's commit need not wait for the disk (one WAL flush less per message).

    Safe for at-most-once: were PostgreSQL to lose this commit in a crash, the
    message would be left claimed, and the tick marks a stale claim ``unknown``:
    never resent. The claim itself is always committed durably.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def record_outcome(sender: Sender, m: Outgoing, fut: Future) -> None:
    """Record what the gateway said about a claimed message (in the database thread)."""
    with _lazy_commit():
        _record_outcome(sender, m, fut)
    while sender.after:
        sender.after.pop(0)()
    if fut.exception() is None:
        _orphans_apply(tenant_id=sender.tenant.pk, sid=fut.result().sid)


def _record_outcome(sender: Sender, m: Outgoing, fut: Future) -> None:
    result = sender.result
    try:
        sent = fut.result()
    except GatewayError as err:
        _record_error(sender, m, err)
        return
    except Exception as exc:  # a bug or an unclassified failure: the request may have gone out
        logger.exception("Unexpected error sending message %s", m.id)
        message_move(
            message_id=m.id,
            to=MessageStatus.UNKNOWN,
            allowed_from=[MessageStatus.SENDING],
            error_message=f"{type(exc).__name__}"[:300],
        )
        result.unknown += 1
        return
    status = GATEWAY_STATUSES.get((sent.status or "").lower(), MessageStatus.QUEUED)
    message_move(
        message_id=m.id,
        to=status,
        allowed_from=[MessageStatus.SENDING, MessageStatus.UNKNOWN],
        sid=sent.sid,
        sent_at=timezone.now(),
    )
    result.sent += 1


def _orphans_apply(*, tenant_id: int, sid: str) -> None:
    from tracking.services import status_orphans_apply

    try:
        status_orphans_apply(tenant_id=tenant_id, sid=sid)
    except Exception:  # never lose the send record over a late callback
        logger.exception("Applying early status callbacks for %s failed", sid)


def _record_error(sender: Sender, m: Outgoing, err: GatewayError) -> None:
    from .sending import campaign_pause, tenant_sending_pause

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
    if err.retryable:
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
        message_resend_enqueue(message_id=m.id, attempt=attempts, countdown=countdown)
        return
    if err.permanent:
        if message_move(
            message_id=m.id,
            to=MessageStatus.FAILED,
            allowed_from=[MessageStatus.SENDING, MessageStatus.UNKNOWN],
            error_code=err.code,
            error_message=(err.message or "")[:300],
        ):
            message_moved_emit(tenant_id=sender.tenant.pk, message_id=m.id, status=MessageStatus.FAILED)
        result.failed += 1
        if err.opted_out:  # after the outcome, in its own durable commit (the outcome's is lazy)
            tenant, to, note = sender.tenant, m.to, f"Twilio {err.code}"
            sender.after.append(lambda: suppression_add(tenant=tenant, phone_number=to, source="carrier", note=note))
        return
    # outcome unknown: the text may be on its way; never resend it blindly.
    message_move(
        message_id=m.id,
        to=MessageStatus.UNKNOWN,
        allowed_from=[MessageStatus.SENDING],
        error_code=err.code,
        error_message=(err.message or "Outcome unknown")[:300],
    )
    result.unknown += 1


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


def message_resend_enqueue(*, message_id: int, attempt: int, countdown: float = 0) -> None:
    from .tasks import message_resend

    transaction.on_commit(
        lambda: message_resend.apply_async(kwargs={"message_id": message_id, "attempt": attempt}, countdown=countdown)
    )


def message_resend(*, message_id: int, attempt: int) -> str:
    """Try a parked message again, if this call wins it (compare-and-set on ``attempts``)."""
    now = timezone.now()
    won = Message.objects.filter(
        pk=message_id, status=MessageStatus.SENDING, claimed_at__isnull=True, attempts=attempt
    ).update(claimed_at=now)
    if not won:
        return "lost"
    row = (
        Message.objects.filter(pk=message_id)
        .values_list("campaign_id", "to", "body", "segments", "contact__timezone")
        .first()
    )
    campaign_id, to, body, segments, tz = row
    m = Outgoing(message_id, campaign_id, to, body, segments, tz or "", attempt)
    campaign = Campaign.objects.select_related("tenant").get(pk=campaign_id)
    sender = Sender(campaign=campaign, tenant=campaign.tenant, result=BatchResult())
    if not sender.live():
        message_park(message_id=message_id, error_code=None)  # resume takes it from here
        return "parked"
    opens = next_send_time(tenant=campaign.tenant, phone_number=to, timezone=tz or "", now=now)
    if opens > now:
        message_park(message_id=message_id, error_code=None)
        message_resend_enqueue(message_id=message_id, attempt=attempt, countdown=(opens - now).total_seconds())
        return "held"
    if not sender.after_claim(m):
        return "suppressed"
    throttle_acquire(tenant=campaign.tenant, segments=segments)
    fut: Future = Future()
    try:
        fut.set_result(sender.call(m))
    except Exception as exc:  # noqa: BLE001 - recorded by class below
        fut.set_exception(exc)
    record_outcome(sender, m, fut)
    return "sent" if sender.result.sent else "done"
