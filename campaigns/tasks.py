"""Celery tasks for sending: thin, take ids, call one service; retry policy lives here.

Every task is safe to run twice (claims and compare-and-set updates), which is
what ``acks_late`` redelivery after a lost worker needs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError

from common.locks import lock_lease, periodic_lock

from . import counters, winners
from .sending import control, dispatch, resolution

logger = logging.getLogger(__name__)

DB_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    acks_late=True, autoretry_for=DB_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=8, ignore_result=True
)
def campaign_fanout(*, campaign_id: int) -> dict:
    """Materialise a campaign's messages and enqueue their send batches."""
    return asdict(control.fanout_run(campaign_id=campaign_id))


@shared_task(
    acks_late=True, autoretry_for=DB_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=8, ignore_result=True
)
def messages_send(*, message_ids: list[int]) -> dict:
    """Send the pending messages among ``message_ids``."""
    result = dispatch.messages_send_batch(message_ids=message_ids)
    for campaign_id in result.campaigns:
        control.campaign_complete_if_done(campaign_id=campaign_id)
    out = asdict(result)
    out["campaigns"] = sorted(result.campaigns)
    return out


@shared_task(
    acks_late=True, autoretry_for=DB_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=8, ignore_result=True
)
def message_resend(*, message_id: int, attempt: int) -> str:
    """Try a parked message (429, or paused by 20003) again."""
    outcome = dispatch.parked_message_send(message_id=message_id, attempt=attempt)
    from .models import Message

    campaign_id = Message.objects.filter(pk=message_id).values_list("campaign_id", flat=True).first()
    if campaign_id:
        control.campaign_complete_if_done(campaign_id=campaign_id)
    return outcome


@shared_task(acks_late=True, autoretry_for=DB_ERRORS, retry_backoff=True, max_retries=8, ignore_result=True)
def campaign_kick(*, campaign_id: int) -> int:
    """Resume: enqueue whatever the campaign still has to send."""
    return control.campaign_requeue(campaign_id=campaign_id)


@shared_task(ignore_result=True)
@periodic_lock("campaigns.sending_tick", lease=lock_lease)
def sending_tick() -> dict:
    """Beat: start scheduled campaigns, release quiet-hours holds, reap lost claims, finish campaigns."""
    result = asdict(control.tick_run())
    if any(result.values()):
        logger.info("sending tick: %s", result)
    return result


@shared_task(ignore_result=True)
@periodic_lock("campaigns.unknown_resolve", lease=lock_lease)
def unknown_resolve() -> dict:
    """Beat: ask the gateway about unknown outcomes that are due, and act on each answer once."""
    result = asdict(resolution.unknown_outcomes_resolve())
    if any(result.values()):
        logger.info("unknown outcomes: %s", result)
    return result


@shared_task(ignore_result=True)
@periodic_lock("campaigns.squash_counts", lease=lock_lease)
def status_counts_squash() -> dict:
    """Beat: fold the status counters' deltas (``counters.squash_status_counts``)."""
    return {"squashed": counters.squash_status_counts()}


@shared_task(ignore_result=True)
@periodic_lock("campaigns.ab_winners", lease=lock_lease)
def ab_winners_pick() -> dict:
    """Beat: A/B tests whose wait is over get their winner, sent to the rest (``campaigns.winners``)."""
    picked = winners.ab_winners_due()
    if picked:
        logger.info("A/B winners picked: %s", picked)
    return {"picked": picked}
