"""A/B tests that pick their winner: the decision, once the wait is over, and the second round's fan-out.

The figures come from the maintained counters (``MessageStatusCount`` per variant, the click breakdown per
variant, through ``analytics.selectors.campaign_variants``) and, for replies, one grouped query over the
campaign's inbound replies. The variant with the best rate of the chosen metric wins (the first on a tie); the
two-proportion test between it and the runner-up says whether the difference is significant, and the decision
records the figures and that verdict either way: after the wait the rest of the audience gets the better body,
significant or not (a marketer chose to wait that long, not to wait for significance).

``ab_winner_pick`` writes the winner with a compare-and-set (one decision, however many ticks race) and, in the
same transaction, clears ``fanned_out_at`` and enqueues the fan-out again (after the commit): it skips the first
round's messages and gives everyone else the winner (``campaigns.abtest.ab_variant_pick``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from analytics.abtest import ALPHA, two_proportion_z
from analytics.selectors import campaign_variants
from campaigns.models import AbMetric, Campaign, CampaignStatus
from campaigns.sending.enqueue import fanout_enqueue
from compliance.models import InboundKind, InboundMessage

logger = logging.getLogger(__name__)


def _repliers_by_variant(campaign: Campaign) -> dict[int | None, int]:
    rows = (
        InboundMessage.objects.filter(
            tenant_id=campaign.tenant_id, campaign_id=campaign.pk, kind=InboundKind.REPLY, message__isnull=False
        )
        .order_by()
        .values("message__variant")
        .annotate(n=Count("contact_id", distinct=True))
        .values_list("message__variant", "n")
    )
    return dict(rows)


def ab_standings(*, campaign: Campaign) -> list[dict]:
    """Per variant: ``{"variant", "label", "hits", "out_of", "rate"}`` for the campaign's metric."""
    metric = campaign.ab_metric or AbMetric.CLICKS
    rows = campaign_variants(campaign=campaign)["variants"]
    replies = _repliers_by_variant(campaign) if metric == AbMetric.REPLIES else {}
    out = []
    for row in rows:
        if metric == AbMetric.DELIVERED:
            hits, out_of = row["delivered"], max(0, row["recipients"] - row["suppressed"])
        elif metric == AbMetric.REPLIES:
            hits, out_of = replies.get(row["variant"], 0), row["reached"]
        else:
            hits, out_of = row["unique_clicks"], row["reached"]
        hits = min(hits, out_of)
        out.append(
            {
                "variant": row["variant"],
                "label": row["label"],
                "hits": hits,
                "out_of": out_of,
                "rate": hits / out_of if out_of else 0.0,
            }
        )
    return out


def ab_decide(*, campaign: Campaign) -> tuple[int, str]:
    """``(winner index, the decision in words)`` from the campaign's figures now."""
    metric = AbMetric(campaign.ab_metric or AbMetric.CLICKS)
    standings = ab_standings(campaign=campaign)
    ranked = sorted(standings, key=lambda s: (-s["rate"], s["variant"]))
    best, second = ranked[0], ranked[1]
    figures = ", ".join(f"{s['label']} {s['hits']}/{s['out_of']} ({s['rate']:.1%})" for s in standings)
    name = metric.label.split(" (")[0].lower()
    outcome = two_proportion_z(second["hits"], second["out_of"], best["hits"], best["out_of"])
    if not best["out_of"] and not second["out_of"]:
        verdict = "no figures yet: the first variant goes to the rest"
    elif outcome is None:
        verdict = "no difference to test: the better rate goes to the rest"
    else:
        _z, p = outcome
        significant = p < ALPHA and best["rate"] > second["rate"]
        verdict = f"p = {p:.3f}, {'significant' if significant else 'not significant'} at {ALPHA}"
    return best["variant"], f"{best['label']} wins by {name}: {figures}; {verdict}."


def ab_winner_pick(*, campaign_id: int, now: dt.datetime | None = None) -> int | None:
    """Pick the winner of a sending campaign whose A/B wait is over, and send it to the rest. Returns the winner
    (``None``: not due, already decided, or another caller won)."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("tenant").filter(pk=campaign_id).first()
    if (
        campaign is None
        or campaign.status != CampaignStatus.SENDING
        or not campaign.variants
        or campaign.ab_test_percent is None
        or campaign.ab_decided_at is not None
        or campaign.fanned_out_at is None  # the first round is not all out yet
        or campaign.started_at is None
        or campaign.started_at + dt.timedelta(hours=campaign.ab_wait_hours) > now
    ):
        return None
    winner, decision = ab_decide(campaign=campaign)
    with transaction.atomic():
        won = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING, ab_decided_at__isnull=True).update(
            ab_winner=winner, ab_decided_at=now, ab_decision=decision[:500], fanned_out_at=None
        )
        if won:
            fanout_enqueue(campaign_id=campaign_id)
    if not won:
        return None
    logger.info("Campaign %s: A/B winner %s picked, the rest fanned out", campaign_id, winner)
    return winner


def ab_winners_due(*, now: dt.datetime | None = None) -> int:
    """Beat: pick the winner of every sending campaign whose wait is over. Returns how many were picked."""
    now = now or timezone.now()
    waiting = Campaign.objects.filter(
        status=CampaignStatus.SENDING,
        ab_test_percent__isnull=False,
        ab_decided_at__isnull=True,
        fanned_out_at__isnull=False,
        started_at__isnull=False,
    ).values_list("pk", "started_at", "ab_wait_hours")
    picked = 0
    for pk, started_at, hours in waiting:
        if started_at + dt.timedelta(hours=hours) <= now:
            picked += ab_winner_pick(campaign_id=pk, now=now) is not None
    return picked
