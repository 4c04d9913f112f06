"""The guard's writes: the tick (anomalies, pauses that ended, caps with room again) and the Guard page's resume.

Anomalies are judged on the maintained counters only (``campaigns.counters``: every status move's +1 row carries
the message's error code), so a tick costs a few grouped queries over the sending campaigns, never a scan of
messages: the final delivery reports (delivered, read, undelivered, failed), those with a carrier-filtering code
(``FILTER_CODES``), and the first opt-outs that answered the campaign. A campaign is judged once it has the
tenant's ``anomaly_min_reports``; after a resume, only on what came after (``GuardEvent.baseline``).

Besides the absolute thresholds, a campaign is compared with its tenant's own history (``tenants_history``: the
same counters over its other campaigns of the last 30 days, one grouped query per tick) and, country by
country, with itself (``countries_judge``: the per-country recipients kept at fan-out, and the campaign's failed
messages only, grouped by prefix).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.conf import settings as django_settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Left
from django.utils import timezone

from campaigns.authoring import campaign_preview_for
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, MessageStatusCount
from campaigns.sending.control import campaign_resume
from compliance.models import AuditChannel
from compliance.selectors import campaign_opt_out_counts
from compliance.services import audit_record

from .geo import region_of_prefix
from .models import PAUSE_KINDS, CampaignCountryCount, GuardEvent, GuardEventKind, GuardSettings
from .pausing import REASON_PREFIX, campaign_pause_by_guard
from .ranges import MAX_PREFIX_LENGTH
from .selectors import guard_settings_get
from .spend import CapReached, any_cap, caps_room, send_estimate_over_caps, usage_persist
from .store import key_prefix, redis_client

logger = logging.getLogger(__name__)

#: Twilio's delivery errors that say carriers filter the traffic or the list is bad: 30007 filtered as spam,
#: 30003 unreachable handset, 30005 unknown handset (../shared/GATEWAY.md).
FILTER_CODES = (30007, 30003, 30005)
REPORTED = (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.UNDELIVERED, MessageStatus.FAILED)
FAILED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)


@dataclass
class Figures:
    """A campaign's numbers the guard judges (counts; rates are derived)."""

    reports: int = 0  # final delivery reports: delivered, read, undelivered, failed
    failed: int = 0  # undelivered or failed, any code
    filtered: int = 0  # undelivered or failed with a FILTER_CODES code
    reached: int = 0  # delivered or read
    opt_outs: int = 0  # first opt-outs that answered this campaign

    def add(self, *, status: str, total: int, filtered: int) -> None:
        """One counter row's share: a final report, failed (and perhaps filtered) or reached."""
        total = max(0, total or 0)
        self.reports += total
        if status in FAILED:
            self.failed += total
            self.filtered += max(0, filtered or 0)
        else:
            self.reached += total

    def since(self, baseline: dict) -> Figures:
        """What happened after ``baseline`` (the counts when a pause was resolved)."""
        return Figures(**{k: max(0, v - int(baseline.get(k, 0))) for k, v in asdict(self).items()})

    @staticmethod
    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "filtered_rate": self.rate(self.filtered, self.reports),
            "failed_rate": self.rate(self.failed, self.reports),
            "opt_out_rate": self.rate(self.opt_outs, self.reached),
        }


def campaigns_figures(campaign_ids: list[int]) -> dict[int, Figures]:
    """``Figures`` of many campaigns: two grouped queries over the counters and the opt-outs, whatever their size."""
    out = {cid: Figures() for cid in campaign_ids}
    if not campaign_ids:
        return out
    rows = (
        MessageStatusCount.objects.filter(campaign_id__in=campaign_ids, status__in=REPORTED)
        .order_by()
        .values("campaign_id", "status")
        .annotate(total=Sum("count"), filtered=Sum("count", filter=Q(error_code__in=FILTER_CODES)))
        .values_list("campaign_id", "status", "total", "filtered")
    )
    for cid, status, total, filtered in rows:
        out[cid].add(status=status, total=total, filtered=filtered)
    for cid, n in campaign_opt_out_counts(campaign_ids=campaign_ids).items():
        if cid in out:
            out[cid].opt_outs = n
    return out


@dataclass(frozen=True)
class Crossing:
    metric: str
    value: float
    threshold: float
    reason: str


def _pct(x: float | Decimal) -> str:
    return f"{float(x) * 100:.1f}%"


