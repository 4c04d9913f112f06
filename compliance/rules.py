"""Sending rules the sender asks about: quiet hours and the frequency cap.

Quiet hours: the federal window (8am–9pm recipient local time) and the stricter
US states below, intersected with the tenant's own window. The state comes from
the number's area code (phonenumbers' geocoder) and, when the contact has one,
from its time zone; a US number whose state cannot be told gets the most
restrictive window of the table. Start is inclusive, end exclusive: a window of
8:00–21:00 allows 20:59:59 and refuses 21:00.

Sources: 47 CFR 64.1200(c)(1) (federal); Fla. Stat. 501.059(8)(b); Okla. Stat.
15 §775C.4; Md. Com. Law 14-4503; Mass. 940 CMR 3.00 / M.G.L. c.159C; Wash. RCW
80.36.390; Ala. Code 8-19A-5 (no Sundays); La. R.S. 45:844.31 (no Sundays);
Miss. Code 77-3-725 (no Sundays); Conn. Gen. Stat. 42-288a; Nev. NRS 228.590;
Tex. Bus. & Com. Code 301.051 (Sunday from noon); Utah Code 13-25a-103 (no
Sundays); R.I. Gen. Laws 5-61-3.4 (weekdays 9–6, Saturday 10–5, no Sundays).
Holidays are not modelled. This table is engineering, not legal advice.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.db.models import Count
from phonenumbers import timezone as pn_timezone

from common.db import any_of
from tenants.models import Tenant

MOST_RESTRICTIVE_ZONE = "America/New_York"
#: Zones a US recipient of unknown location may be in: all must be inside the window.
UNKNOWN_US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time


def _w(start: int, end: int) -> Window:
    return Window(dt.time(start), dt.time(end))


@dataclass(frozen=True)
class StateRule:
    """A state's calling window, with per-weekday exceptions (``None`` = no sends that day)."""

    state: str
    window: Window
    days: dict[int, Window | None] = field(default_factory=dict)

    def window_on(self, weekday: int) -> Window | None:
        return self.days.get(weekday, self.window)


FEDERAL = StateRule("US", _w(8, 21))
STATE_RULES: dict[str, StateRule] = {
    rule.state: rule
    for rule in [
        StateRule("FL", _w(8, 20)),
        StateRule("OK", _w(8, 20)),
        StateRule("MD", _w(8, 20)),
        StateRule("MA", _w(8, 20)),
        StateRule("WA", _w(8, 20)),
        StateRule("AL", _w(8, 20), {SUN: None}),
        StateRule("LA", _w(8, 20), {SUN: None}),
        StateRule("MS", _w(8, 20), {SUN: None}),
        StateRule("CT", _w(9, 20)),
        StateRule("NV", _w(9, 20)),
        StateRule("TX", _w(9, 21), {SUN: _w(12, 21)}),
        StateRule("UT", _w(8, 21), {SUN: None}),
        StateRule("RI", _w(9, 18), {SAT: _w(10, 17), SUN: None}),
    ]
}
UNKNOWN_STATE = "??"

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Washington D.C.": "DC", "Florida": "FL",
    "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI",
    "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}  # fmt: skip
_STATE_CODES = set(US_STATES.values())
#: IANA zones that lie in exactly one state (most US zones span several).
ZONE_STATE = {
    "America/Phoenix": "AZ", "America/Boise": "ID", "America/Detroit": "MI", "America/Menominee": "MI",
    "Pacific/Honolulu": "HI", "America/Anchorage": "AK", "America/Juneau": "AK", "America/Sitka": "AK",
    "America/Nome": "AK", "America/Yakutat": "AK", "America/Metlakatla": "AK", "America/Adak": "AK",
    "America/Indiana/Indianapolis": "IN", "America/Indiana/Knox": "IN", "America/Indiana/Marengo": "IN",
    "America/Indiana/Petersburg": "IN", "America/Indiana/Tell_City": "IN", "America/Indiana/Vevay": "IN",
    "America/Indiana/Vincennes": "IN", "America/Indiana/Winamac": "IN", "America/Kentucky/Louisville": "KY",
    "America/Kentucky/Monticello": "KY", "America/North_Dakota/Center": "ND", "America/North_Dakota/New_Salem": "ND",
    "America/North_Dakota/Beulah": "ND",
}  # fmt: skip


def _parse(phone_number: str):
    try:
        return phonenumbers.parse(phone_number)
    except phonenumbers.NumberParseException:
        return None


def _is_us(parsed) -> bool:
    return (
        parsed is not None and phonenumbers.region_code_for_number(parsed) in (None, "US") and parsed.country_code == 1
    )


