"""Reads for campaigns."""

from __future__ import annotations

from django.db import connection
from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from .models import MessageStatus, MessageStatusCount


def campaign_status_counts(campaign_id: int) -> dict[str, int]:
    """Messages of a campaign by current status, from the maintained counters."""
    counts = dict.fromkeys(MessageStatus.values, 0)
    rows = (
        MessageStatusCount.objects.filter(campaign_id=campaign_id)
        .values("status")
        .annotate(total=Sum("count"))
        .values_list("status", "total")
    )
    for status, total in rows:
        counts[status] = total or 0
    return counts


#: The columns a squash keeps apart (with the sign of ``count``): totals, arrivals per minute, failures by error
#: code and per-variant counts all read the same after a squash as before it.
SQUASH_KEYS = ("campaign_id", "status", "minute", "from_status", "error_code", "variant")


def squash_status_counts(*, limit: int = 5000) -> int:
    """Fold counter rows into one row per ``SQUASH_KEYS`` and sign. Returns the rows written.

    Only the rows a squash has read are deleted and summed: a delta inserted by a
    concurrent transition meanwhile is left for the next squash, never lost. Rows
    are folded per sign (arrivals stay positive), so "arrivals into S per minute =
    SUM(count) WHERE count > 0" holds after it as before.
    """
    table = connection.ops.quote_name(MessageStatusCount._meta.db_table)
    keys = ", ".join(SQUASH_KEYS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH pairs AS (SELECT DISTINCT campaign_id, status FROM {table} WHERE NOT is_squashed LIMIT %s), "  # noqa: S608 - names from model meta, values bound
            f"gone AS (DELETE FROM {table} c USING pairs p WHERE c.campaign_id = p.campaign_id "
            f"AND c.status = p.status RETURNING {', '.join('c.' + k for k in SQUASH_KEYS)}, c.count) "
            f"INSERT INTO {table} ({keys}, count, is_squashed) "
            f"SELECT {keys}, SUM(count), true FROM gone GROUP BY {keys}, count > 0",
            [limit],
        )
        return cursor.rowcount


#: Statuses not (yet) handed to the gateway: waiting, or skipped for good.
NOT_HANDED_OVER = ("pending", "sending", "suppressed", "capped", "canceled")


def _counter_sum(statuses: tuple[str, ...] | None = None):
    rows = MessageStatusCount.objects.filter(campaign_id=OuterRef("pk"))
    if statuses:
        rows = rows.filter(status__in=statuses)
    total = rows.order_by().values("campaign_id").annotate(total=Sum("count")).values("total")
    return Coalesce(Subquery(total, output_field=IntegerField()), 0)


def campaign_progress_annotations() -> dict:
    """``progress_total`` and ``progress_handed`` for a Campaign queryset, from the counters, in the same query
    (a list of campaigns costs one statement, not one per campaign)."""
    return {"progress_total": _counter_sum(), "progress_handed": _counter_sum() - _counter_sum(NOT_HANDED_OVER)}