def figures_judge(*, figures: Figures, settings: GuardSettings) -> Crossing | None:
    """The first threshold ``figures`` cross (carrier filtering, failures, opt-outs), or ``None``. Nothing is
    judged before ``anomaly_min_reports`` final reports: a handful of failures says nothing yet."""
    if figures.reports < settings.anomaly_min_reports:
        return None
    n = figures.reports
    checks = (
        (
            "filtered_rate",
            figures.rate(figures.filtered, n),
            settings.max_filtered_rate,
            "{value} of {n} delivery reports were carrier filtering or bad numbers (30007, 30003, 30005), "
            "at or above the {threshold} threshold",
        ),
        (
            "failed_rate",
            figures.rate(figures.failed, n),
            settings.max_failed_rate,
            "{value} of {n} delivery reports were undelivered or failed, at or above the {threshold} threshold",
        ),
        (
            "opt_out_rate",
            figures.rate(figures.opt_outs, figures.reached),
            settings.max_opt_out_rate,
            "{value} of the {reached} recipients reached opted out, at or above the {threshold} threshold",
        ),
    )
    for metric, value, threshold, text in checks:
        if metric == "opt_out_rate" and figures.reached < settings.anomaly_min_reports:
            continue
        if threshold is not None and value >= float(threshold):
            reason = text.format(value=_pct(value), n=n, reached=figures.reached, threshold=_pct(threshold))
            return Crossing(metric, value, float(threshold), reason[0].upper() + reason[1:] + ".")
    return None


# --- compared with the tenant's own history ------------------------------------------------------------------

#: How far back a tenant's history goes (campaigns started since).
HISTORY_DAYS = 30
_HISTORY_TEXT = {
    "filtered_rate": "{value} of {n} delivery reports were carrier filtering or bad numbers",
    "failed_rate": "{value} of {n} delivery reports were undelivered or failed",
    "opt_out_rate": "{value} of the {reached} recipients reached opted out",
}


def tenants_history(*, tenant_ids: set[int], now: dt.datetime) -> dict[int, dict[int, Figures]]:
    """``{tenant: {campaign: Figures}}`` of the tenants' campaigns started in the last ``HISTORY_DAYS`` days: one
    grouped query over the counters and one over the opt-outs, once per tick; each judged campaign is compared
    with the sum of the OTHER campaigns (``history_of``)."""
    out: dict[int, dict[int, Figures]] = {t: {} for t in tenant_ids}
    if not tenant_ids:
        return out
    rows = (
        MessageStatusCount.objects.filter(
            campaign__tenant_id__in=tenant_ids,
            campaign__started_at__gte=now - dt.timedelta(days=HISTORY_DAYS),
            status__in=REPORTED,
        )
        .order_by()
        .values("campaign__tenant_id", "campaign_id", "status")
        .annotate(total=Sum("count"), filtered=Sum("count", filter=Q(error_code__in=FILTER_CODES)))
        .values_list("campaign__tenant_id", "campaign_id", "status", "total", "filtered")
    )
    for tenant_id, cid, status, total, filtered in rows:
        out[tenant_id].setdefault(cid, Figures()).add(status=status, total=total, filtered=filtered)
    ids = [cid for per in out.values() for cid in per]
    if ids:
        opt_outs = campaign_opt_out_counts(campaign_ids=ids)
        for per in out.values():
            for cid, f in per.items():
                f.opt_outs = opt_outs.get(cid, 0)
    return out


def history_of(per_campaign: dict[int, Figures], *, campaign_id: int) -> Figures:
    """The tenant's usual figures: its campaigns of the last 30 days but ``campaign_id``."""
    total = Figures()
    for cid, f in per_campaign.items():
        if cid != campaign_id:
            for k, v in asdict(f).items():
                setattr(total, k, getattr(total, k) + v)
    return total


