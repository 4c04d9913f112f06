"""Writes of the pre-aggregated click figures (called by the click writer, inside its transaction)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from django.db import connection

from common.db import pg_values

from .models import ClickBreakdown, ClickBucket, Dimension

#: Click row key → breakdown dimension (the row is what ``links.services.clicks_record`` inserts).
DIMENSION_FIELDS = (
    (Dimension.DEVICE, "device_type"),
    (Dimension.OS, "os_family"),
    (Dimension.BROWSER, "browser_family"),
    (Dimension.COUNTRY, "country"),
)
VALUE_MAX = ClickBreakdown._meta.get_field("value").max_length


def click_aggregates_add(*, clicks: Sequence[dict], variant_of_message: Mapping[int, int | None]) -> None:
    """Count a written batch of clicks into the per-minute buckets and the breakdowns.

    ``clicks``: the click rows just inserted (``campaign_id``, ``tenant_id``, ``clicked_at``, ``is_bot``,
    ``is_unique``, device/OS/browser/country, ``bot_reason``, ``message_id``). Call inside the transaction
    that inserted them, so the figures never disagree with the clicks. Clicks outside a campaign are skipped.
    """
    buckets: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tenant, clicks, unique, bots
    breakdown: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for click in clicks:
        campaign_id = click.get("campaign_id")
        if not campaign_id:
            continue
        bot = bool(click["is_bot"])
        human, unique = (0, 0) if bot else (1, int(bool(click["is_unique"])))
        minute = click["clicked_at"].replace(second=0, microsecond=0)
        variant = variant_of_message.get(click.get("message_id"))
        values = [(dim, str(click.get(field) or "")) for dim, field in DIMENSION_FIELDS]
        values.append((Dimension.VARIANT, "" if variant is None else str(variant)))
        if bot:
            values.append((Dimension.BOT_REASON, str(click.get("bot_reason") or "")))
        for counts in [buckets[(campaign_id, minute)]] + [
            breakdown[(campaign_id, str(dim), value[:VALUE_MAX])] for dim, value in values
        ]:
            counts[0] = click["tenant_id"]
            counts[1] += human
            counts[2] += unique
            counts[3] += int(bot)
    if not buckets:
        return
    # Sorted, so two writers upserting the same rows take their locks in the same order (no deadlock).
    bucket_rows = [(cid, tenant, minute, h, u, b) for (cid, minute), (tenant, h, u, b) in sorted(buckets.items())]
    breakdown_rows = [
        (cid, tenant, dim, value, h, u, b) for (cid, dim, value), (tenant, h, u, b) in sorted(breakdown.items())
    ]
    _upsert(ClickBucket, ("campaign_id", "tenant_id", "minute"), ("campaign_id", "minute"), bucket_rows)
    _upsert(
        ClickBreakdown,
        ("campaign_id", "tenant_id", "dimension", "value"),
        ("campaign_id", "dimension", "value"),
        breakdown_rows,
    )


COUNTERS = ("clicks", "unique_clicks", "bot_hits")


def _upsert(model, key_columns: tuple[str, ...], conflict: tuple[str, ...], rows: list[tuple]) -> None:
    """One ``INSERT … ON CONFLICT DO UPDATE`` adding the counters."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = (*key_columns, *COUNTERS)
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTERS)
    pg_values(
        f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES {{values}} "  # noqa: S608 - names from model meta, values bound
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}",
        rows,
    )
