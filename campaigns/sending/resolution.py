"""Unknown outcomes are questions for the gateway: ask, then act once.

A message is ``unknown`` when its request may or may not have reached the
gateway: the worker holding its claim died, the connection broke after the
request went out, the gateway answered 5xx, or the call timed out. Resending it
blindly could text the recipient twice; never resending it loses them. So the
resolver asks (``unknown_outcomes_resolve``, a beat task):

- with a SID (rare: a SID only comes with an answer) it fetches the message;
- otherwise it lists the messages the tenant's sender (its number, or any number
  of its Messaging Service) sent to that number since shortly before the claim
  (``Gateway.lookup``), leaves out SIDs another message of ours already carries,
  and takes the one with the same body, else the oldest other one (Twilio's own
  link shortening or smart encoding may have rewritten the body: a second text is
  worse than a wrong guess between two of our own).

Found: the message takes that SID and the status the gateway reports, as if the
call had answered (early status callbacks kept as orphans are applied).
Not found while a request could still be in flight (``SENDING_UNKNOWN_GRACE_SECONDS``
after the claim): asked again at the end of the grace period. Not found after it:
the gateway never created it, so it goes back to ``pending`` and through the
normal claim once more (a canceled campaign's is canceled instead). The question
itself failing: asked again with backoff; after ``SENDING_RESOLVE_GIVE_UP_SECONDS``
of failures the message is listed for a person with the reason, and "check
again" (``unknown_check_again``) puts it back in the resolver's hands.

Every question and its answer is a ``MessageCheck`` row, shown on the message.
Gateway calls run on a thread pool and touch no database; this thread records.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Max
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, MessageCheck, MessageStatus
from campaigns.transitions import message_move
from gateways import GatewayError, get_gateway
from gateways.base import FoundMessage
from tenants.models import Tenant

from .enqueue import send_batches_enqueue

logger = logging.getLogger(__name__)

CODE_NOT_FOUND = 20404
#: Twilio's statuses a message is recorded in when found: the first word the send call would have given.
#: Later ones (sent, delivered, …) are then applied as a status report, with their history.
FIRST_STATUSES = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.SCHEDULED,
    "queued": MessageStatus.QUEUED,
}


@dataclass
class ResolveResult:
    asked: int = 0
    found: int = 0
    resent: int = 0
    waiting: int = 0  # not found yet, but a request could still be in flight: asked again later
    errors: int = 0
    gave_up: int = 0  # listed for a person
    canceled: int = 0
    unanswered: int = 0  # not answered within the run's time: asked again next run


@dataclass(frozen=True)
class Unknown:
    id: int
    tenant_id: int
    campaign_id: int
    to: str
    body: str
    sid: str | None
    claimed_at: dt.datetime | None
    updated_at: dt.datetime
    resends: int

    @property
    def since(self) -> dt.datetime:
        """When the request could first have gone out (its claim; the row's last change without one)."""
        return self.claimed_at or self.updated_at


@dataclass(frozen=True)
class Answer:
    method: str  # "fetch" or "list"
    candidates: tuple[FoundMessage, ...] = ()
    error: str = ""


# --- the question (pool threads: gateway only, no database) -----------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _lookup_pool() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ThreadPoolExecutor(
                    max_workers=settings.SENDING_RESOLVE_CONCURRENCY, thread_name_prefix="sms-resolve"
                )
                _pool_pid = os.getpid()
    return _pool


