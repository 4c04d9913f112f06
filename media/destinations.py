"""Which numbers can take an MMS: Twilio sends MMS only to the US and Canada (its MMS Converter turns the
rest into an SMS with a link, which we do ourselves so the link is the recipient's own and counted).

One rule for the fan-out (``mms_capable``, per number) and the preview (``mms_capable_q``, in SQL), so the
preview's counts are what the send does:

- ``+1`` numbers (the North American Numbering Plan, 25 regions) by area code: the area codes of the NANP
  regions outside ``MMS_COUNTRIES`` (Puerto Rico, Jamaica, the Bahamas, …) come from phonenumbers' metadata
  (each such region's leading digits); every other ``+1`` number is the US or Canada;
- other numbers by their country calling code, for the countries of ``MMS_COUNTRIES`` outside the NANP;
- contacts whose earlier message Twilio refused or failed as a landline (``LANDLINE_CODES``: 21614 "not a
  mobile number", 30006 "landline or unreachable carrier", ../shared/GATEWAY.md) are flagged: never MMS.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.db.models import Q
from phonenumbers import PhoneMetadata

LANDLINE_CODES = (21614, 30006)
NANP = 1


@lru_cache(maxsize=8)
def _rules(countries: tuple[str, ...]) -> tuple[bool, frozenset[str], tuple[str, ...]]:
    """(``+1`` numbers may take MMS at all, the NANP area codes that may not, other calling-code prefixes)."""
    wanted = {c.upper() for c in countries}
    nanp_ok = bool(wanted & {"US", "CA"})
    refused: set[str] = set()
    for region in phonenumbers.region_codes_for_country_code(NANP):
        meta = PhoneMetadata.metadata_for_region(region)
        leading = getattr(meta, "leading_digits", None)
        if region in wanted or not leading:
            continue
        pattern = re.compile(leading)
        refused.update(f"{npa}" for npa in range(200, 1000) if pattern.match(f"{npa}2345678"))
    others = tuple(
        sorted(
            {
                f"+{phonenumbers.country_code_for_region(c)}"
                for c in wanted
                if phonenumbers.country_code_for_region(c) not in (0, NANP)
            }
        )
    )
    return nanp_ok, frozenset(refused), others


def rules() -> tuple[bool, frozenset[str], tuple[str, ...]]:
    return _rules(tuple(sorted(settings.MMS_COUNTRIES)))


def mms_capable(phone_number: str) -> bool:
    """Whether an E.164 number is in a country Twilio sends MMS to (landline flags aside)."""
    nanp_ok, refused_npas, others = rules()
    if phone_number.startswith("+1"):
        return nanp_ok and phone_number[2:5] not in refused_npas
    return phone_number.startswith(others) if others else False


def mms_capable_q(field: str = "phone_number") -> Q:
    """``mms_capable`` as a filter on a phone-number column."""
    nanp_ok, refused_npas, others = rules()
    q = Q(pk__in=[])
    if nanp_ok:
        nanp = Q(**{f"{field}__startswith": "+1"})
        for npa in sorted(refused_npas):
            nanp &= ~Q(**{f"{field}__startswith": f"+1{npa}"})
        q |= nanp
    for prefix in others:
        q |= Q(**{f"{field}__startswith": prefix})
    return q