def history_judge(*, figures: Figures, history: Figures, settings: GuardSettings) -> Crossing | None:
    """The first rate of ``figures`` far above the tenant's usual one, or ``None``: above both ``usual ×
    history_multiplier`` and ``usual + history_floor``. Judged only once the campaign has ``anomaly_min_reports``
    and the history ``history_min_reports`` (a few campaigns' worth: a thin history says little)."""
    if figures.reports < settings.anomaly_min_reports or history.reports < settings.history_min_reports:
        return None
    mult, floor = float(settings.history_multiplier), float(settings.history_floor)
    checks = (
        ("filtered_rate", figures.filtered, figures.reports, history.filtered, history.reports),
        ("failed_rate", figures.failed, figures.reports, history.failed, history.reports),
        ("opt_out_rate", figures.opt_outs, figures.reached, history.opt_outs, history.reached),
    )
    for metric, part, whole, usual_part, usual_whole in checks:
        if whole < settings.anomaly_min_reports or usual_whole < settings.history_min_reports:
            continue
        value, usual = Figures.rate(part, whole), Figures.rate(usual_part, usual_whole)
        limit = max(usual * mult, usual + floor)
        if value > limit:
            text = _HISTORY_TEXT[metric].format(value=_pct(value), n=figures.reports, reached=figures.reached)
            reason = (
                f"{text} vs this tenant's usual {_pct(usual)} (its other campaigns of the last {HISTORY_DAYS} days, "
                f"{usual_whole} reports): above {mult:g}× and {_pct(floor)} over the usual"
            )
            return Crossing(f"{metric}_vs_history", value, round(limit, 4), reason[0].upper() + reason[1:] + ".")
    return None


# --- undelivered to one country ------------------------------------------------------------------------------

#: A country is singled out only when its failure rate is at least this many times the rest of the campaign's.
COUNTRY_RATIO = 3
_SEEN_TTL = 7 * 24 * 3600


def _failures_rose(failed: dict[int, int]) -> set[int]:
    """The campaigns whose undelivered + failed count rose since the last tick (kept in Redis); all of them when
    Redis does not answer (the read is then only a little more work)."""
    keys = {cid: f"{key_prefix()}country_seen:{cid}" for cid in failed}
    try:
        client = redis_client(django_settings.REDIS_URL)
        seen = client.mget(list(keys.values()))
        pipe = client.pipeline()
        for cid, key in keys.items():
            pipe.set(key, failed[cid], ex=_SEEN_TTL)
        pipe.execute()
    except Exception:  # noqa: BLE001 - a Redis outage must not stop the tick
        logger.warning("Guard: Redis unavailable, every campaign's countries judged this tick")
        return {cid for cid, n in failed.items() if n}
    return {cid for (cid, n), before in zip(failed.items(), seen, strict=True) if n > int(before or 0)}


def countries_judge(
    *, campaign_id: int, figures: Figures, recipients: dict[str, int], settings: GuardSettings
) -> Crossing | None:
    """Whether one country's messages fail far more than the rest of the campaign's.

    The failures come from the campaign's undelivered and failed messages only (the (campaign, status) index
    reads those rows alone), grouped by the numbers' prefix in SQL, each prefix judged once. A country's reports
    are estimated from its share of the recipients handed to sending (``CampaignCountryCount``) times the
    campaign's reports, i.e. reports are taken to arrive evenly across countries (never fewer than its
    failures): no read of the delivered messages.
    """
    total = sum(recipients.values())
    if len(recipients) < 2 or not total or not figures.reports:
        return None
    failed_by: dict[str, int] = {}
    groups = (
        Message.objects.filter(campaign_id=campaign_id, status__in=FAILED)
        .order_by()
        .annotate(prefix=Left("to", MAX_PREFIX_LENGTH))
        .values("prefix")
        .annotate(n=Count("id"))
        .values_list("prefix", "n")
    )
    for prefix, n in groups:
        country = region_of_prefix(prefix)
        failed_by[country] = failed_by.get(country, 0) + n
    all_failed = sum(failed_by.values())
    threshold = float(settings.max_country_failed_rate)
    for country, failed in sorted(failed_by.items(), key=lambda kv: -kv[1]):
        reports = max(failed, recipients.get(country, 0) * figures.reports / total)
        if reports < settings.country_min_reports:
            continue
        rate = failed / reports
        rest_reports = figures.reports - reports
        rest = (all_failed - failed) / rest_reports if rest_reports > 0 else 0.0
        if rate >= threshold and rate >= COUNTRY_RATIO * rest:
            reason = (
                f"{_pct(rate)} of about {round(reports)} delivery reports to {country} were undelivered or failed "
                f"vs {_pct(rest)} elsewhere in the campaign, at or above the {_pct(threshold)} threshold and "
                f"{COUNTRY_RATIO}× the rest"
            )
            return Crossing(f"country_failed_rate:{country}", round(rate, 4), threshold, reason + ".")
    return None


# --- the tick -----------------------------------------------------------------------------------------------


@dataclass
class TickResult:
    judged: int = 0
    paused: int = 0
    resolved: int = 0
    auto_resumed: int = 0
    usage_rows: int = 0


