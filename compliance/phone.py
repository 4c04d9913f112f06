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
