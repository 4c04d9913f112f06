"""Send batches: claim messages, hand them to the gateway, record the outcomes.

At most once, per message, and a group at a time:

- quiet hours first: a message outside its recipient's window is held
  (``hold_until``) and left ``pending``; the beat tick releases it;
- a group is as many messages as there are free gateway threads and, when
  throttled, as the sender's rate allows *now* (``campaigns.sending.throttle``): the
  turn comes before the claim, so a claimed message is never left waiting;
- the group is claimed in one statement (``claims.messages_claim``): each message
  still ``pending`` whose number is not on the suppression list at that
  instant moves to ``sending`` with a compare-and-set (``message_move_ctes``),
  so only one worker sends it and an opt-out recorded a second ago wins;
- the gateway calls run outside any transaction, on a thread pool (one worker
  process keeps ``SENDING_CONCURRENCY`` 200 ms Twilio calls in flight), while
  this thread does all database work on its one connection;
- the outcomes are recorded after, a group per statement
  (``outcomes.record_outcomes``, forward only), by class (``GatewayError``):
  retryable (429) → the same claimed message is *parked* and tried again later
  (never a second message); permanent → ``failed`` with Twilio's code (21610
  also suppresses the number); 20003 → parked and the campaign paused with the
  reason; unknown outcome → ``unknown``, never resent.

A parked message stays ``sending`` with ``claimed_at`` empty; ``parked_message_send``
takes it back with a compare-and-set on ``attempts``, so two resends cannot
both go. A claim whose worker died (``claimed_at`` older than
``SENDING_CLAIM_TIMEOUT``) may or may not have reached Twilio: the tick moves it
to ``unknown``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignMedia, CampaignStatus, Message, MessageStatus
from campaigns.transitions import message_move
from compliance.rules import next_send_time
from compliance.selectors import is_suppressed
from gateways import OutboundSMS, get_gateway
from gateways.base import status_callback_url
from guard.spend import spend_give_back, spend_take
from tenants.models import Tenant

from .claims import messages_claim, messages_unclaim
from .enqueue import resend_enqueue
from .heartbeat import campaign_heartbeat
from .outcomes import message_park, record_outcome, record_outcomes
from .pausing import campaign_pause
from .throttle import throttle_acquire, throttle_try_acquire

logger = logging.getLogger(__name__)


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
    media_url: tuple[str, ...] = ()  # an MMS: its variant's files, one MediaUrl each


#: Apps above the sender that let a direct carrier's message go outside quiet hours (the inbox: an answer within a
#: conversation the recipient started, when the tenant allows it), registered from their ``AppConfig.ready``: the
#: sender never imports them. Each is called ``func(message_ids=[…])`` and returns the exempt ids.
_quiet_hours_exemptions: list[Callable[..., set[int]]] = []


def quiet_hours_exemption_register(func: Callable[..., set[int]]) -> None:
    """Add ``func`` (idempotent: ``ready()`` may run more than once)."""
    if func not in _quiet_hours_exemptions:
        _quiet_hours_exemptions.append(func)


def quiet_hours_exempt(*, campaign: Campaign, message_ids: list[int]) -> set[int]:
    """The messages of a DIRECT carrier that may go outside quiet hours; none for any other campaign."""
    if campaign.kind != CampaignKind.DIRECT or not _quiet_hours_exemptions or not message_ids:
        return set()
    return set().union(*(func(message_ids=message_ids) for func in _quiet_hours_exemptions))


def campaign_media_urls(campaign_id: int) -> dict[int, tuple[str, ...]]:
    """``{variant: (public URL, …)}`` of an MMS campaign (variant 0 without variants), in order: read once per
    campaign and send batch, never per message (the send path adds no query per message)."""
    urls: dict[int, list[str]] = {}
    rows = (
        CampaignMedia.objects.filter(campaign_id=campaign_id)
        .order_by("variant", "position")
        .values_list("variant", "media__token", "media__filename")
    )
    for variant, token, filename in rows:
        urls.setdefault(variant, []).append(f"{settings.PUBLIC_BASE_URL}/media/{token}/{filename}")
    return {variant: tuple(found) for variant, found in urls.items()}


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
        .values_list("id", "campaign_id", "to", "body", "segments", "hold_until", "contact__timezone", "variant", "mms")
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
    media = campaign_media_urls(campaign_id) if any(row[8] for row in rows) else {}
    exempt = quiet_hours_exempt(campaign=campaign, message_ids=[row[0] for row in rows])
    for mid, _cid, to, body, segments, hold_until, tz, variant, mms in rows:
        if hold_until and hold_until > now:
            result.held += 1
            continue
        opens = now if mid in exempt else next_send_time(tenant=tenant, phone_number=to, timezone=tz or "", now=now)
        if opens > now:
            holds.setdefault(opens, []).append(mid)
            continue
        urls = media.get(variant or 0, ()) if mms else ()
        due.append(Outgoing(mid, campaign_id, to, body, segments, tz or "", 0, urls))
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
    tests)."""
    if connection.in_atomic_block:
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
        self._heartbeat_at = 0.0  # when this sender last told the stall sweep the campaign moves

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
                won: list[Outgoing] = []
                try:
                    group = self._take(waiting, room)
                    self._turn = False
                    won = self.claim(group)
                    for m in won:
                        fut = pool.submit(self.call, m)
                        used += 1
                        self.in_flight[fut] = m
                        fut.add_done_callback(lambda f, slots=slots: (slots.give(), self._done.put(f)))
                finally:
                    slots.give(room - used)  # what the group did not use (fewer turns, claims lost)
                    if used < len(won):  # claimed, never handed to the HTTP client: no question to ask
                        messages_unclaim(message_ids=[m.id for m in won[used:]])
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
        group = spend_take(campaign=self.campaign, group=group, stop=self.live)  # the fraud guard's caps
        if not group:
            return []
        won, suppressed = messages_claim(
            message_ids=[m.id for m in group], tenant_id=self.tenant.pk, phone_numbers=[m.to for m in group]
        )
        now = time.monotonic()
        if now - self._heartbeat_at > 1.0:
            campaign_heartbeat(self.campaign.pk)
            self._heartbeat_at = now
        self.result.suppressed += len(suppressed)
        self.result.skipped += len(group) - len(won) - len(suppressed)
        if len(won) < len(group):
            spend_give_back(campaign=self.campaign, lost=[m for m in group if m.id not in won])
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
        sms = OutboundSMS(to=m.to, body=m.body, status_callback=self.callback, media_url=list(m.media_url))
        return self.gateway.send(self.tenant, sms)


