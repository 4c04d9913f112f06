"""The fan-out's screen: recipients outside the tenant's allowed countries or in a high-risk range are never sent.

Called once per fan-out chunk, inside the chunk's transaction (``campaigns.sending.fanout``): the screen judges
each recipient by the first characters of its number (``guard.geo.Screen``: a dictionary lookup, no query per
recipient), the fan-out records those messages ``blocked`` with the reason, and the ``GuardBlock`` counters go in
with them, one row per reason and country or range.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from django.db import connection

from campaigns.models import Campaign, MessageStatus

from .geo import region_of
from .models import GuardBlock
from .selectors import screen_for


def recipients_screen(*, campaign: Campaign, numbers: Sequence[str], statuses: list) -> dict[int, str]:
    """Mark ``statuses[i]`` ``blocked`` for each recipient still to be sent (``None``) that the tenant's screen
    blocks; count them (``GuardBlock``). Returns ``{index: reason}`` for the blocked ones."""
    screen = screen_for(tenant=campaign.tenant)
    reasons: dict[int, str] = {}
    counts: Counter = Counter()
    for i, (number, status) in enumerate(zip(numbers, statuses, strict=True)):
        if status is not None:
            continue
        verdict = screen.verdict(number)
        if verdict is None:
            continue
        statuses[i] = MessageStatus.BLOCKED
        reasons[i] = screen.describe(verdict)
        counts[verdict] += 1
    if counts:
        GuardBlock.objects.bulk_create(
            [
                GuardBlock(tenant_id=campaign.tenant_id, campaign_id=campaign.pk, reason=reason, code=code, count=n)
                for (reason, code), n in counts.items()
            ]
        )
    return reasons


#: One statement per chunk: the rows as arrays, added to what earlier chunks counted (``CampaignCountryCount``).
_COUNTRY_UPSERT = (
    "INSERT INTO guard_campaigncountrycount AS c (tenant_id, campaign_id, country, recipients) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::int[]) "
    "ON CONFLICT (campaign_id, country) DO UPDATE SET recipients = c.recipients + EXCLUDED.recipients"
)


def recipients_by_country_record(*, campaign: Campaign, numbers: Sequence[str]) -> None:
    """Add a chunk's recipients handed to sending (``numbers``) to the campaign's per-country counts: a
    ``Counter`` in memory (the country is a cached lookup on the number's prefix), then one upsert for the chunk,
    in its transaction. The guard's tick divides a country's failures by these (``services.countries_judge``)."""
    counts = Counter(region_of(n) for n in numbers)
    if not counts:
        return
    rows = [(campaign.tenant_id, campaign.pk, country, n) for country, n in counts.items()]
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNTRY_UPSERT,
            [list(col) for col in zip(*rows, strict=True)],
        )