def guard_tick(*, now: dt.datetime | None = None) -> TickResult:
    """The guard's periodic work (its task holds the periodic lock): note the pauses that ended, judge every
    sending campaign, resume campaigns paused at a cap that has room again, and copy the caps' use to the
    database. Returns what it did."""
    result = TickResult()
    now = now or timezone.now()
    result.resolved = pauses_reconcile(now=now)
    result.judged, result.paused = anomalies_check()
    result.auto_resumed = capped_campaigns_resume(now=now)
    result.usage_rows = usage_persist(now=now)
    return result


def pauses_reconcile(*, now: dt.datetime) -> int:
    """Open pauses whose campaign is no longer paused: resumed elsewhere (the campaign page, the API), or over.

    A resumed anomaly keeps the counters of that moment as its ``baseline``, so the guard judges only what comes
    after the resume and does not pause the campaign again for the same figures.
    """
    open_events = list(
        GuardEvent.objects.filter(kind__in=PAUSE_KINDS, resolved_at__isnull=True, campaign__isnull=False)
        .exclude(campaign__status=CampaignStatus.PAUSED)
        .select_related("campaign")
    )
    if not open_events:
        return 0
    figures = campaigns_figures([e.campaign_id for e in open_events])
    for event in open_events:
        over = event.campaign.status in (CampaignStatus.SENT, CampaignStatus.CANCELED)
        _resolve(
            event,
            resolution=GuardEvent.Resolution.CLOSED if over else GuardEvent.Resolution.RESUMED_ELSEWHERE,
            user=None,
            now=now,
            baseline=asdict(figures[event.campaign_id]),
        )
    return len(open_events)


def _resolve(event: GuardEvent, *, resolution: str, user, now: dt.datetime, baseline: dict) -> bool:
    """Close an open pause once (a compare-and-set on ``resolved_at``). A country pause's baseline says so: the
    campaign is not judged by country again (someone looked at that country and chose to go on)."""
    if str((event.figures or {}).get("metric", "")).startswith("country"):
        baseline = {**baseline, "country_resumed": True}
    won = GuardEvent.objects.filter(pk=event.pk, resolved_at__isnull=True).update(
        resolved_at=now,
        resolved_by=user if getattr(user, "pk", None) else None,
        resolution=resolution,
        baseline=baseline,
    )
    return bool(won)


def _baselines(campaign_ids: list[int]) -> dict[int, dict]:
    """Each campaign's latest resolved anomaly baseline (what was already judged)."""
    found: dict[int, dict] = {}
    rows = (
        GuardEvent.objects.filter(campaign_id__in=campaign_ids, kind=GuardEventKind.ANOMALY, resolved_at__isnull=False)
        .order_by("campaign_id", "-resolved_at")
        .values_list("campaign_id", "baseline")
    )
    for cid, baseline in rows:
        found.setdefault(cid, baseline or {})
    return found


def anomalies_check() -> tuple[int, int]:
    """Judge every sending campaign on its counters; pause those that cross a threshold. Returns (judged,
    paused)."""
    campaigns = {c.pk: c for c in Campaign.objects.filter(status=CampaignStatus.SENDING).select_related("tenant")}
    if not campaigns:
        return 0, 0
    ids = list(campaigns)
    figures = campaigns_figures(ids)
    baselines = _baselines(ids)
    tenant_ids = {c.tenant_id for c in campaigns.values()}
    settings_of = {s.tenant_id: s for s in GuardSettings.objects.filter(tenant_id__in=tenant_ids)}
    history = tenants_history(tenant_ids=tenant_ids, now=timezone.now())
    countries = _countries_to_judge(figures, baselines)
    paused = 0
    for cid, campaign in campaigns.items():
        settings = settings_of.get(campaign.tenant_id) or guard_settings_get(tenant=campaign.tenant_id)
        judged = figures[cid].since(baselines.get(cid, {}))
        usual = history_of(history[campaign.tenant_id], campaign_id=cid)
        crossing = (
            figures_judge(figures=judged, settings=settings)
            or history_judge(figures=judged, history=usual, settings=settings)
            or (
                countries_judge(campaign_id=cid, figures=figures[cid], recipients=countries[cid], settings=settings)
                if cid in countries
                else None
            )
        )
        if crossing is None:
            continue
        detail = {
            **judged.as_dict(),
            "metric": crossing.metric,
            "value": crossing.value,
            "threshold": crossing.threshold,
            "min_reports": settings.anomaly_min_reports,
            "since_resume": bool(baselines.get(cid)),
            "history": {**usual.as_dict(), "days": HISTORY_DAYS},
        }
        if campaign_pause_by_guard(
            campaign=campaign, kind=GuardEventKind.ANOMALY, reason=crossing.reason, figures=detail
        ):
            paused += 1
    return len(campaigns), paused


