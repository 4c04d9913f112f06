"""Sending a campaign: start, schedule, pause, resume, cancel, finish, and the beat tick.

Campaign status moves are compare-and-set UPDATEs, so two clicks (or an API
call racing the admin) cannot both start a send. Work is enqueued through
``enqueue`` (after the commit, so a worker never looks for rows not yet
committed). The stages below: ``fanout`` (materialise messages), ``dispatch``
(send batches), ``resolution`` (unknown outcomes); see the package docstring.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.counters import counts_add
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.transitions import message_move
from integrations.events import campaign_finished_event_emit
from tenants.models import Tenant

from .enqueue import fanout_enqueue, kick_enqueue, resend_enqueue, send_batches_enqueue
from .heartbeat import campaign_heartbeat, campaigns_alive

logger = logging.getLogger(__name__)

#: A campaign is not ``sent`` while any of its messages is waiting for the gateway, held by a worker, or
#: has an outcome still being checked with the gateway (it may yet be sent again).
ACTIVE_MESSAGE_STATUSES = (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.UNKNOWN)


class CampaignStateError(Exception):
    """The campaign is not in a state that allows this (the API answers 409)."""


# --- control ---------------------------------------------------------------------


def campaign_send(*, campaign: Campaign, send_at: dt.datetime | None = None, user=None) -> Campaign:
    """Start sending now, or schedule it for ``send_at``. Only a draft can be sent (once)."""
    now = timezone.now()
    if send_at is not None and timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at, dt.UTC)
    scheduled = send_at is not None and send_at > now
    with transaction.atomic():
        if scheduled:
            won = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
                status=CampaignStatus.SCHEDULED, send_at=send_at, paused_reason=""
            )
        else:
            won = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
                status=CampaignStatus.SENDING, send_at=send_at or now, started_at=now, paused_reason=""
            )
        if not won:
            campaign.refresh_from_db(fields=["status"])
            raise CampaignStateError(f"The campaign is {campaign.status}: only a draft can be sent.")
        if not scheduled:
            fanout_enqueue(campaign_id=campaign.pk)
    # The user by id: their str() is their email address, which logs never carry.
    who = f"user {user.pk}" if getattr(user, "pk", None) else "system"
    logger.info("Campaign %s %s by %s", campaign.pk, "scheduled" if scheduled else "started", who)
    campaign.refresh_from_db()
    return campaign


def campaign_resume(*, campaign: Campaign, user=None) -> bool:
    """Carry on where it stopped. Resuming also lifts a tenant-wide pause (fixed credentials)."""
    now = timezone.now()
    with transaction.atomic():
        not_started = campaign.started_at is None and campaign.send_at is not None and campaign.send_at > now
        to = CampaignStatus.SCHEDULED if not_started else CampaignStatus.SENDING
        fields: dict = {"status": to, "paused_reason": ""}
        if to == CampaignStatus.SENDING and campaign.started_at is None:
            fields["started_at"] = now
        won = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.PAUSED).update(**fields)
        if not won:
            return False
        Tenant.objects.filter(pk=campaign.tenant_id).exclude(sending_paused_reason="").update(sending_paused_reason="")
        if to == CampaignStatus.SENDING:
            kick_enqueue(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return True


def campaign_cancel(*, campaign: Campaign, user=None) -> bool:
    """Stop for good: waiting messages become ``canceled``; sent ones keep their status."""
    with transaction.atomic():
        won = Campaign.objects.filter(
            pk=campaign.pk,
            status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED],
        ).update(status=CampaignStatus.CANCELED, finished_at=timezone.now())
    if won:
        messages_cancel_waiting(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return bool(won)


def messages_cancel_waiting(*, campaign_id: int) -> int:
    """``pending`` → ``canceled`` in bulk (one conditional UPDATE and its counts, per chunk).

    The same compare-and-set ``message_move`` does, for up to millions of rows:
    a message a worker claimed first is not pending any more and is left alone.
    Parked messages (claimed, never sent) are canceled one by one.
    """
    total = 0
    while True:
        with transaction.atomic():
            rows = Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.PENDING).values_list(
                "pk", "variant"
            )[:5000]
            by_variant: dict[int | None, list[int]] = defaultdict(list)
            for pk, variant in rows:
                by_variant[variant].append(pk)
            if not by_variant:
                break
            for variant, ids in by_variant.items():  # counted per A/B variant, as the fan-out counted them
                n = Message.objects.filter(pk__in=ids, status=MessageStatus.PENDING).update(
                    status=MessageStatus.CANCELED
                )
                counts_add(
                    campaign_id=campaign_id,
                    deltas={MessageStatus.PENDING: -n, MessageStatus.CANCELED: n},
                    variant=variant,
                )
                total += n
    for mid in Message.objects.filter(
        campaign_id=campaign_id, status=MessageStatus.SENDING, claimed_at__isnull=True
    ).values_list("pk", flat=True):
        if message_move(message_id=mid, to=MessageStatus.CANCELED, allowed_from=[MessageStatus.SENDING]):
            total += 1
    return total


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """``sending`` → ``sent`` once the fan-out is over and nothing waits for the gateway."""
    campaign = Campaign.objects.filter(pk=campaign_id).values_list("status", "fanned_out_at", "kind").first()
    if not campaign or campaign[0] != CampaignStatus.SENDING or campaign[1] is None:
        return False
    if campaign[2] != CampaignKind.CAMPAIGN:  # a carrier (journey step, direct sends) sends for as long as it lives
        return False
    waiting_for_winner = Campaign.objects.filter(pk=campaign_id, ab_test_percent__isnull=False, ab_decided_at=None)
    if waiting_for_winner.exclude(variants=[]).exists():  # an A/B test's rest goes after its winner (winners.py)
        return False
    if Message.objects.filter(campaign_id=campaign_id, status__in=ACTIVE_MESSAGE_STATUSES).exists():
        return False
    finished = bool(
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.SENT, finished_at=timezone.now()
        )
    )
    if finished:  # exactly one caller wins the update: one campaign.finished event
        from campaigns.stats import campaign_stats

        done = Campaign.objects.get(pk=campaign_id)
        campaign_finished_event_emit(campaign=done, stats=campaign_stats(campaign_id=campaign_id))
    return finished


def campaign_requeue(*, campaign_id: int) -> int:
    """(Re)start a sending campaign's work: the fan-out if unfinished, its waiting messages, parked ones."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return 0
    if campaign.fanned_out_at is None:
        fanout_enqueue(campaign_id=campaign_id)
    now = timezone.now()
    due = (
        Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.PENDING)
        .filter(Q(hold_until__isnull=True) | Q(hold_until__lte=now))
        .values_list("pk", flat=True)
        .order_by("pk")
        .iterator(chunk_size=5000)
    )
    n = send_batches_enqueue(campaign=campaign, message_ids=due)
    for mid, attempts in Message.objects.filter(
        campaign_id=campaign_id, status=MessageStatus.SENDING, claimed_at__isnull=True
    ).values_list("pk", "attempts"):
        resend_enqueue(message_id=mid, attempt=attempts)
        n += 1
    campaign_complete_if_done(campaign_id=campaign_id)
    return n


