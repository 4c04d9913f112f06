"""Send batches: claim messages, hand them to the gateway, record the outcomes.

At most once, per message, and a group at a time:

- quiet hours first: a message outside its recipient's window is held
  (``hold_until``) and left ``pending``; the beat tick releases it;
- a group is as many messages as there are free gateway threads and, when
  throttled, as the sender's rate allows *now* (``campaigns.throttle``): the
  turn comes before the claim, so a claimed message is never left waiting;
- the group is claimed in one statement (``messages_claim``): each message
  still ``pending`` whose number is not on the suppression list at that
  instant moves to ``sending`` with a compare-and-set (``message_move_ctes``),
  so only one worker sends it and an opt-out recorded a second ago wins;
- the gateway calls run outside any transaction, on a thread pool (one worker
  process keeps ``SENDING_CONCURRENCY`` 200 ms Twilio calls in flight), while
  this thread does all database work on its one connection;
- the outcomes are recorded after, a group per statement
  (``messages_move_rows``, forward only), by class (``GatewayError``):
  retryable (429) → the same claimed message is *parked* and tried again later
  (never a second message); permanent → ``failed`` with Twilio's code (21610
  also suppresses the number); 20003 → parked and the campaign paused with the
  reason; unknown outcome → ``unknown``, never resent.

A parked message stays ``sending`` with ``claimed_at`` empty; ``message_resend``
takes it back with a compare-and-set on ``attempts``, so two resends cannot
both go. A claim whose worker died (``claimed_at`` older than
``SENDING_CLAIM_TIMEOUT``) may or may not have reached Twilio: the tick moves it
to ``unknown``.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from compliance.rules import next_send_time
from compliance.selectors import is_suppressed, suppressed_numbers_sql
from compliance.services import suppression_add
from gateways import GatewayError, OutboundSMS, get_gateway
from gateways.base import CODE_BAD_CREDENTIALS, CODE_TOO_MANY_REQUESTS, status_callback_url
from integrations.events import message_moved_emit
from tenants.models import Tenant

from .models import Campaign, CampaignStatus, Message, MessageStatus
from .throttle import throttle_acquire, throttle_try_acquire
from .transitions import message_move, message_move_ctes, messages_move_rows

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
_slots: Slots | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


class Slots:
    """The free threads of the process's gateway pool, shared by every batch the process runs.

    A batch claims only as many messages as it could take slots for, so a
    claimed message goes to a gateway thread at once instead of queueing behind
    other batches' calls (a ``--pool=threads`` worker runs many batches at once).
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._cond = threading.Condition()

    def take(self, n: int, *, timeout: float = 0.0) -> int:
        """Up to ``n`` slots; waits up to ``timeout`` seconds when there is none."""
        with self._cond:
            if not self._free and timeout > 0:
                self._cond.wait(timeout)
            k = min(n, self._free)
            self._free -= k
            return k

    def give(self, n: int = 1) -> None:
        with self._cond:
            self._free += n
            self._cond.notify_all()


