"""Phone numbers in E.164, and the time zone a number implies."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

UNKNOWN_ZONE = "Etc/Unknown"


class InvalidPhoneNumber(ValueError):
    pass


def _parse(raw: str, default_country: str) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("A phone number is required.")
    if text.startswith("00"):
        text = "+" + text[2:]
    region = (default_country or "US").upper()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.") from exc
    # Checking the tenant's own country first is much cheaper (+1 spans 25 regions); then any.
    if not (phonenumbers.is_valid_number_for_region(parsed, region) or phonenumbers.is_valid_number(parsed)):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number.")
    return parsed


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return f"+{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"


@lru_cache(maxsize=8192)
def _zone_for_digits(prefix: str) -> str:
    for length in range(min(len(prefix), TIMEZONE_LONGEST_PREFIX), 0, -1):
        zones = TIMEZONE_DATA.get(prefix[:length])
        if zones:
            # One zone: that one. Several (a whole country such as +1): unknown rather than a guess.
            return zones[0] if len(zones) == 1 and zones[0] != UNKNOWN_ZONE else ""
    return ""


def _zone(e164: str) -> str:
    return _zone_for_digits(e164[1 : 1 + TIMEZONE_LONGEST_PREFIX])


def phone_normalize(raw: str, *, default_country: str = "US") -> str:
    """``raw`` in E.164 (``+14155550100``); national formats are read in ``default_country``.

    Raises ``InvalidPhoneNumber`` with a message a person can act on.
    """
    return _e164(_parse(raw, default_country))


def phone_normalize_with_zone(raw: str, *, default_country: str = "US") -> tuple[str, str]:
    """``(e164, zone)`` from one parse: the import's hot path. ``zone`` is '' when the number spans several."""
    e164 = _e164(_parse(raw, default_country))
    return e164, _zone(e164)


def timezone_for_number(e164: str) -> str:
    """The IANA zone an E.164 number implies, or '' when it is unknown or spans several zones."""
    return _zone(e164) if e164.startswith("+") else ""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_is_valid(name: str) -> bool:
    return name in _zones()