@functools.lru_cache(maxsize=1024)
def _valid_zone(zone: str) -> bool:
    if not zone or "/" not in zone:
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _analyse(phone_number: str, timezone: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """(candidate zones, states) of a recipient, with one parse and one geocoder lookup."""
    # Imported here, not at module level: the geocoder's data for every country is ~100 MB of
    # resident memory, which processes that never compute quiet hours (web, fan-out) need not carry.
    from phonenumbers import geocoder

    zone = timezone if _valid_zone(timezone) else ""
    parsed = _parse(phone_number)
    nanp = parsed is not None and parsed.country_code == 1
    description = geocoder.description_for_valid_number(parsed, "en") if nanp else ""

    states: set[str] = set()
    tail = description.rsplit(", ", 1)[-1] if description else ""
    if tail in _STATE_CODES:
        states.add(tail)
    elif description in US_STATES:
        states.add(US_STATES[description])
    if zone in ZONE_STATE:
        states.add(ZONE_STATE[zone])
    if not states and (parsed is None or _is_us(parsed)):
        states.add(UNKNOWN_STATE)

    if zone:
        zones = [zone]
    elif nanp and description:
        zones = [z for z in pn_timezone.time_zones_for_geographical_number(parsed) if _valid_zone(z)]
    elif parsed is not None and not nanp:
        zones = [z for z in pn_timezone.time_zones_for_number(parsed) if _valid_zone(z)]
    else:
        zones = []
    return tuple(zones or UNKNOWN_US_ZONES), frozenset(states)


def recipient_state(*, phone_number: str, timezone: str = "") -> set[str]:
    """US states the recipient may be in: from the area code and the contact's zone.

    ``{"??"}`` for a US number whose state cannot be told; empty for a non-US number.
    """
    return set(recipient_profile(phone_number=phone_number, timezone=timezone)[1])


def recipient_zones(*, phone_number: str, timezone: str = "") -> list[str]:
    """The recipient's candidate IANA zones: the contact's own, else from the number.

    A number whose zone cannot be told (toll-free, non-geographic, unparseable) gets
    every US zone: the message may go only when it is inside the window in all of them.
    """
    return list(recipient_profile(phone_number=phone_number, timezone=timezone)[0])


def window_for(*, states: set[str] | frozenset[str], weekday: int, tenant: Tenant | None = None) -> Window | None:
    """The sending window on ``weekday`` (0 = Monday) for a recipient in any of ``states``."""
    if tenant is not None and not tenant.legal_quiet_hours:
        return Window(tenant.quiet_hours_start, tenant.quiet_hours_end)
    rules = [FEDERAL]
    for state in states:
        if state == UNKNOWN_STATE:
            rules.extend(STATE_RULES.values())
        elif state in STATE_RULES:
            rules.append(STATE_RULES[state])
    windows = [r.window_on(weekday) for r in rules]
    if tenant is not None:
        windows.append(Window(tenant.quiet_hours_start, tenant.quiet_hours_end))
    if any(w is None for w in windows):
        return None
    start = max(w.start for w in windows)
    end = min(w.end for w in windows)
    return Window(start, end) if start < end else None


def _next_open_in_zone(*, zone: str, states: frozenset[str], tenant: Tenant, at: dt.datetime) -> dt.datetime | None:
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        window = window_for(states=states, weekday=day.weekday(), tenant=tenant)
        if window is None:
            continue
        opens = dt.datetime.combine(day, window.start, tzinfo=tz)
        closes = dt.datetime.combine(day, window.end, tzinfo=tz)
        if opens <= local < closes:
            return at
        if local < opens:
            return opens.astimezone(dt.UTC)
    return None


_PROFILES: dict[tuple[str, str], tuple[tuple[str, ...], frozenset[str]]] = {}
_PROFILES_MAX = 50_000


def recipient_profile(*, phone_number: str, timezone: str = "") -> tuple[tuple[str, ...], frozenset[str]]:
    """(candidate zones, states) of a recipient, memoised.

    For a NANP number both depend only on +1 NPA-NXX (the finest prefix in
    phonenumbers' geocoding and time-zone data), so a fan-out of 100k numbers
    computes them a few hundred times, not 100k.
    """
    nanp = phone_number.startswith("+1") and len(phone_number) == 12
    key = (phone_number[:8] if nanp else phone_number, timezone)
    profile = _PROFILES.get(key)
    if profile is None:
        if len(_PROFILES) >= _PROFILES_MAX:
            _PROFILES.clear()
        profile = _PROFILES[key] = _analyse(phone_number, timezone)
    return profile


def next_send_time(*, tenant: Tenant, phone_number: str, timezone: str = "", now: dt.datetime) -> dt.datetime:
    """``now`` if the recipient may be texted now, else when their window next opens (aware UTC).

    Every candidate zone must be inside the window at once; the search steps to the
    latest opening until all agree.
    """
    zones, states = recipient_profile(phone_number=phone_number, timezone=timezone)
    at = now
    for _ in range(20):
        opens = [_next_open_in_zone(zone=z, states=states, tenant=tenant, at=at) for z in zones]
        if any(o is None for o in opens):
            # No window in a week (a tenant window that never opens): try again in a week.
            return at + dt.timedelta(days=7)
        latest = max(opens)
        if latest == at:
            return at
        at = latest
    return at


def frequency_cap_for(*, tenant: Tenant) -> int:
    from .selectors import compliance_settings_get

    return compliance_settings_get(tenant=tenant).frequency_cap


def contacts_over_cap(*, tenant: Tenant, contact_ids, now: dt.datetime) -> set[int]:
    """Contacts that already had the tenant's cap of marketing messages in the 24 hours before ``now``.

    Counts messages of the tenant's campaigns handed to the gateway (``sent_at``) in
    ``(now - 24h, now]``. A cap of 0 means no cap.
    """
    from campaigns.models import Message

    cap = frequency_cap_for(tenant=tenant)
    ids = list(contact_ids)
    if not cap or not ids:
        return set()
    over: set[int] = set()
    for i in range(0, len(ids), 5000):
        rows = (
            Message.objects.filter(
                any_of("contact_id", ids[i : i + 5000]),
                tenant=tenant,
                sent_at__gt=now - dt.timedelta(hours=24),
                sent_at__lte=now,
            )
            .values("contact_id")
            .annotate(n=Count("id"))
            .filter(n__gte=cap)
            .values_list("contact_id", flat=True)
        )
        over.update(rows)
    return over
