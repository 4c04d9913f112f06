"""Sending rules the sender asks about: quiet hours and the frequency cap.

The compliance issue refines these (state rules, tenant settings); the
signatures are the seam the sender calls.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as pn_timezone

from tenants.models import Tenant

MOST_RESTRICTIVE_ZONE = "America/New_York"


def recipient_zones(*, phone_number: str, timezone: str = "") -> list[str]:
    """The recipient's candidate IANA zones: the contact's own, else from the number."""
    if timezone:
        return [timezone]
    try:
        zones = [z for z in pn_timezone.time_zones_for_number(phonenumbers.parse(phone_number)) if "/" in z]
    except phonenumbers.NumberParseException:
        zones = []
    return zones or [MOST_RESTRICTIVE_ZONE]


def next_send_time(*, tenant: Tenant, phone_number: str, timezone: str = "", now: dt.datetime) -> dt.datetime:
    """``now`` if the recipient may be texted now, else when their window next opens (aware UTC)."""
    start, end = tenant.quiet_hours_start, tenant.quiet_hours_end
    candidates = []
    for zone in recipient_zones(phone_number=phone_number, timezone=timezone):
        local = now.astimezone(ZoneInfo(zone))
        if start <= local.time() < end:
            candidates.append(now)
            continue
        day = local.date() if local.time() < start else local.date() + dt.timedelta(days=1)
        opens = dt.datetime.combine(day, start, tzinfo=ZoneInfo(zone))
        candidates.append(opens.astimezone(dt.UTC))
    # Every candidate zone must be inside its window: wait for the latest opening.
    return max(candidates)