# --- enqueueing --------------------------------------------------------------------


def fanout_run(*, campaign_id: int):
    """The fan-out task's body: materialise, sending each committed chunk on its way."""
    from .fanout import messages_materialise

    def on_pending(campaign: Campaign, ids: list[int]) -> None:
        campaign_heartbeat(campaign.pk)
        send_batches_enqueue(campaign=campaign, message_ids=ids)

    campaign_heartbeat(campaign_id)
    result = messages_materialise(campaign_id=campaign_id, on_pending=on_pending)
    campaign_complete_if_done(campaign_id=campaign_id)
    return result


# --- the beat tick -----------------------------------------------------------------


@dataclass
class TickResult:
    started: int = 0
    released: int = 0
    reaped: int = 0
    rekicked: int = 0
    stalled: int = 0
    finished: int = 0


def tick_run(*, now: dt.datetime | None = None) -> TickResult:
    """Start due scheduled campaigns, release held messages, reap lost claims, kick stalled campaigns, finish
    campaigns. Returns what it did (its task takes the lock that keeps two ticks apart)."""
    result = TickResult()
    now = now or timezone.now()
    _start_scheduled(now, result)
    _release_held(now, result)
    _reap_lost_claims(now, result)
    _rekick_parked(now, result)
    _rekick_stalled(now, result)
    for cid in Campaign.objects.filter(
        status=CampaignStatus.SENDING, fanned_out_at__isnull=False, kind=CampaignKind.CAMPAIGN
    ).values_list("pk", flat=True):
        result.finished += campaign_complete_if_done(campaign_id=cid)
    return result


def _start_scheduled(now: dt.datetime, result: TickResult) -> None:
    for cid in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, send_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            if Campaign.objects.filter(pk=cid, status=CampaignStatus.SCHEDULED).update(
                status=CampaignStatus.SENDING, started_at=now
            ):
                fanout_enqueue(campaign_id=cid)
                result.started += 1


