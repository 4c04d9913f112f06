"""Where a number is, and whether the guard lets it be texted: a set lookup on the number's first characters.

The fan-out screens every recipient, so the verdict must cost a dictionary lookup, not a parse. It depends only
on the first ``MAX_PREFIX_LENGTH`` characters of the E.164 number ("+" and six digits): enough for the country
(the country code, and for shared codes such as +1 or +44 the leading digits that tell the territories apart:
``+1876`` is Jamaica, ``+1416`` Canada) and for every high-risk prefix (``guard.ranges``). So each ``Screen``
judges each distinct prefix once and remembers it; an audience of a million US numbers has a few thousand.

Countries come from libphonenumber's metadata (the ``phonenumbers`` package): the regions of a country code, the
leading digits of the ones that share it, and for the rest (the United States and Canada share +1 with no
leading digits of their own) whether a number of that prefix is valid in the region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from django.db.models import Count, QuerySet
from django.db.models.functions import Left
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from .ranges import HIGH_RISK_PREFIXES, MAX_PREFIX_LENGTH

#: The region libphonenumber gives the non-geographic codes (satellite, international networks, …).
NON_GEOGRAPHIC = "001"
UNKNOWN_REGION = "ZZ"
_PAD = "2345678901234"  # digits that make a prefix into a plausible number of its region
HIGH_RISK = {prefix: (what, source) for prefix, what, source in HIGH_RISK_PREFIXES}

COUNTRY, HIGH_RISK_RANGE = "country", "high_risk"  # BlockReason values (models stay out of this module)


def prefix_key(number: str) -> str:
    """The part of an E.164 number a verdict depends on."""
    return number[:MAX_PREFIX_LENGTH]


def high_risk_prefix(number: str) -> str | None:
    """The listed high-risk prefix ``number`` starts with (the longest), or None."""
    for n in range(min(len(number), MAX_PREFIX_LENGTH), 1, -1):
        if number[:n] in HIGH_RISK:
            return number[:n]
    return None


@lru_cache(maxsize=65536)
def region_of_prefix(key: str) -> str:
    """The ISO region of the numbers starting with ``key`` ("+" and up to six digits), ``001`` for the
    non-geographic codes, ``ZZ`` when no country code matches."""
    digits = key.lstrip("+")
    for length in (1, 2, 3):
        if len(digits) < length:
            break
        code = int(digits[:length])
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions and digits[:length] == str(code):
            return _region_among(code, regions, digits[length:])
    return UNKNOWN_REGION


def _region_among(code: int, regions: tuple[str, ...], national: str) -> str:
    if NON_GEOGRAPHIC in regions:
        return NON_GEOGRAPHIC
    if len(regions) == 1:
        return regions[0]
    # The main region is listed first. Territories with leading digits of their own (Jamaica's 876) are told
    # apart by those; then the main region, then the others (Canada), by whether a number of this prefix is
    # valid there.
    rest: list[tuple[str, object]] = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        if metadata.leading_digits:
            if national and re.match(metadata.leading_digits, national):
                return region
        else:
            rest.append((region, metadata))
    for region, metadata in rest:
        if national and _plausible_in(code, national, region, metadata):
            return region
    return regions[0]


def _plausible_in(code: int, national: str, region: str, metadata) -> bool:
    lengths = metadata.general_desc.possible_length or (10,)
    for length in sorted(set(lengths)):
        if length <= len(national):
            continue
        candidate = national + _PAD[: length - len(national)]
        try:
            number = phonenumbers.parse(f"+{code}{candidate}")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number_for_region(number, region):
            return True
    return False


def region_of(number: str) -> str:
    return region_of_prefix(prefix_key(number))


@dataclass
class Screen:
    """One tenant's verdicts: ``allowed`` ISO regions, and whether high-risk ranges are blocked.

    ``verdict(number)`` is ``None`` (may be texted) or ``(reason, code)``: ``("high_risk", "+881")`` or
    ``("country", "NG")``. Remembered per prefix, so a chunk of recipients costs a lookup each.
    """

    allowed: frozenset[str]
    block_high_risk: bool = True
    _seen: dict[str, tuple[str, str] | None] = field(default_factory=dict, repr=False)

    def verdict(self, number: str) -> tuple[str, str] | None:
        key = number[:MAX_PREFIX_LENGTH]
        try:
            return self._seen[key]
        except KeyError:
            found = self._seen[key] = self._judge(key)
            return found

    def _judge(self, key: str) -> tuple[str, str] | None:
        if self.block_high_risk:
            prefix = high_risk_prefix(key)
            if prefix is not None:
                return HIGH_RISK_RANGE, prefix
        region = region_of_prefix(key)
        if region not in self.allowed:
            return COUNTRY, region
        return None

    def describe(self, verdict: tuple[str, str]) -> str:
        """The reason a blocked message carries (``Message.error_message``) and the Guard page shows."""
        return describe(verdict)


def describe(verdict: tuple[str, str]) -> str:
    reason, code = verdict
    if reason == HIGH_RISK_RANGE:
        what, _source = HIGH_RISK.get(code, ("a high-risk range", ""))
        return f"Blocked by the fraud guard: high-risk range {code} ({what})"
    if code == NON_GEOGRAPHIC:
        return "Blocked by the fraud guard: a non-geographic number, outside the allowed countries"
    return f"Blocked by the fraud guard: {code} is not among the tenant's allowed countries"


def countries_parse(text: str) -> list[str]:
    """``"us, CA ;pr"`` → ``["US", "CA", "PR"]``; raises ``ValueError`` naming an unknown code."""
    codes = [c.strip().upper() for c in re.split(r"[\s,;]+", text or "") if c.strip()]
    known = phonenumbers.SUPPORTED_REGIONS
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValueError(f"Unknown country code: {', '.join(unknown)} (two-letter ISO codes, e.g. US, CA)")
    return list(dict.fromkeys(codes))


def contacts_by_prefix(contacts: QuerySet) -> QuerySet:
    """``(prefix, count)`` of ``contacts`` grouped by their numbers' first ``MAX_PREFIX_LENGTH`` characters: ONE
    aggregate query, enough to judge every number by its country and range (the screen, the cost estimate)."""
    return (
        contacts.order_by()
        .annotate(prefix=Left("phone_number", MAX_PREFIX_LENGTH))
        .values("prefix")
        .annotate(n=Count("id"))
        .values_list("prefix", "n")
    )
