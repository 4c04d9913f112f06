"""Reads of the guard: a tenant's settings and screen, what it blocked, its pauses, its use of the caps.

Every read here is over the guard's own small tables or the maintained counters, never a scan of messages.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from tenants.models import Tenant

from .geo import HIGH_RISK, Screen, contacts_by_prefix, countries_parse, describe
from .models import PAUSE_KINDS, BlockReason, GuardBlock, GuardEvent, GuardSettings
from .ranges import HIGH_RISK_COUNTRIES


def guard_settings_get(*, tenant: Tenant | int) -> GuardSettings:
    """The tenant's guard settings, created with the documented defaults on first use."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    obj, _ = GuardSettings.objects.get_or_create(tenant_id=tenant_id)
    return obj


def allowed_countries(*, tenant: Tenant, settings: GuardSettings | None = None) -> list[str]:
    """The ISO countries the tenant may text: its settings' list, else its own country (``default_country``)."""
    settings = settings or guard_settings_get(tenant=tenant)
    try:
        codes = countries_parse(settings.allowed_countries)
    except ValueError:  # saved before validation existed: the safe reading is the tenant's own country
        codes = []
    return codes or [(tenant.default_country or "US").upper()]


def screen_for(*, tenant: Tenant) -> Screen:
    """The tenant's screen (geo permissions and high-risk ranges), for one fan-out or one preview."""
    settings = guard_settings_get(tenant=tenant)
    return Screen(
        allowed=frozenset(allowed_countries(tenant=tenant, settings=settings)),
        block_high_risk=settings.block_high_risk,
    )


def high_risk_countries_allowed(*, tenant: Tenant) -> list[str]:
    """Countries on Twilio's high-risk list that the tenant allows (the Guard page warns about them)."""
    return sorted(set(allowed_countries(tenant=tenant)) & HIGH_RISK_COUNTRIES)


def blocked_in_audience(*, tenant: Tenant, contacts: QuerySet) -> dict[str, int]:
    """``{reason: count}`` of the contacts (a queryset of the audience, opted-out ones left out) the screen would
    block: ONE aggregate query grouped by the numbers' first characters, each group judged once."""
    screen = screen_for(tenant=tenant)
    groups = contacts_by_prefix(contacts)
    found: dict[str, int] = defaultdict(int)
    for prefix, n in groups:
        verdict = screen.verdict(prefix or "")
        if verdict is not None:
            found[verdict[0]] += n
    return dict(found)


@dataclass(frozen=True)
class BlockedRow:
    reason: str
    reason_label: str
    code: str
    label: str
    count: int


def blocked_by_reason(*, tenant_id: int, campaign_id: int | None = None) -> list[BlockedRow]:
    """The recipients the guard blocked, by reason and country or range (from ``GuardBlock`` counters)."""
    rows = GuardBlock.objects.filter(tenant_id=tenant_id)
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    totals = rows.order_by().values("reason", "code").annotate(n=Sum("count")).values_list("reason", "code", "n")
    labels = dict(BlockReason.choices)
    out = []
    for reason, code, n in totals:
        if not n:
            continue
        if reason == BlockReason.HIGH_RISK:
            what, source = HIGH_RISK.get(code, ("", ""))
            label = f"{what} (source: {source})" if what else describe((reason, code))
        else:
            label = describe((reason, code)).removeprefix("Blocked by the fraud guard: ")
        out.append(BlockedRow(reason, labels.get(reason, reason), code, label, n))
    return sorted(out, key=lambda r: (-r.count, r.reason, r.code))


def guard_events(*, tenant_id: int | None, limit: int = 200) -> QuerySet[GuardEvent]:
    """A tenant's guard events, newest first (``None``: every tenant's, for a superuser)."""
    qs = GuardEvent.objects.select_related("campaign", "resolved_by", "tenant")
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs.order_by("-created_at", "-id")[:limit]


def open_pause_for(*, campaign_id: int) -> GuardEvent | None:
    """The campaign's open automatic pause, if any."""
    return (
        GuardEvent.objects.filter(campaign_id=campaign_id, kind__in=PAUSE_KINDS, resolved_at__isnull=True)
        .order_by("-created_at")
        .first()
    )


def money(micros: int) -> Decimal:
    return (Decimal(micros) / Decimal(1_000_000)).quantize(Decimal("0.01"))