def parked_message_send(*, message_id: int, attempt: int) -> str:
    """Try a parked message again, if this call wins it (compare-and-set on ``attempts``)."""
    now = timezone.now()
    won = Message.objects.filter(
        pk=message_id, status=MessageStatus.SENDING, claimed_at__isnull=True, attempts=attempt
    ).update(claimed_at=now)
    if not won:
        return "lost"
    row = (
        Message.objects.filter(pk=message_id)
        .values_list("campaign_id", "to", "body", "segments", "contact__timezone", "variant", "mms")
        .first()
    )
    campaign_id, to, body, segments, tz, variant, mms = row
    urls = campaign_media_urls(campaign_id).get(variant or 0, ()) if mms else ()
    m = Outgoing(message_id, campaign_id, to, body, segments, tz or "", attempt, urls)
    campaign = Campaign.objects.select_related("tenant").get(pk=campaign_id)
    sender = Sender(campaign=campaign, tenant=campaign.tenant, result=BatchResult())
    if not sender.live():
        message_park(message_id=message_id, error_code=None)  # resume takes it from here
        return "parked"
    opens = next_send_time(tenant=campaign.tenant, phone_number=to, timezone=tz or "", now=now)
    if opens > now:
        message_park(message_id=message_id, error_code=None)
        resend_enqueue(message_id=message_id, attempt=attempt, countdown=(opens - now).total_seconds())
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