def _countries_to_judge(figures: dict[int, Figures], baselines: dict[int, dict]) -> dict[int, dict[str, int]]:
    """``{campaign: {country: recipients}}`` of the campaigns worth a look by country: sent to two countries or
    more, failures up since the last tick, and not resumed after a country pause (a person looked at that country
    and chose to go on). One query over the per-country counts."""
    candidates = [cid for cid, f in figures.items() if f.failed and not baselines.get(cid, {}).get("country_resumed")]
    if not candidates:
        return {}
    recipients: dict[int, dict[str, int]] = {}
    for cid, country, n in CampaignCountryCount.objects.filter(campaign_id__in=candidates).values_list(
        "campaign_id", "country", "recipients"
    ):
        recipients.setdefault(cid, {})[country] = n
    several = {cid: by for cid, by in recipients.items() if len(by) > 1}
    rose = _failures_rose({cid: figures[cid].failed for cid in several})
    return {cid: by for cid, by in several.items() if cid in rose}


def capped_campaigns_resume(*, now: dt.datetime) -> int:
    """Campaigns the guard paused at a cap go on by themselves once the cap has room (raised, or a new day or
    month): the pause was the guard's, so is the resume."""
    events = list(
        GuardEvent.objects.filter(
            kind=GuardEventKind.CAP, resolved_at__isnull=True, campaign__status=CampaignStatus.PAUSED
        ).select_related("campaign", "campaign__tenant")
    )
    resumed = 0
    for event in events:
        campaign = event.campaign
        if not campaign.paused_reason.startswith(REASON_PREFIX):
            continue  # a person paused it again since: theirs to resume
        if caps_room(tenant=campaign.tenant, now=now) is not None:
            continue
        if _resolve(event, resolution=GuardEvent.Resolution.AUTO_RESUMED, user=None, now=now, baseline={}):
            campaign_resume(campaign=campaign)
            resumed += 1
    return resumed


# --- a send over a cap asks first ---------------------------------------------------------------------------


def send_over_caps(*, campaign: Campaign) -> CapReached | None:
    """Whether sending ``campaign`` now would cross one of its tenant's caps, by the preview's estimate (its
    segments, an MMS as one, and its cost): the send then asks for a confirmation (the API's
    ``confirm_over_cap``, the admin's confirmation page). ``None`` when it fits, or the tenant has no cap (then
    nothing is estimated: no cost for tenants without caps)."""
    if not any_cap(tenant_id=campaign.tenant_id):
        return None
    preview = campaign_preview_for(campaign=campaign)
    return send_estimate_over_caps(
        campaign=campaign,
        segments=preview.total_segments + preview.mms_recipients,
        cost=Decimal(preview.estimated_cost),
    )


# --- the Guard page -------------------------------------------------------------------------------------------


class NotResumable(Exception):
    """The event is not an open pause of a paused campaign (already resumed, or the campaign moved on)."""


def guard_event_resume(*, event: GuardEvent, user) -> Campaign:
    """Resume the campaign of an open automatic pause (the Guard page's one click), recorded in the audit log.

    The counters of this moment become the pause's baseline: an anomaly is judged again only on what follows.
    """
    if not event.is_open_pause or event.campaign is None or event.campaign.status != CampaignStatus.PAUSED:
        raise NotResumable("This pause is over: its campaign is not paused by the guard any more.")
    now = timezone.now()
    baseline = asdict(campaigns_figures([event.campaign_id])[event.campaign_id])
    if not _resolve(event, resolution=GuardEvent.Resolution.RESUMED, user=user, now=now, baseline=baseline):
        raise NotResumable("Someone else resumed it a moment ago.")
    campaign = event.campaign
    campaign_resume(campaign=campaign, user=user)
    audit_record(
        tenant=event.tenant_id,
        actor=user,
        channel=AuditChannel.ADMIN,
        action="guard_resume",
        object_type="campaign",
        object_id=campaign.pk,
        detail={"guard_event": event.pk, "kind": event.kind, "reason": event.reason},
    )
    logger.info("Campaign %s resumed from the Guard page by user %s", campaign.pk, getattr(user, "pk", None))
    return campaign
