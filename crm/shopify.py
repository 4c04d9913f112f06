"""Shopify's webhook payloads (REST Admin API shapes) read into what this app stores. Pure: no database.

Orders (``orders/create``, ``orders/paid``): ``id``, ``total_price`` and ``currency``; who bought from ``phone``,
``customer.phone``, ``customer.id``, the billing and shipping addresses' ``phone``; where they came from in
``landing_site`` (our short link's redirect appends ``utm_source=sms``, ``utm_medium=sms`` and
``utm_campaign=<the campaign's slug>``) and ``note_attributes`` (a storefront may keep the short-link code there,
under ``sms_code``; a landing URL's ``sms_code`` query parameter counts too).

Customers (``customers/create``, ``customers/update``): ``id`` (the external id), ``phone``, ``first_name``,
``last_name``, ``email``, ``tags`` (comma-separated) and ``sms_marketing_consent`` (``state``: subscribed,
not_subscribed, unsubscribed, pending, redacted; ``opt_in_level``; ``consent_updated_at``;
``consent_collected_from``). ``accepts_marketing`` / ``email_marketing_consent`` are about email, not SMS: they
never change SMS consent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, urlsplit

from django.utils.dateparse import parse_datetime

from contacts.models import ConsentStatus

ORDER_TOPICS = ("orders/create", "orders/paid")
CUSTOMER_TOPICS = ("customers/create", "customers/update")
#: Where a storefront may put the short-link code (note attribute name, or landing-URL query parameter).
CODE_KEYS = ("sms_code", "smsc_code", "short_code")


class PayloadError(ValueError):
    pass


@dataclass
class Order:
    order_id: str
    value: Decimal
    currency: str
    created_at: dt.datetime | None
    phones: list[str] = field(default_factory=list)
    customer_id: str = ""
    code: str = ""
    utm_source: str = ""
    utm_campaign: str = ""


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value, limit: int = 255) -> str:
    return str(value).strip()[:limit] if value not in (None, "") else ""


def _when(value) -> dt.datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def order_read(payload: dict) -> Order:
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadError("id: an order needs its id.")
    try:
        value = Decimal(str(payload.get("total_price") if payload.get("total_price") is not None else ""))
    except InvalidOperation:
        raise PayloadError("total_price: not a decimal amount.") from None
    if not value.is_finite() or value < 0:
        raise PayloadError("total_price: not an amount.")
    currency = _text(payload.get("currency") or payload.get("presentment_currency"), 3).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PayloadError("currency: an ISO 4217 code such as USD.")
    customer = _dict(payload.get("customer"))
    phones = [
        payload.get("phone"),
        customer.get("phone"),
        _dict(payload.get("billing_address")).get("phone"),
        _dict(payload.get("shipping_address")).get("phone"),
        _dict(customer.get("default_address")).get("phone"),
    ]
    order = Order(
        order_id=_text(payload["id"], 100),
        value=value.quantize(Decimal("0.01")),
        currency=currency,
        created_at=_when(payload.get("created_at")),
        phones=list(dict.fromkeys(_text(p, 40) for p in phones if p)),
        customer_id=_text(customer.get("id"), 64),
    )
    attributes = payload.get("note_attributes") if isinstance(payload.get("note_attributes"), list) else []
    for item in attributes:
        item = _dict(item)
        if _text(item.get("name")).lower() in CODE_KEYS and item.get("value"):
            order.code = _text(item["value"], 32)
    landing = _text(payload.get("landing_site"), 2000)
    if landing:
        query = parse_qs(urlsplit(landing).query)
        order.utm_source = (query.get("utm_source") or [""])[0][:100]
        order.utm_campaign = (query.get("utm_campaign") or [""])[0][:100]
        if not order.code:
            for key in CODE_KEYS:
                if query.get(key):
                    order.code = query[key][0][:32]
                    break
    return order


def customer_read(payload: dict) -> dict:
    """``contacts.upsert.contact_upsert`` keyword arguments (``phone_number`` still to be normalised)."""
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadError("id: a customer needs its id.")
    phone = _text(payload.get("phone"), 40)
    address_phone = _text(_dict(payload.get("default_address")).get("phone"), 40)
    values: dict = {}
    for name, limit in (("first_name", 100), ("last_name", 100), ("email", 254)):
        if payload.get(name):
            values[name] = _text(payload[name], limit)
    consent = _dict(payload.get("sms_marketing_consent"))
    state = _text(consent.get("state")).lower()
    # SMS consent belongs to the customer's own ``phone``: a number found only on an address gets none.
    if phone and state == "subscribed":
        when = _when(consent.get("consent_updated_at")) or _when(payload.get("updated_at"))
        values["consent_status"] = ConsentStatus.GRANTED
        values["consent_at"] = when
        collected = _text(consent.get("consent_collected_from"), 40) or "unknown"
        level = _text(consent.get("opt_in_level"), 40) or "unknown"
        values["consent_source"] = f"shopify (collected from {collected}, {level})"[:200]
    elif phone and state == "unsubscribed":
        values["consent_status"] = ConsentStatus.REVOKED
        values["consent_source"] = "shopify"
    tags = [t.strip()[:64] for t in _text(payload.get("tags"), 5000).split(",") if t.strip()]
    return {
        "phone_number": phone or address_phone or None,
        "values": values,
        "tags": tags,
        "source": "shopify",
        "external_id": _text(payload["id"], 64),
    }