def _release_held(now: dt.datetime, result: TickResult) -> None:
    sending = Campaign.objects.filter(status=CampaignStatus.SENDING)
    ids = list(
        Message.objects.filter(
            status=MessageStatus.PENDING, hold_until__isnull=False, hold_until__lte=now, campaign__in=sending
        ).values_list("pk", "campaign_id")[: settings.SENDING_RELEASE_LIMIT]
    )
    by_campaign: dict[int, list[int]] = {}
    for mid, cid in ids:
        by_campaign.setdefault(cid, []).append(mid)
    for cid, mids in by_campaign.items():
        with transaction.atomic():
            Message.objects.filter(pk__in=mids, status=MessageStatus.PENDING).update(hold_until=None)
            campaign = Campaign.objects.select_related("tenant").get(pk=cid)
            result.released += send_batches_enqueue(campaign=campaign, message_ids=mids)


def _reap_lost_claims(now: dt.datetime, result: TickResult) -> None:
    """A claim older than the timeout lost its worker: it may have reached Twilio, so it is a question for
    the gateway (``campaigns.sending.resolution``), asked at once; never resent blindly."""
    cutoff = now - dt.timedelta(seconds=settings.SENDING_CLAIM_TIMEOUT)
    for mid in Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=cutoff).values_list(
        "pk", flat=True
    )[:10000]:
        if message_move(
            message_id=mid,
            to=MessageStatus.UNKNOWN,
            allowed_from=[MessageStatus.SENDING],
            check_after=now,
            error_message="The worker was lost during the gateway call; checking with the gateway.",
        ):
            result.reaped += 1


def _rekick_stalled(now: dt.datetime, result: TickResult) -> None:
    """Kick every sending campaign nothing has moved for ``SENDING_STALL_SECONDS``.

    The broker lost its tasks (a restart without persistence), a worker died with
    tasks it had reserved (they come back only after the visibility timeout), or
    an enqueue failed after the commit (the broker was down at ``send``). A kick
    re-enqueues the fan-out if it never finished and every pending message that is
    due; the claims' compare-and-set makes a second copy of a batch harmless.
    """
    started_before = now - dt.timedelta(seconds=settings.SENDING_STALL_SECONDS)
    ids = list(
        Campaign.objects.filter(status=CampaignStatus.SENDING, started_at__lt=started_before).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return
    alive = campaigns_alive(ids)
    for cid in ids:
        if cid in alive:
            continue
        campaign_heartbeat(cid)  # the kick is activity: not kicked again before the next stall
        n = campaign_requeue(campaign_id=cid)
        result.stalled += 1
        logger.info("Campaign %s had stalled: kicked (%s messages re-enqueued)", cid, n)


def _rekick_parked(now: dt.datetime, result: TickResult) -> None:
    """Parked messages whose resend got lost (broker restart): enqueue another, the CAS keeps it single."""
    cutoff = now - dt.timedelta(seconds=settings.SENDING_PARKED_STALE_SECONDS)
    for mid, attempts in Message.objects.filter(
        status=MessageStatus.SENDING,
        claimed_at__isnull=True,
        updated_at__lt=cutoff,
        campaign__status=CampaignStatus.SENDING,
    ).values_list("pk", "attempts")[:1000]:
        resend_enqueue(message_id=mid, attempt=attempts)
        result.rekicked += 1


# --- progress (admin) --------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    handed_over: int
    waiting: int
    rate: float  # messages per second over the last minute
    seconds_left: float | None


def campaign_progress(*, campaign: Campaign, now: dt.datetime | None = None) -> Progress:
    from campaigns.counters import campaign_status_counts

    now = now or timezone.now()
    counts = campaign_status_counts(campaign.pk)
    total = sum(counts.values())
    waiting = counts[MessageStatus.PENDING] + counts[MessageStatus.SENDING]
    skipped = (
        counts[MessageStatus.SUPPRESSED]
        + counts[MessageStatus.CAPPED]
        + counts[MessageStatus.BLOCKED]
        + counts[MessageStatus.CANCELED]
    )
    handed = total - waiting - skipped
    window = 60
    recent = Message.objects.filter(campaign_id=campaign.pk, sent_at__gte=now - dt.timedelta(seconds=window)).count()
    rate = recent / window
    if not waiting:
        left = 0.0
    elif campaign.status != CampaignStatus.SENDING:
        left = None
    else:
        left = waiting / (rate or campaign.tenant.effective_sending_rate)
    return Progress(total=total, handed_over=handed, waiting=waiting, rate=rate, seconds_left=left)
