"""A/B tests that pick their winner: who is in the first round, and which body each recipient gets.

A campaign with variants and ``ab_test_percent`` goes out in two rounds. Round one: the contacts whose stable
bucket (a hash of campaign and contact, as the variant pick uses, but its own) is under ``ab_test_percent``
get the variants, split by their percents (``campaigns.authoring.campaign_variant_pick``); the rest are left
out of the fan-out. Once ``ab_wait_hours`` have passed, ``campaigns.winners`` compares the variants, records
the winner and fans out again: the first round's messages exist already (skipped), everyone else gets the
winner's body. A contact is in one round only, whatever happens between them, so nobody gets two texts of one
campaign.
"""

from __future__ import annotations

import hashlib

from campaigns.models import AbMetric, Campaign

MAX_WAIT_HOURS = 24 * 14


def ab_auto(campaign: Campaign) -> bool:
    """Whether the campaign is an A/B test that picks its winner."""
    return bool(campaign.variants) and campaign.ab_test_percent is not None


def in_first_round(*, campaign: Campaign, contact_id: int) -> bool:
    digest = hashlib.blake2b(f"ab-round:{campaign.pk}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < int(campaign.ab_test_percent or 0)


def ab_rows_due(campaign: Campaign, rows: list) -> list:
    """The fan-out's rows (contact id first) that get their message now: all of them, except in an A/B test's
    first round (its sample only, until the winner is picked)."""
    if not ab_auto(campaign) or campaign.ab_winner is not None:
        return rows
    return [r for r in rows if in_first_round(campaign=campaign, contact_id=r[0])]


def ab_winner_for(*, campaign: Campaign, contact_id: int) -> tuple[int, str] | None:
    """``(winner index, its body)`` for a contact of an A/B test's second round; ``None`` for anyone else (they
    get ``campaign_variant_pick``'s)."""
    if (
        ab_auto(campaign)
        and campaign.ab_winner is not None
        and not in_first_round(campaign=campaign, contact_id=contact_id)
    ):
        return campaign.ab_winner, campaign.variants[campaign.ab_winner]["body"]
    return None


def ab_settings_errors(*, variants, test_percent, wait_hours, metric) -> dict[str, list[str]]:
    """What is wrong with a campaign's auto-winner settings (empty: nothing), by field name."""
    errors: dict[str, list[str]] = {}
    if test_percent is None:
        return errors
    if isinstance(test_percent, bool) or not isinstance(test_percent, int) or not 1 <= test_percent <= 99:
        errors["ab_test_percent"] = ["The test's share of the audience is a whole percent from 1 to 99."]
    elif not variants:
        errors["ab_test_percent"] = ["A test that picks its winner needs two to four variants."]
    if wait_hours is not None and (
        isinstance(wait_hours, bool) or not isinstance(wait_hours, int) or not 1 <= wait_hours <= MAX_WAIT_HOURS
    ):
        errors["ab_wait_hours"] = [f"Hours from 1 to {MAX_WAIT_HOURS}."]
    if metric not in (None, "", *AbMetric.values):
        errors["ab_metric"] = [f"Choose one of: {', '.join(AbMetric.values)}."]
    return errors
