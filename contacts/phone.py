"""Phone numbers in E.164, and the time zone a number implies."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

UNKNOWN_ZONE = "Etc/Unknown"


class InvalidPhoneNumber(ValueError):
    pass


def _parse(raw: str, default_country: str) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("A phone number is required.")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, (default_country or "US").upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number.")
    return parsed


def _zone(parsed: phonenumbers.PhoneNumber) -> str:
    zones = pn_timezone.time_zones_for_number(parsed)
    return "" if not zones or zones[0] == UNKNOWN_ZONE else zones[0]


def phone_normalize(raw: str, *, default_country: str = "US") -> str:
    """``raw`` in E.164 (``+14155550100``); national formats are read in ``default_country``.

    Raises ``InvalidPhoneNumber`` with a message a person can act on.
    """
    return phonenumbers.format_number(_parse(raw, default_country), phonenumbers.PhoneNumberFormat.E164)


def phone_normalize_with_zone(raw: str, *, default_country: str = "US") -> tuple[str, str]:
    """``(e164, zone)`` from one parse: the import's hot path."""
    parsed = _parse(raw, default_country)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), _zone(parsed)


def timezone_for_number(e164: str) -> str:
    """The IANA zone an E.164 number implies (the first, when a prefix spans several), or ''."""
    try:
        return _zone(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return ""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_is_valid(name: str) -> bool:
    return name in _zones()