def gateway_ask(*, tenant: Tenant, message: Unknown) -> Answer:
    """Ask the gateway whether it has ``message``: by SID when there is one, else by number and time."""
    gateway = get_gateway()
    if message.sid:
        try:
            fetched = gateway.fetch(tenant, message.sid)
        except GatewayError as exc:
            if exc.code == CODE_NOT_FOUND or exc.http_status == 404:
                return Answer("fetch")
            return Answer("fetch", error=_reason(exc))
        found = FoundMessage(
            sid=fetched.sid,
            status=(fetched.status or "").lower(),
            to=message.to,
            error_code=fetched.error_code,
            error_message=fetched.error_message,
        )
        return Answer("fetch", (found,))
    created_after = message.since - dt.timedelta(seconds=settings.SENDING_UNKNOWN_CLOCK_SKEW)
    try:
        return Answer("list", tuple(gateway.lookup(tenant, to=message.to, created_after=created_after)))
    except GatewayError as exc:
        return Answer("list", error=_reason(exc))
    except Exception as exc:  # noqa: BLE001 - an unclassified failure is a failed question, asked again
        logger.exception("Gateway lookup failed unexpectedly for message %s", message.id)
        return Answer("list", error=type(exc).__name__)


def _reason(exc: GatewayError) -> str:
    return f"{exc.code or exc.http_status or ''} {exc.message}".strip()[:200]


# --- the run (this thread: every database read and write) ------------------------------------


def unknown_outcomes_resolve(*, now: dt.datetime | None = None, limit: int | None = None) -> ResolveResult:
    """Ask the gateway about every unknown outcome that is due, and act on each answer once."""
    result = ResolveResult()
    now = now or timezone.now()
    # A slow gateway must not keep one run going for ever: what is not answered by then waits for the next run.
    deadline = time.monotonic() + settings.SENDING_RESOLVE_RUN_SECONDS
    due = _due(now=now, limit=limit or settings.SENDING_RESOLVE_BATCH)
    if due:
        _resolve(due, now=now, result=result, deadline=deadline)
    return result


def _due(*, now: dt.datetime, limit: int) -> list[Unknown]:
    rows = (
        Message.objects.filter(status=MessageStatus.UNKNOWN, check_after__lte=now, unresolved_reason="")
        .order_by("check_after", "id")
        .values_list("id", "tenant_id", "campaign_id", "to", "body", "sid", "claimed_at", "updated_at", "resends")
    )[:limit]
    return [Unknown(*row) for row in rows]


def _resolve(due: list[Unknown], *, now: dt.datetime, result: ResolveResult, deadline: float) -> None:
    tenants = {t.pk: t for t in Tenant.objects.filter(pk__in={m.tenant_id for m in due})}
    pool = _lookup_pool()
    futures = [(m, pool.submit(gateway_ask, tenant=tenants[m.tenant_id], message=m)) for m in due]
    # Answers that are not in by the deadline (a slow gateway) are left for the next run, inside the lock's life.
    wait([f for _, f in futures], timeout=max(0.0, deadline - time.monotonic()))
    answers = []
    for m, fut in futures:
        if fut.done():
            answers.append((m, fut.result()))
        else:
            fut.cancel()
            result.unanswered += 1
    result.asked += len(answers)
    picks = _match(answers)
    canceled = set(
        Campaign.objects.filter(pk__in={m.campaign_id for m in due}, status=CampaignStatus.CANCELED).values_list(
            "pk", flat=True
        )
    )
    checks: list[MessageCheck] = []
    resend: dict[int, list[int]] = defaultdict(list)
    recorded: dict[int, list[str]] = defaultdict(list)
    for m, answer in answers:
        found = picks.get(m.id)
        if answer.error:
            checks.append(_on_error(m, answer, now=now, result=result))
        elif found is not None:
            check = _on_found(m, answer, found, now=now, result=result)
            checks.append(check)
            if check.action == "recorded":
                recorded[m.tenant_id].append(found.sid)
        else:
            check = _on_not_found(m, answer, now=now, result=result, canceled=m.campaign_id in canceled)
            checks.append(check)
            if check.action == "resent":
                resend[m.campaign_id].append(m.id)
    MessageCheck.objects.bulk_create(checks)
    _orphans_apply(recorded)
    _enqueue_resends(resend)


