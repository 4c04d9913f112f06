"""A segment's definition: its shape, its validation, and its compilation to ONE ``Q`` over ``Contact``.

A definition is groups of conditions. **Any group** may match (OR); **within a group, every condition** must
(AND)::

    {"groups": [
      [{"type": "field", "field": "city", "op": "equals", "value": "Boston"},
       {"type": "engagement", "event": "clicked", "op": "in_last_days", "days": 30}],
      [{"type": "tag", "op": "has", "value": "vip"}]
    ]}

reads "(city is Boston AND clicked in the last 30 days) OR tagged vip".

Conditions:

- ``field``: ``field`` is a contact field (``first_name``, ``last_name``, ``email``, ``phone_number``,
  ``timezone``), ``created_at``, or the name of a custom field. Text: ``equals``, ``not_equals``
  (case-insensitive; a missing value is "not equal"), ``contains``, ``empty``, ``not_empty``. Numbers (custom
  fields): ``eq``, ``gt``, ``gte``, ``lt``, ``lte`` (a value that is not a number never matches). Dates
  (``created_at`` and custom fields holding ISO dates, ``2026-01-31``): ``before``, ``after`` (a date in
  ``value``), ``in_last_days``, ``not_in_last_days`` (``days``).
- ``tag``: ``has`` / ``has_not`` the tag named in ``value``.
- ``consent``: ``is`` / ``is_not`` one of ``granted``, ``unknown``, ``revoked``.
- ``engagement``: ``event`` ``delivered`` (a message of the tenant's delivered), ``clicked`` (a human click),
  ``replied`` (a plain reply, not a keyword such as STOP), ``converted`` (a conversion reported for the
  contact); ``op`` ``in_last_days`` / ``not_in_last_days`` (``days``), ``ever``, ``never``.
- ``journey``: membership of the journey whose id is ``journey``: ``op`` ``in`` (an active run now), ``not_in``,
  ``completed`` (a run that went to the end), ``ever`` (any run), ``never``. Another tenant's journey matches no one.

Every condition compiles to a lookup or an ``EXISTS`` subquery on the contact's row: no joins, no DISTINCT,
so the fan-out streams it like any audience.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Substr
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IExact,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Regex,
)
from django.utils import timezone
from django.utils.dateparse import parse_date

MAX_GROUPS = 10
MAX_CONDITIONS = 20  # per group
MAX_DAYS = 3650

CONDITION_TYPES = ("field", "tag", "consent", "engagement", "journey")
JOURNEY_OPS = ("in", "not_in", "completed", "ever", "never")
TEXT_FIELDS = ("first_name", "last_name", "email", "phone_number", "timezone")
TEXT_OPS = ("equals", "not_equals", "contains", "empty", "not_empty")
NUMBER_OPS = ("eq", "gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after", "in_last_days", "not_in_last_days")
TAG_OPS = ("has", "has_not")
CONSENT_OPS = ("is", "is_not")
CONSENT_VALUES = ("granted", "unknown", "revoked")
EVENTS = ("delivered", "clicked", "replied", "converted")
ENGAGEMENT_OPS = ("in_last_days", "not_in_last_days", "ever", "never")
DAYS_OPS = ("in_last_days", "not_in_last_days")
FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,99}$")
#: A custom field's text that reads as a number / an ISO date (guards the cast; anything else never matches).
NUMBER_TEXT = r"^\s*-?[0-9]{1,15}(\.[0-9]{1,10})?\s*$"
DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


class DefinitionError(ValueError):
    """A bad definition; the message names the group and condition (1-based) and what is wrong."""


def _days(cond: dict, where: str) -> int:
    days = cond.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise DefinitionError(f"{where}: 'days' must be a whole number from 1 to {MAX_DAYS}.")
    return days


def _text_value(cond: dict, where: str) -> str:
    value = cond.get("value")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DefinitionError(f"{where}: needs a 'value'.")
    value = str(value).strip()
    if not value or len(value) > 200:
        raise DefinitionError(f"{where}: 'value' must be 1-200 characters.")
    return value


def _condition_validate(cond, where: str) -> dict:
    if not isinstance(cond, dict) or cond.get("type") not in CONDITION_TYPES:
        raise DefinitionError(f"{where}: 'type' must be one of {', '.join(CONDITION_TYPES)}.")
    kind, op = cond["type"], cond.get("op")
    if kind == "field":
        field = cond.get("field")
        if not isinstance(field, str) or not FIELD_NAME.match(field.strip()):
            raise DefinitionError(f"{where}: 'field' must name a contact field or a custom field.")
        field = field.strip()
        if field == "created_at":
            allowed = DATE_OPS
        elif field in TEXT_FIELDS:
            allowed = TEXT_OPS
        else:
            allowed = TEXT_OPS + NUMBER_OPS + DATE_OPS
        if op not in allowed:
            raise DefinitionError(f"{where}: for {field}, 'op' must be one of {', '.join(allowed)}.")
        out = {"type": kind, "field": field, "op": op}
        if op in DAYS_OPS:
            out["days"] = _days(cond, where)
        elif op in ("before", "after"):
            value = cond.get("value")
            if not isinstance(value, str) or parse_date(value.strip()[:10]) is None:
                raise DefinitionError(f"{where}: 'value' must be a date such as 2026-01-31.")
            out["value"] = value.strip()[:10]
        elif op in NUMBER_OPS:
            value = cond.get("value")
            try:
                number = Decimal(str(value).strip())
            except (InvalidOperation, ValueError):
                number = None
            if isinstance(value, bool) or number is None or not number.is_finite() or abs(number) >= 10**15:
                raise DefinitionError(f"{where}: 'value' must be a number.")
            out["value"] = str(number)
        elif op not in ("empty", "not_empty"):
            out["value"] = _text_value(cond, where)
        return out
    if kind == "tag":
        if op not in TAG_OPS:
            raise DefinitionError(f"{where}: for a tag, 'op' must be has or has_not.")
        value = _text_value(cond, where)
        if len(value) > 64:
            raise DefinitionError(f"{where}: a tag name is at most 64 characters.")
        return {"type": kind, "op": op, "value": value}
    if kind == "consent":
        if op not in CONSENT_OPS or cond.get("value") not in CONSENT_VALUES:
            raise DefinitionError(
                f"{where}: consent needs 'op' is or is_not and 'value' one of {', '.join(CONSENT_VALUES)}."
            )
        return {"type": kind, "op": op, "value": cond["value"]}
    if kind == "journey":
        journey = cond.get("journey", cond.get("value"))
        if isinstance(journey, str) and journey.strip().isdigit():
            journey = int(journey)
        if not isinstance(journey, int) or isinstance(journey, bool) or journey <= 0:
            raise DefinitionError(f"{where}: 'journey' must be the id of one of your journeys.")
        if op not in JOURNEY_OPS:
            raise DefinitionError(f"{where}: for a journey, 'op' must be one of {', '.join(JOURNEY_OPS)}.")
        return {"type": kind, "journey": journey, "op": op}
    event = cond.get("event")
    if event not in EVENTS:
        raise DefinitionError(f"{where}: 'event' must be one of {', '.join(EVENTS)}.")
    if op not in ENGAGEMENT_OPS:
        raise DefinitionError(f"{where}: for {event}, 'op' must be one of {', '.join(ENGAGEMENT_OPS)}.")
    out = {"type": kind, "event": event, "op": op}
    if op in DAYS_OPS:
        out["days"] = _days(cond, where)
    return out


def definition_validate(definition) -> dict:
    """The definition, normalized (``{"groups": [[…], …]}``); raises ``DefinitionError`` naming the bad part."""
    if not isinstance(definition, dict) or set(definition) - {"groups"}:
        raise DefinitionError('A definition is an object: {"groups": [[condition, …], …]}.')
    groups = definition.get("groups")
    if not isinstance(groups, list) or not groups:
        raise DefinitionError("groups: at least one group of conditions is needed.")
    if len(groups) > MAX_GROUPS:
        raise DefinitionError(f"groups: at most {MAX_GROUPS} groups.")
    clean = []
    for g, group in enumerate(groups, start=1):
        if not isinstance(group, list) or not group:
            raise DefinitionError(f"group {g}: a list of at least one condition.")
        if len(group) > MAX_CONDITIONS:
            raise DefinitionError(f"group {g}: at most {MAX_CONDITIONS} conditions.")
        clean.append([_condition_validate(c, f"group {g}, condition {i}") for i, c in enumerate(group, start=1)])
    return {"groups": clean}


# --- compilation -------------------------------------------------------------------------------------------


def _since(days: int, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=days)


def _day_start(value: str) -> dt.datetime:
    return dt.datetime.combine(parse_date(value), dt.time(), tzinfo=dt.UTC)


def _engaged(tenant_id: int, event: str, since: dt.datetime | None) -> Exists:
    """EXISTS: the contact had ``event`` (since ``since``, when given)."""
    from campaigns.models import Message, MessageStatus
    from compliance.models import InboundKind, InboundMessage
    from integrations.models import Conversion
    from links.models import Click

    if event == "delivered":
        qs = Message.objects.filter(
            tenant_id=tenant_id,
            contact_id=OuterRef("pk"),
            status__in=[MessageStatus.DELIVERED, MessageStatus.READ],
        )
        when = ""
    elif event == "clicked":
        qs = Click.objects.filter(tenant_id=tenant_id, contact_id=OuterRef("pk"), is_bot=False)
        when = "clicked_at"
    elif event == "replied":
        qs = InboundMessage.objects.filter(tenant_id=tenant_id, contact_id=OuterRef("pk"), kind=InboundKind.REPLY)
        when = "received_at"
    else:
        qs = Conversion.objects.filter(tenant_id=tenant_id, contact_id=OuterRef("pk"))
        when = "created_at"
    if since is not None and event == "delivered":  # a read receipt may come without a delivered one
        qs = qs.filter(Q(delivered_at__gte=since) | Q(read_at__gte=since))
    elif since is not None:
        qs = qs.filter(**{f"{when}__gte": since})
    return Exists(qs.order_by().values("pk"))


def _tagged(tenant_id: int, name: str) -> Exists:
    from contacts.models import Contact

    return Exists(
        Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag__tenant_id=tenant_id, tag__name=name)
    )


def _text_q(expr, op: str, value: str | None) -> Q:
    if op == "equals":
        return Q(IExact(expr, value))
    if op == "not_equals":
        return Q(IsNull(expr, True)) | ~Q(IExact(expr, value))
    if op == "contains":
        return Q(IContains(expr, value))
    if op == "empty":
        return Q(IsNull(expr, True)) | Q(Exact(expr, ""))
    return Q(IsNull(expr, False)) & ~Q(Exact(expr, ""))  # not_empty


_NUMBER_LOOKUPS = {
    "eq": Exact,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}


def _custom_q(name: str, cond: dict, now: dt.datetime) -> Q:
    text = Cast(KeyTextTransform(name, "custom_fields"), output_field=TextField())
    op = cond["op"]
    if op in TEXT_OPS:
        return _text_q(text, op, cond.get("value"))
    if op in NUMBER_OPS:
        # Only text that reads as a number is cast (CASE evaluates in order): "n/a" never matches, never errors.
        number = Case(
            When(Regex(text, NUMBER_TEXT), then=Cast(text, DecimalField(max_digits=30, decimal_places=10))),
            default=Value(None),
            output_field=DecimalField(max_digits=30, decimal_places=10),
        )
        return Q(_NUMBER_LOOKUPS[op](number, Decimal(cond["value"])))
    # Dates: ISO text compares in date order; only values that start with a date take part.
    day = Substr(text, 1, 10)
    if op == "before":
        bound, lookup = cond["value"], LessThan
    elif op == "after":
        bound, lookup = cond["value"], GreaterThan
    elif op == "in_last_days":
        bound, lookup = _since(cond["days"], now).date().isoformat(), GreaterThanOrEqual
    else:
        bound, lookup = _since(cond["days"], now).date().isoformat(), LessThan
    return Q(Regex(text, DATE_TEXT)) & Q(lookup(day, bound))


def _created_q(cond: dict, now: dt.datetime) -> Q:
    op = cond["op"]
    if op == "before":
        return Q(created_at__lt=_day_start(cond["value"]))
    if op == "after":
        return Q(created_at__gte=_day_start(cond["value"]) + dt.timedelta(days=1))
    if op == "in_last_days":
        return Q(created_at__gte=_since(cond["days"], now))
    return Q(created_at__lt=_since(cond["days"], now))


def _condition_q(tenant_id: int, cond: dict, now: dt.datetime) -> Q:
    kind, op = cond["type"], cond["op"]
    if kind == "field":
        field = cond["field"]
        if field == "created_at":
            return _created_q(cond, now)
        if field in TEXT_FIELDS:
            return _text_q(F(field), op, cond.get("value"))
        return _custom_q(field, cond, now)
    if kind == "tag":
        tagged = _tagged(tenant_id, cond["value"])
        return Q(tagged) if op == "has" else ~Q(tagged)
    if kind == "consent":
        q = Q(consent_status=cond["value"])
        return q if op == "is" else ~q
    if kind == "journey":
        from journeys.models import JourneyRun, RunStatus

        runs = JourneyRun.objects.filter(tenant_id=tenant_id, journey_id=cond["journey"], contact_id=OuterRef("pk"))
        if op in ("in", "not_in"):
            runs = runs.filter(status=RunStatus.ACTIVE)
        elif op == "completed":
            runs = runs.filter(status=RunStatus.COMPLETED)
        return ~Q(Exists(runs)) if op in ("not_in", "never") else Q(Exists(runs))
    since = _since(cond["days"], now) if op in DAYS_OPS else None
    engaged = _engaged(tenant_id, cond["event"], since)
    return Q(engaged) if op in ("in_last_days", "ever") else ~Q(engaged)


def definition_q(*, tenant_id: int, definition: dict, now: dt.datetime | None = None) -> Q:
    """The contacts a (validated) definition selects, as one ``Q`` on ``Contact``: groups OR-ed, conditions AND-ed."""
    now = now or timezone.now()
    result = Q(pk__in=[])  # no groups: nobody (never everybody by accident)
    for group in definition.get("groups") or []:
        both = Q()
        for cond in group:
            both &= _condition_q(tenant_id, cond, now)
        result |= both
    return result


_OP_WORDS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "empty": "is empty",
    "not_empty": "is not empty",
    "eq": "=",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "before": "before",
    "after": "after",
}


def condition_describe(cond: dict) -> str:
    """One condition in words ("city is Boston", "clicked in the last 30 days")."""
    kind, op = cond.get("type"), cond.get("op")
    if kind == "tag":
        return f"{'has' if op == 'has' else 'has not'} tag {cond.get('value')}"
    if kind == "consent":
        return f"consent {'is' if op == 'is' else 'is not'} {cond.get('value')}"
    if kind == "journey":
        words = {"in": "in", "not_in": "not in", "completed": "completed", "ever": "ever in", "never": "never in"}
        return f"{words.get(op, op)} journey {cond.get('journey')}"
    if op in DAYS_OPS:
        span = f"{'not ' if op == 'not_in_last_days' else ''}in the last {cond.get('days')} days"
    else:
        span = {"ever": "ever", "never": "never"}.get(op, "")
    if kind == "engagement":
        return f"{cond.get('event')} {span}"
    field = cond.get("field")
    if op in DAYS_OPS:
        return f"{field} {span}"
    value = "" if op in ("empty", "not_empty") else f" {cond.get('value')}"
    return f"{field} {_OP_WORDS.get(op, op)}{value}"


def definition_describe(definition: dict) -> str:
    """The whole definition in words: "(a and b) or (c)"."""
    groups = [" and ".join(condition_describe(c) for c in g) for g in (definition or {}).get("groups") or []]
    if len(groups) == 1:
        return groups[0]
    return " or ".join(f"({g})" for g in groups)
