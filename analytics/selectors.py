"""The dashboard's reads: every figure from maintained counters and buckets, never a scan over messages or clicks.

Sources (docs/analytics.md):

- ``campaigns.MessageChannelCount``: messages by the channel Twilio reported
  (the read rate's denominator: RCS and WhatsApp report reads).
- ``campaigns.MessageStatusCount``: a -1/+1 row pair per status move. The +1 row
  carries the minute of the arrival, the status it came from and the message's
  error code; both rows carry the A/B variant. Totals are SUM(count); arrivals
  per minute are SUM(count) over the +1 rows (``minute`` set).
- ``analytics.ClickBucket`` (per minute) and ``analytics.ClickBreakdown`` (per
  dimension value), upserted by the click writer.
- ``links.CampaignClickCount`` and the compliance ledger for campaign totals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Count, F, Max, Min, Sum
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from campaigns.counters import campaign_status_counts
from campaigns.models import (
    READ_RECEIPT_CHANNELS,
    Campaign,
    CampaignKind,
    CampaignStatus,
    MessageChannelCount,
    MessageStatusCount,
)
from campaigns.models import MessageStatus as S
from campaigns.stats import QUEUED, delivery_rate, rate, reached_count, reached_statuses, read_rate
from compliance.models import InboundKind, InboundMessage
from compliance.selectors import campaign_first_opt_outs
from links.models import CampaignClickCount
from tracking.error_codes import error_code_description

from .abtest import ab_test
from .models import ClickBreakdown, ClickBucket, Dimension

#: A message is handed to the gateway when it first moves from one of these …
HANDED_FROM = frozenset({S.PENDING, S.SENDING, S.UNKNOWN})
#: … to one of these (the gateway took it). ``failed`` from ``sending`` is a refusal, not a hand-over.
HANDED_TO = frozenset({S.ACCEPTED, S.SCHEDULED, S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED, S.READ})
SERIES_STATUSES = sorted(HANDED_TO | {S.FAILED})
SERIES = ("sent", "delivered", "failed", "undelivered", "clicks", "unique_clicks", "bot_hits", "opt_outs")
INTERVALS = {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1)}
#: Default interval: minutes when the data spans less than this, else hours.
MINUTE_SPAN = dt.timedelta(hours=3)
MAX_BUCKETS = 2000
TOP = 20
BREAKDOWN_DIMENSIONS = (Dimension.DEVICE, Dimension.OS, Dimension.BROWSER, Dimension.COUNTRY, Dimension.VARIANT)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _floor(moment: dt.datetime, interval: str) -> dt.datetime:
    moment = moment.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return moment.replace(minute=0) if interval == "hour" else moment


# --- time series -----------------------------------------------------------------------------------------------


def _series_of(status: str, from_status: str | None) -> tuple[str, ...]:
    """Which series an arrival into ``status`` (coming from ``from_status``) counts in."""
    out = []
    if status in HANDED_TO and from_status in HANDED_FROM:
        out.append("sent")
    if status == S.DELIVERED or (status == S.READ and from_status != S.DELIVERED):
        out.append("delivered")  # read counts as delivered, once
    if status in (S.FAILED, S.UNDELIVERED):
        out.append(str(status))
    return tuple(out)


def campaign_timeseries(
    *,
    campaign_id: int,
    interval: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict:
    """``{"interval", "buckets": [{"t", "sent", "delivered", "failed", "undelivered", "clicks", "unique_clicks",
    "bot_hits", "opt_outs"}, …]}``: arrivals, clicks and opt-outs (each reached recipient's first STOP, as in
    the stats) per minute or hour (UTC), ascending, gaps filled with zeros, at most ``MAX_BUCKETS`` (the
    latest; ``truncated`` says so). ``since``/``until`` bound the minutes counted (both inclusive)."""
    arrivals = MessageStatusCount.objects.filter(
        campaign_id=campaign_id, minute__isnull=False, count__gt=0, status__in=SERIES_STATUSES
    )
    clicks = ClickBucket.objects.filter(campaign_id=campaign_id)
    opt_outs = campaign_first_opt_outs(campaign_id=campaign_id).filter(
        message__status__in=reached_statuses(campaign_status_counts(campaign_id))
    )
    if since is not None:
        arrivals, clicks = arrivals.filter(minute__gte=since), clicks.filter(minute__gte=since)
        opt_outs = opt_outs.filter(received_at__gte=_floor(since, "minute"))
    if until is not None:
        arrivals, clicks = arrivals.filter(minute__lte=until), clicks.filter(minute__lte=until)
        opt_outs = opt_outs.filter(received_at__lt=_floor(until, "minute") + INTERVALS["minute"])
    # Opt-outs are few (a STOP per hundred recipients or so): read once per minute, folded into hours below.
    opt_out_minutes = list(
        opt_outs.order_by()
        .annotate(t=Trunc("received_at", "minute", tzinfo=dt.UTC))
        .values("t")
        .annotate(n=Count("pk"))
        .values_list("t", "n")
    )
    if interval is None:
        spans = [qs.aggregate(first=Min("minute"), last=Max("minute")) for qs in (arrivals, clicks)]
        if opt_out_minutes:
            spans.append({"first": min(t for t, _n in opt_out_minutes), "last": max(t for t, _n in opt_out_minutes)})
        firsts = [s["first"] for s in spans if s["first"] is not None]
        lasts = [s["last"] for s in spans if s["last"] is not None]
        interval = "hour" if firsts and max(lasts) - min(firsts) >= MINUTE_SPAN else "minute"
    bucket = F("minute") if interval == "minute" else Trunc("minute", interval, tzinfo=dt.UTC)

    filled: dict[dt.datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SERIES, 0))
    rows = (
        arrivals.order_by()
        .annotate(t=bucket)
        .values("t", "status", "from_status")
        .annotate(n=Sum("count"))
        .values_list("t", "status", "from_status", "n")
    )
    for t, status, from_status, n in rows:
        for name in _series_of(status, from_status):
            filled[_floor(t, interval)][name] += n
    click_rows = (
        clicks.order_by()
        .annotate(t=bucket)
        .values("t")
        .annotate(c=Sum("clicks"), u=Sum("unique_clicks"), b=Sum("bot_hits"))
        .values_list("t", "c", "u", "b")
    )
    for t, c, u, b in click_rows:
        counts = filled[_floor(t, interval)]
        counts["clicks"] += c
        counts["unique_clicks"] += u
        counts["bot_hits"] += b
    for t, n in opt_out_minutes:
        filled[_floor(t, interval)]["opt_outs"] += n

    result: dict = {"interval": interval, "buckets": []}
    if not filled:
        return result
    step = INTERVALS[interval]
    first, last = min(filled), max(filled)
    if (last - first) // step + 1 > MAX_BUCKETS:
        first = last - step * (MAX_BUCKETS - 1)
        result["truncated"] = True
    moment = first
    while moment <= last:
        counts = filled.get(moment) or dict.fromkeys(SERIES, 0)
        result["buckets"].append({"t": _iso(moment), **counts})
        moment += step
    return result


# --- breakdowns ------------------------------------------------------------------------------------------------


def _top(rows: list[dict], *, limit: int = TOP) -> list[dict]:
    """Sorted by clicks (then bot hits) descending; the top ``limit`` and one ``other`` row for the rest."""
    rows = sorted(rows, key=lambda r: (-r["clicks"], -r["bot_hits"], r["value"]))
    if len(rows) <= limit:
        return rows
    rest = rows[limit:]
    other = {"value": "other", **{k: sum(r[k] for r in rest) for k in ("clicks", "unique_clicks", "bot_hits")}}
    return [*rows[:limit], other]


def campaign_error_codes(*, campaign_id: int) -> list[dict]:
    """Failed and undelivered messages by error code (arrivals into those terminal statuses), most first."""
    rows = (
        MessageStatusCount.objects.filter(campaign_id=campaign_id, status__in=(S.FAILED, S.UNDELIVERED), count__gt=0)
        .order_by()
        .values("status", "error_code")
        .annotate(n=Sum("count"))
        .values_list("error_code", "status", "n")
    )
    out = [
        {
            "code": code,
            "status": status,
            "count": n,
            "description": error_code_description(code) if code is not None else "No error code reported",
        }
        for code, status, n in rows
        if n
    ]
    return sorted(out, key=lambda r: (-r["count"], r["code"] is None, r["code"] or 0, r["status"]))


def campaign_breakdown(*, campaign_id: int) -> dict:
    """Clicks by device, OS, browser, country and variant; bot hits apart; failures by error code."""
    by_dimension: dict[str, list[dict]] = defaultdict(list)
    rows = ClickBreakdown.objects.filter(campaign_id=campaign_id).values_list(
        "dimension", "value", "clicks", "unique_clicks", "bot_hits"
    )
    for dimension, value, clicks, unique, bots in rows:
        by_dimension[dimension].append(
            {"value": value or "unknown", "clicks": clicks, "unique_clicks": unique, "bot_hits": bots}
        )
    result: dict = {str(dim): _top(by_dimension[dim]) for dim in BREAKDOWN_DIMENSIONS}
    reasons = sorted(by_dimension[Dimension.BOT_REASON], key=lambda r: (-r["bot_hits"], r["value"]))
    total = CampaignClickCount.objects.filter(campaign_id=campaign_id).values_list("bot_hits", flat=True).first()
    result["bots"] = {
        "bot_hits": total or 0,
        "by_reason": [{"reason": r["value"], "bot_hits": r["bot_hits"]} for r in reasons[:TOP]],
    }
    result["error_codes"] = campaign_error_codes(campaign_id=campaign_id)
    return result


# --- A/B variants ----------------------------------------------------------------------------------------------


def _label(index: int | None) -> str:
    return "" if index is None else chr(ord("A") + index)


def _variant_row(
    counts: dict[str, int], clicks: tuple[int, int, int], opt_outs: int, reached_as: tuple[str, ...]
) -> dict:
    """One row of figures from a variant's status totals, clicks and opt-outs (of recipients reached).

    ``reached_as``: the statuses that count as reached, decided for the whole campaign (``reached_statuses``).

    A fan-out that records its pending messages without their variant leaves a
    variant's ``pending`` total negative (each claim takes one away): those
    messages count as recipients then, and nothing as pending.
    """
    pending = counts.get(S.PENDING, 0)
    recipients = sum(counts.values()) + max(0, -pending)
    delivered = counts.get(S.DELIVERED, 0) + counts.get(S.READ, 0)
    reached = reached_count(counts, reached_as)
    row = {
        "recipients": recipients,
        "queued": max(0, pending) + sum(counts.get(s, 0) for s in QUEUED if s != S.PENDING),
        "sent": counts.get(S.SENT, 0),
        "delivered": delivered,
        "undelivered": counts.get(S.UNDELIVERED, 0),
        "failed": counts.get(S.FAILED, 0),
        "suppressed": counts.get(S.SUPPRESSED, 0),
        "clicks": clicks[0],
        "unique_clicks": clicks[1],
        "bot_hits": clicks[2],
        "opt_outs": opt_outs,
        "reached": reached,
    }
    row["click_rate"] = rate(row["unique_clicks"], reached)
    row["delivery_rate"] = delivery_rate(row)
    row["opt_out_rate"] = rate(opt_outs, reached)
    return row


def _opt_outs_by_variant(campaign_id: int, reached_as: tuple[str, ...]) -> dict[int | None, int]:
    """Recipients reached who replied STOP to this campaign, by the variant of the message they answered."""
    rows = (
        campaign_first_opt_outs(campaign_id=campaign_id)
        .filter(message__status__in=reached_as)
        .order_by()
        .values("message__variant")
        .annotate(n=Count("pk"))
        .values_list("message__variant", "n")
    )
    return dict(rows)


def campaign_variants(*, campaign: Campaign) -> dict:
    """Per-variant figures and the two-proportion test between the two best (see ``analytics.abtest``)."""
    counts: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        MessageStatusCount.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values("variant", "status")
        .annotate(n=Sum("count"))
        .values_list("variant", "status", "n")
    )
    for variant, status, n in rows:
        counts[variant][status] += n or 0
    total: dict[str, int] = defaultdict(int)
    for per_status in counts.values():
        for status, n in per_status.items():
            total[status] += n
    reached_as = reached_statuses(total)  # one rule for the whole campaign: did any delivery report come?
    opt_outs = _opt_outs_by_variant(campaign.pk, reached_as)
    definitions = campaign.variants or []
    if not definitions:
        click_row = CampaignClickCount.objects.filter(campaign_id=campaign.pk).values_list(
            "clicks", "unique_clicks", "bot_hits"
        )
        clicks = click_row.first() or (0, 0, 0)
        figures = _variant_row(total, clicks, sum(opt_outs.values()), reached_as)
        whole = {"variant": None, "label": "", "body": campaign.body, "percent": 100, **figures}
        return {"variants": [whole], "test": None}

    click_rows = ClickBreakdown.objects.filter(campaign_id=campaign.pk, dimension=Dimension.VARIANT).values_list(
        "value", "clicks", "unique_clicks", "bot_hits"
    )
    clicks_of = {value: (c, u, b) for value, c, u, b in click_rows}
    out = []
    for index, definition in enumerate(definitions):
        out.append(
            {
                "variant": index,
                "label": _label(index),
                "body": definition.get("body", ""),
                "percent": definition.get("percent"),
                **_variant_row(
                    counts.get(index, {}), clicks_of.get(str(index), (0, 0, 0)), opt_outs.get(index, 0), reached_as
                ),
            }
        )
    result = {"variants": out, "test": ab_test(out)}
    unassigned = sum(counts.get(None, {}).values())
    if unassigned:
        result["unassigned"] = unassigned  # counted without a variant (e.g. a fan-out that did not say)
    return result


# --- tenant overview -------------------------------------------------------------------------------------------


def _figures(
    status_counts: dict[str, int], clicks: tuple[int, int], *, opt_outs: int, reached: int, on_read_channels: int
) -> dict:
    delivered = status_counts.get(S.DELIVERED, 0) + status_counts.get(S.READ, 0)
    row = {
        "recipients": sum(status_counts.values()),
        "sent": status_counts.get(S.SENT, 0),
        "delivered": delivered,
        "failed": status_counts.get(S.FAILED, 0),
        "undelivered": status_counts.get(S.UNDELIVERED, 0),
        "suppressed": status_counts.get(S.SUPPRESSED, 0),
        "clicks": clicks[0],
        "unique_clicks": clicks[1],
        "opt_outs": opt_outs,
        "reached": reached,
        "read": status_counts.get(S.READ, 0),
    }
    row["delivery_rate"] = delivery_rate(row)
    row["click_rate"] = rate(row["unique_clicks"], reached)
    row["opt_out_rate"] = rate(opt_outs, reached)
    row["read_rate"] = read_rate(row["read"], on_read_channels)  # None: no message on a channel with reads
    return row


def _read_channel_messages(campaign_ids) -> dict[int, int]:
    """Messages sent on channels that report reads (RCS, WhatsApp), per campaign, from the channel counters."""
    rows = (
        MessageChannelCount.objects.filter(campaign_id__in=campaign_ids, channel__in=READ_RECEIPT_CHANNELS)
        .order_by()
        .values("campaign_id")
        .annotate(n=Sum("count"))
        .values_list("campaign_id", "n")
    )
    return {cid: max(0, n or 0) for cid, n in rows}


def _opt_outs_by_status(campaign_ids) -> dict[int, dict[str, int]]:
    """Recipients who opted out by keyword in answer to each campaign, by the status of the message they
    answered (so a reader keeps the ones that campaign reached), in one query."""
    per_campaign: dict[int, dict[str, int]] = defaultdict(dict)
    for cid, status, n in (
        InboundMessage.objects.filter(campaign_id__in=campaign_ids, kind=InboundKind.OPT_OUT)
        .exclude(phone_hash="")
        .order_by()
        .values("campaign_id", "message__status")
        .annotate(n=Count("phone_hash", distinct=True))
        .values_list("campaign_id", "message__status", "n")
    ):
        per_campaign[cid][status] = n
    return per_campaign


def tenant_overview(*, tenant, days: int = 30, recent: int = 20, now: dt.datetime | None = None) -> dict:
    """Totals of the campaigns that went out in the last ``days`` days and the ``recent`` latest compared.

    A campaign is in the window when it started (or was scheduled, or created) since then; drafts are not.
    Rates are over each campaign's recipients reached (``reached_statuses``), the totals' over their sum;
    the read rate over the messages sent on channels that report reads (null when none was).
    A constant number of queries (seven), whatever the number of campaigns.
    """
    since = (now or timezone.now()) - dt.timedelta(days=days)
    window = (
        Campaign.objects.filter(tenant=tenant, kind=CampaignKind.CAMPAIGN)
        .exclude(status=CampaignStatus.DRAFT)
        .annotate(at=Coalesce("started_at", "send_at", "created_at"))
        .filter(at__gte=since)
    )
    window_ids = window.values("id")
    latest = list(
        window.order_by("-at", "-id").values(
            "id", "name", "status", "created_at", "send_at", "started_at", "finished_at"
        )[:recent]
    )
    ids = [c["id"] for c in latest]

    # Per campaign of the window (the latest are among them): whether a campaign had delivery reports decides
    # what "reached" means for it, so the totals add up campaign by campaign.
    per_campaign: dict[int, dict[str, int]] = defaultdict(dict)
    for cid, status, n in (
        MessageStatusCount.objects.filter(campaign_id__in=window_ids)
        .order_by()
        .values("campaign_id", "status")
        .annotate(n=Sum("count"))
        .values_list("campaign_id", "status", "n")
    ):
        per_campaign[cid][status] = n or 0
    opted = _opt_outs_by_status(window_ids)
    on_read_channels = _read_channel_messages(window_ids)
    reached: dict[int, tuple[int, int]] = {}  # campaign → (recipients reached, opt-outs among them)
    for cid, counts in per_campaign.items():
        statuses = reached_statuses(counts)
        opt_outs = sum(n for status, n in opted.get(cid, {}).items() if status in statuses)
        reached[cid] = (reached_count(counts, statuses), opt_outs)
    clicks = {
        cid: (c, u)
        for cid, c, u in CampaignClickCount.objects.filter(campaign_id__in=ids).values_list(
            "campaign_id", "clicks", "unique_clicks"
        )
    }

    totals_status: dict[str, int] = defaultdict(int)
    for counts in per_campaign.values():
        for status, n in counts.items():
            totals_status[status] += n
    click_totals = CampaignClickCount.objects.filter(campaign_id__in=window_ids).aggregate(
        c=Coalesce(Sum("clicks"), 0), u=Coalesce(Sum("unique_clicks"), 0)
    )
    totals = {
        "campaigns": window.count(),
        **_figures(
            dict(totals_status),
            (click_totals["c"], click_totals["u"]),
            opt_outs=sum(o for _r, o in reached.values()),
            reached=sum(r for r, _o in reached.values()),
            # Each campaign's own floor (its reads are on such channels), as ``read_rate`` does per campaign.
            on_read_channels=sum(
                max(on_read_channels.get(cid, 0), counts.get(S.READ, 0)) for cid, counts in per_campaign.items()
            ),
        ),
    }
    campaigns = []
    for c in latest:
        campaigns.append(
            {
                "id": c["id"],
                "name": c["name"],
                "status": c["status"],
                "created_at": c["created_at"],
                "send_at": c["send_at"],
                "started_at": c["started_at"],
                "finished_at": c["finished_at"],
                **_figures(
                    per_campaign.get(c["id"], {}),
                    clicks.get(c["id"], (0, 0)),
                    reached=reached.get(c["id"], (0, 0))[0],
                    opt_outs=reached.get(c["id"], (0, 0))[1],
                    on_read_channels=on_read_channels.get(c["id"], 0),
                ),
            }
        )
    return {"since": since, "days": days, "totals": totals, "campaigns": campaigns}
