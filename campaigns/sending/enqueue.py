"""Every Celery task the sending stages put on the broker, in one place.

The stages below the tasks (control, fan-out, dispatch, outcomes, resolution)
never import ``campaigns.tasks``: they enqueue here, by task name, so nothing
below calls back up (the import contract in ``.importlinter`` checks it). Every
enqueue waits for the surrounding transaction to commit, so a worker never
looks for rows it cannot see yet, and is *robust*: a broker that is down is
logged, not raised, because the row is already committed and the tick's stall
sweep (``control.tick_run``) enqueues the work again.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from django.conf import settings

from campaigns.models import Campaign
from common.enqueue import task_enqueue

FANOUT = "campaigns.tasks.campaign_fanout"
SEND = "campaigns.tasks.messages_send"
RESEND = "campaigns.tasks.message_resend"
KICK = "campaigns.tasks.campaign_kick"


def batch_size_for(campaign: Campaign) -> int:
    """A few hundred per task, fewer on slow senders so a batch ends well inside the task time limit."""
    rate = campaign.tenant.effective_sending_rate if settings.SENDING_THROTTLE_ENABLED else 1e9
    return max(10, min(settings.SENDING_BATCH_SIZE, int(rate * settings.SENDING_BATCH_SECONDS)))


def send_batches_enqueue(*, campaign: Campaign, message_ids: Iterable[int]) -> int:
    """Send batches for ``message_ids`` (safe to enqueue twice: the claim is a compare-and-set). Returns how many."""
    size = batch_size_for(campaign)
    it = iter(message_ids)
    n = 0
    while batch := list(islice(it, size)):
        task_enqueue(SEND, kwargs={"message_ids": batch})
        n += len(batch)
    return n


def fanout_enqueue(*, campaign_id: int) -> None:
    task_enqueue(FANOUT, kwargs={"campaign_id": campaign_id})


def kick_enqueue(*, campaign_id: int) -> None:
    task_enqueue(KICK, kwargs={"campaign_id": campaign_id})


def resend_enqueue(*, message_id: int, attempt: int, countdown: float = 0) -> None:
    """Try a parked message again (a compare-and-set on ``attempt`` keeps two resends from both going)."""
    task_enqueue(RESEND, kwargs={"message_id": message_id, "attempt": attempt}, countdown=countdown or None)