def _match(answers: list[tuple[Unknown, Answer]]) -> dict[int, FoundMessage]:
    """Each unknown message's copy at the gateway, if any: same body first, then any copy nobody else has."""
    sids = {c.sid for _, a in answers for c in a.candidates}
    taken = set(Message.objects.filter(sid__in=sids).values_list("sid", flat=True)) if sids else set()
    picks: dict[int, FoundMessage] = {}
    for exact in (True, False):
        for m, answer in answers:
            if m.id in picks:
                continue
            if answer.method == "fetch" and answer.candidates:
                picks[m.id] = answer.candidates[0]
                continue
            # Oldest first: a resend of ours comes after the first attempt.
            for c in sorted(answer.candidates, key=lambda c: (c.date_created is None, c.date_created, c.sid)):
                if c.sid in taken or (exact and c.body != m.body):
                    continue
                picks[m.id] = c
                taken.add(c.sid)
                break
    return picks


def _on_found(m: Unknown, answer: Answer, found: FoundMessage, *, now: dt.datetime, result: ResolveResult):
    from tracking.services import TWILIO_STATUS_MAP, Callback, callback_apply

    raw = (found.status or "").lower()
    first = FIRST_STATUSES.get(raw, MessageStatus.QUEUED)
    moved = message_move(
        message_id=m.id,
        to=first,
        allowed_from=[MessageStatus.UNKNOWN],
        sid=found.sid,
        sent_at=found.date_created or now,
        check_after=None,
        error_code=None,
        error_message="",
    )
    action = "recorded" if moved else "moved_meanwhile"
    if moved:
        result.found += 1
        later = TWILIO_STATUS_MAP.get(raw)
        if later and raw not in FIRST_STATUSES:
            callback_apply(
                tenant_id=m.tenant_id,
                callback=Callback(
                    sid=found.sid,
                    raw_status=raw,
                    status=later,
                    error_code=found.error_code or None,
                    fields={"source": "resolution", "MessageSid": found.sid, "MessageStatus": raw},
                ),
            )
    return MessageCheck(
        message_id=m.id,
        asked_at=now,
        method=answer.method,
        outcome=MessageCheck.Outcome.FOUND,
        sid=found.sid,
        status=raw,
        action=action,
    )


def _on_not_found(
    m: Unknown, answer: Answer, *, now: dt.datetime, result: ResolveResult, canceled: bool
) -> MessageCheck:
    check = MessageCheck(message_id=m.id, asked_at=now, method=answer.method, outcome=MessageCheck.Outcome.NOT_FOUND)
    grace_end = m.since + dt.timedelta(seconds=settings.SENDING_UNKNOWN_GRACE_SECONDS)
    if now < grace_end:  # a request could still be in flight: the gateway may yet create it
        Message.objects.filter(pk=m.id, status=MessageStatus.UNKNOWN).update(
            check_after=grace_end + dt.timedelta(seconds=1), checks=F("checks") + 1
        )
        result.waiting += 1
        check.action = "ask_again"
        check.note = f"Within the grace period: asked again at {grace_end:%H:%M:%S} UTC"
        return check
    if canceled:
        if message_move(message_id=m.id, to=MessageStatus.CANCELED, allowed_from=[MessageStatus.UNKNOWN]):
            result.canceled += 1
        check.action = "canceled"
        return check
    if m.resends >= settings.SENDING_MAX_RESENDS:
        reason = f"Twilio never created it, and it was sent again {m.resends} times already: check the sender."
        Message.objects.filter(pk=m.id, status=MessageStatus.UNKNOWN).update(unresolved_reason=reason)
        result.gave_up += 1
        check.action = "gave_up"
        check.note = reason
        return check
    moved = message_move(
        message_id=m.id,
        to=MessageStatus.PENDING,
        allowed_from=[MessageStatus.UNKNOWN],
        claimed_at=None,
        check_after=None,
        resends=m.resends + 1,
        error_code=None,
        error_message="",
    )
    if moved:
        result.resent += 1
        check.action = "resent"
        check.note = "Twilio never created it: sent again through the normal claim"
    else:
        check.action = "moved_meanwhile"
    return check