def http_pool() -> tuple[ThreadPoolExecutor, Slots]:
    """Threads that only make gateway calls (no database), and their free slots: one pool per process."""
    global _pool, _slots, _pool_pid
    if _pool is None or _slots is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _slots is None or _pool_pid != os.getpid():
                size = settings.SENDING_CONCURRENCY
                _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sms-send")
                _slots = Slots(size)
                _pool_pid = os.getpid()
    return _pool, _slots


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
    """Claims and records in this thread, in groups; gateway calls on the pool.

    The loop: take a group of messages the pool has room for (and the sender's
    rate allows right now), claim the group in one statement
    (``messages_claim``), hand each won message to the pool at once, and record
    the finished calls in groups (``record_outcomes``: at least every
    ``SENDING_RECORD_EVERY`` results or ``SENDING_RECORD_SECONDS``, so an outcome
    is never held long). A claimed message never waits for a turn: the group is
    no larger than the room in the pool.
    """

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
        self.in_flight: dict[Future, Outgoing] = {}
        self.finished: list[tuple[Outgoing, Future]] = []  # calls done, outcome not recorded yet
        self._finished_at = 0.0  # when the oldest of them finished
        self._done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self._turn = False  # the next waiting message's turn at the sender's rate is taken

    def run(self, due: list[Outgoing]) -> None:
        pool, slots = http_pool()
        waiting = deque(due)
        # Claim in groups: wait for a quarter of our share to be free, unless fewer messages are left.
        min_room = max(1, self.max_in_flight // 4)
        try:
            while waiting and self.live():
                room = self.max_in_flight - len(self.in_flight)
                if room < min(min_room, len(waiting)):
                    self._collect(block=True)
                    continue
                # The first message's turn at the sender's rate, before holding any thread.
                if not self._turn:
                    if not self._wait_turn(waiting[0]):
                        break  # stopped while waiting
                    self._turn = True
                # Threads of the pool other batches of this process are not using (when ours are all
                # in flight, our own results free them; else wait a little for another batch's).
                room = slots.take(min(room, len(waiting)), timeout=0.0 if self.in_flight else 0.5)
                if not room:
                    if self.in_flight:
                        self._collect(block=True)
                    continue
                used = 0
                try:
                    group = self._take(waiting, room)
                    self._turn = False
                    for m in self.claim(group):
                        fut = pool.submit(self.call, m)
                        used += 1
                        self.in_flight[fut] = m
                        fut.add_done_callback(lambda f, slots=slots: (slots.give(), self._done.put(f)))
                finally:
                    slots.give(room - used)  # what the group did not use (fewer turns, claims lost)
                self._collect(block=False)
        finally:
            while self.in_flight:
                self._collect(block=True)
            self.flush()

    def _wait_turn(self, m: Outgoing) -> bool:
        """Wait for ``m``'s turn at the sender's rate (at once, unthrottled). False if stopped meanwhile."""
        if throttle_try_acquire(tenant=self.tenant, segments=m.segments):
            return True
        self.flush()  # about to wait: record what is done first
        return throttle_acquire(tenant=self.tenant, segments=m.segments, should_stop=lambda: not self.live())

    def _take(self, waiting: deque[Outgoing], room: int) -> list[Outgoing]:
        """The first message (its turn taken) and up to ``room`` - 1 more whose turn it is now."""
        if not settings.SENDING_THROTTLE_ENABLED:
            return [waiting.popleft() for _ in range(min(room, len(waiting)))]
        group = [waiting.popleft()]
        while waiting and len(group) < room and throttle_try_acquire(tenant=self.tenant, segments=waiting[0].segments):
            group.append(waiting.popleft())
        return group

    def _collect(self, *, block: bool) -> None:
        """Move finished calls to ``finished``; record them when enough are there or the oldest waited enough."""
        every, seconds = settings.SENDING_RECORD_EVERY, settings.SENDING_RECORD_SECONDS
        if block:
            timeout = seconds - (time.monotonic() - self._finished_at) if self.finished else 1.0
            try:
                self._finished(self._done.get(timeout=max(0.0, timeout)))
            except queue.Empty:
                pass
        while True:
            try:
                self._finished(self._done.get_nowait())
            except queue.Empty:
                break
        if self.finished and (len(self.finished) >= every or time.monotonic() - self._finished_at >= seconds):
            self.flush()

    def _finished(self, fut: Future) -> None:
        if not self.finished:
            self._finished_at = time.monotonic()
        self.finished.append((self.in_flight.pop(fut), fut))

    def flush(self) -> None:
        items, self.finished = self.finished, []
        if items:
            record_outcomes(self, items)

    def claim(self, group: list[Outgoing]) -> list[Outgoing]:
        """Claim ``group`` (pending → sending) unless a number opted out meanwhile. Returns the won ones."""
        won, suppressed = messages_claim(
            message_ids=[m.id for m in group], tenant_id=self.tenant.pk, phone_numbers=[m.to for m in group]
        )
        self.result.suppressed += len(suppressed)
        self.result.skipped += len(group) - len(won) - len(suppressed)
        return [m for m in group if m.id in won]

    def after_claim(self, m: Outgoing) -> bool:
        """For a message claimed on its own (a parked one): an opt-out recorded a second ago wins."""
        if is_suppressed(tenant_id=self.tenant.pk, phone_number=m.to):
            message_move(message_id=m.id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.SENDING])
            self.result.suppressed += 1
            return False
        return True

    def call(self, m: Outgoing):
        """On a pool thread: the gateway call and nothing else (no database, no transaction)."""
        return self.gateway.send(self.tenant, OutboundSMS(to=m.to, body=m.body, status_callback=self.callback))


# --- claims, in one statement per group ---------------------------------------------


def messages_claim(*, message_ids: list[int], tenant_id: int, phone_numbers: list[str]) -> tuple[set[int], set[int]]:
    """Claim many messages at once. Returns ``(won, suppressed)`` message ids.

    One statement takes every message of ``message_ids`` that is still
    ``pending`` and whose number is not on the suppression list *at that
    instant*, locks it, moves it to ``sending`` (``claimed_at`` now) and counts
    it: the compare-and-set of ``message_move``, for the whole group. Another
    worker's claim waits on the row lock and then finds it not pending. Pending
    messages left out because their number opted out are moved to
    ``suppressed`` by a second statement, only when there are any.

    Elsewhere (SQLite, ``make run``) message by message: ``message_move``, then
    the suppression check right after the claim.
    """
    if connection.vendor != "postgresql":
        return _claim_one_by_one(message_ids, tenant_id, phone_numbers)
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


def _claim_one_by_one(message_ids: list[int], tenant_id: int, phone_numbers: list[str]) -> tuple[set[int], set[int]]:
    won: set[int] = set()
    suppressed: set[int] = set()
    for message_id, to in zip(message_ids, phone_numbers, strict=True):
        claimed = message_move(
            message_id=message_id,
            to=MessageStatus.SENDING,
            allowed_from=[MessageStatus.PENDING],
            claimed_at=timezone.now(),
        )
        if claimed is None:
            continue
        if is_suppressed(tenant_id=tenant_id, phone_number=to):
            message_move(message_id=message_id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.SENDING])
            suppressed.add(message_id)
        else:
            won.add(message_id)
    return won, suppressed


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


# --- outcomes, in one statement per group ---------------------------------------------


@contextmanager
def _lazy_commit():
    """The outcome's commit need not wait for the disk (one WAL flush less per group).

    Safe for at-most-once: were PostgreSQL to lose this commit in a crash, the
    messages would be left claimed, and the tick marks a stale claim ``unknown``:
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
            except Exception:  # left claimed: the tick marks it unknown, never resent
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
        else:  # outcome unknown: the text may be on its way; never resend it blindly.
            unknown.append((m.id, MessageStatus.UNKNOWN, err.code, (err.message or "Outcome unknown")[:300]))
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
    messages_move_rows(rows=unknown, fields=("error_code", "error_message"), allowed_from=[MessageStatus.SENDING])
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
