"""What a campaign costs where its recipients are: a per-tenant price per country, the US list price elsewhere.

The estimate (``campaigns.authoring.campaign_preview``) groups its recipients by country with ONE grouped query
(by the numbers' first characters, as the fraud guard's screen does: ``guard.geo.region_of_prefix``; contacts
have no country column, the E.164 number says it) and weighs each country's prices by its recipients.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from guard.geo import contacts_by_prefix, region_of_prefix
from media.destinations import mms_capable

from .models import CountryPrice


def default_segment_price() -> Decimal:
    return Decimal(str(getattr(settings, "SMS_PRICE_PER_SEGMENT", "0.0083")))


def default_mms_price() -> Decimal:
    """Twilio bills an MMS per message, whatever its length (no segments)."""
    return Decimal(str(getattr(settings, "MMS_PRICE_PER_MESSAGE", "0.0220")))


def price_table(*, tenant_id: int) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """``{country: (price per segment, price per MMS)}`` of the tenant's rows; ``None``: the default."""
    rows = CountryPrice.objects.filter(tenant_id=tenant_id).values_list(
        "country", "sms_price_per_segment", "mms_price_per_message"
    )
    return {country: (sms, mms) for country, sms, mms in rows}


@dataclass
class CountryCost:
    """The recipients of one country in an estimate, and the prices they cost (``own``: the tenant's row)."""

    country: str
    recipients: int
    mms_recipients: int  # of them, in a country Twilio sends MMS to (landlines aside)
    price_per_segment: Decimal
    price_per_mms: Decimal
    own: bool

    def as_dict(self) -> dict:
        return {
            "country": self.country,
            "recipients": self.recipients,
            "price_per_segment": str(self.price_per_segment),
            "price_per_mms": str(self.price_per_mms),
            "default": not self.own,
        }


def costs_by_country(*, tenant_id: int, contacts: QuerySet, skip=None) -> list[CountryCost]:
    """The ``contacts`` by country with their prices, largest first: ONE grouped query on the numbers' prefixes.

    ``skip(prefix)``: a prefix group left out (the fraud guard's blocked ones, never sent, never billed)."""
    table = price_table(tenant_id=tenant_id)
    sms_default, mms_default = default_segment_price(), default_mms_price()
    groups = contacts_by_prefix(contacts)
    found: dict[str, CountryCost] = {}
    for prefix, n in groups:
        prefix = prefix or ""
        if skip is not None and skip(prefix):
            continue
        country = region_of_prefix(prefix)
        entry = found.get(country)
        if entry is None:
            sms, mms = table.get(country, (None, None))
            entry = found[country] = CountryCost(
                country, 0, 0, sms if sms is not None else sms_default, mms if mms is not None else mms_default,
                country in table,
            )  # fmt: skip
        entry.recipients += n
        if mms_capable(prefix):
            entry.mms_recipients += n
    return sorted(found.values(), key=lambda c: (-c.recipients, c.country))


def average_price(costs: list[CountryCost], *, mms: bool = False, only_mms_capable: bool | None = None) -> Decimal:
    """The price per segment (``mms``: per MMS) weighed by recipients; ``only_mms_capable``: over the recipients
    who can (True) or cannot (False) take an MMS. The default price when there is nobody to weigh."""
    total, weight = Decimal(0), 0
    for c in costs:
        n = (
            c.recipients
            if only_mms_capable is None
            else c.mms_recipients
            if only_mms_capable
            else c.recipients - c.mms_recipients
        )
        total += n * (c.price_per_mms if mms else c.price_per_segment)
        weight += n
    if not weight:
        return default_mms_price() if mms else default_segment_price()
    return total / weight


def country_price_set(
    *, tenant_id: int, country: str, sms_price_per_segment: Decimal | None, mms_price_per_message: Decimal | None
) -> CountryPrice:
    """Write a country's prices (an empty one: the default)."""
    row, _ = CountryPrice.objects.update_or_create(
        tenant_id=tenant_id,
        country=country.upper(),
        defaults={"sms_price_per_segment": sms_price_per_segment, "mms_price_per_message": mms_price_per_message},
    )
    return row