def _on_error(m: Unknown, answer: Answer, *, now: dt.datetime, result: ResolveResult) -> MessageCheck:
    result.errors += 1
    check = MessageCheck(
        message_id=m.id,
        asked_at=now,
        method=answer.method,
        outcome=MessageCheck.Outcome.ERROR,
        note=answer.error[:300],
    )
    streak_start = _error_streak_start(m, now=now)
    if (now - streak_start).total_seconds() >= settings.SENDING_RESOLVE_GIVE_UP_SECONDS:
        hours = (now - streak_start).total_seconds() / 3600
        reason = f"Twilio could not be asked for {hours:.1f} h ({answer.error}); check again when it answers."[:300]
        Message.objects.filter(pk=m.id, status=MessageStatus.UNKNOWN).update(
            unresolved_reason=reason, checks=F("checks") + 1
        )
        result.gave_up += 1
        check.action = "gave_up"
        return check
    errors = MessageCheck.objects.filter(
        message_id=m.id, outcome=MessageCheck.Outcome.ERROR, asked_at__gte=streak_start
    ).count()
    backoff = min(5 * 2**errors, 300)
    Message.objects.filter(pk=m.id, status=MessageStatus.UNKNOWN).update(
        check_after=now + dt.timedelta(seconds=backoff), checks=F("checks") + 1
    )
    check.action = "ask_again"
    return check


def _error_streak_start(m: Unknown, *, now: dt.datetime) -> dt.datetime:
    """When the current run of failed questions began (or the message became due, without one)."""
    last_answer = (
        MessageCheck.objects.filter(message_id=m.id)
        .exclude(outcome=MessageCheck.Outcome.ERROR)
        .aggregate(at=Max("asked_at"))["at"]
    )
    first_error = (
        MessageCheck.objects.filter(message_id=m.id, outcome=MessageCheck.Outcome.ERROR)
        .filter(**({"asked_at__gt": last_answer} if last_answer else {}))
        .order_by("asked_at")
        .values_list("asked_at", flat=True)
        .first()
    )
    return first_error or now


def _orphans_apply(recorded: dict[int, list[str]]) -> None:
    """Status callbacks that came before their SID was known: one look-up per tenant for the run."""
    from tracking.services import status_orphans_apply_many

    for tenant_id, sids in recorded.items():
        try:
            status_orphans_apply_many(tenant_id=tenant_id, sids=sids)
        except Exception:  # the orphan sweep applies them later; never lose the resolution over it
            logger.exception("Applying early status callbacks for %s resolved SIDs failed", len(sids))


def _enqueue_resends(resend: dict[int, list[int]]) -> None:
    for campaign in Campaign.objects.select_related("tenant").filter(pk__in=resend):
        send_batches_enqueue(campaign=campaign, message_ids=resend[campaign.pk])


# --- people ------------------------------------------------------------------------------------


def unknown_check_again(*, message_ids: list[int], user=None) -> int:
    """Put messages a person looked at back in the resolver's hands (asked at the next run)."""
    now = timezone.now()
    ids = list(
        Message.objects.filter(pk__in=message_ids, status=MessageStatus.UNKNOWN).values_list("pk", flat=True)
    )
    Message.objects.filter(pk__in=ids, status=MessageStatus.UNKNOWN).update(check_after=now, unresolved_reason="")
    MessageCheck.objects.bulk_create(
        [
            MessageCheck(
                message_id=mid,
                asked_at=now,
                method="person",
                outcome=MessageCheck.Outcome.RETRY,
                action="check_again",
                note=f"Check again, by {user}" if user else "Check again",
            )
            for mid in ids
        ]
    )
    return len(ids)
