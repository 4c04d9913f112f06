"""Phone numbers as the compliance app accepts them: E.164, or national in the tenant's country."""

from __future__ import annotations

import phonenumbers


def phone_normalize(value: str, *, default_country: str = "US") -> str | None:
    """E.164 of ``value``, or ``None`` when it is not a valid number."""
    try:
        parsed = phonenumbers.parse((value or "").strip(), default_country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sender_number(value: str, *, default_country: str = "US") -> str:
    """The E.164 number of an inbound ``From`` ("whatsapp:+1…", "+1 (415) …"), or the raw value if it is none."""
    raw = (value or "").strip()
    candidate = raw.rsplit(":", 1)[-1]
    try:
        parsed = phonenumbers.parse(candidate, default_country or None)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_possible_number(parsed):
        return raw
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
