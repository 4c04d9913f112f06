"""Audiences: which of a tenant's contacts a campaign goes to.

An audience is JSON, ``{}`` meaning every contact::

    {
      "tags": ["vip", "nyc"],             # any of these tags (none = everyone)
      "rules": [                           # all of these (AND)
        {"type": "field_equals", "field": "city", "value": "Boston"},
        {"type": "created_since", "value": "2026-01-01"},
        {"type": "clicked", "campaign": 12},
        {"type": "not_clicked", "campaign": 12}
      ],
      "exclude_tags": ["staff"],           # minus anyone with any of these
      "segment": 7                         # only contacts in this saved segment (segments app)
    }

``clicked``: a human click on this contact's link of that campaign.
``not_clicked``: got that campaign and did not click it.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

RULE_TYPES = ("field_equals", "created_since", "clicked", "not_clicked")
MAX_TAGS = 100
MAX_RULES = 20


class AudienceError(ValueError):
    pass


def _tag_list(value, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise AudienceError(f"{key} must be a list of tag names.")
    if len(value) > MAX_TAGS:
        raise AudienceError(f"{key} may name at most {MAX_TAGS} tags.")
    return list(dict.fromkeys(t.strip() for t in value if t.strip()))


def _since(value) -> dt.datetime:
    if not isinstance(value, str):
        raise AudienceError("created_since needs a date such as 2026-01-31.")
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise AudienceError(f"created_since: {value!r} is not an ISO 8601 date.")
        parsed = dt.datetime.combine(day, dt.time())
    return timezone.make_aware(parsed, dt.UTC) if timezone.is_naive(parsed) else parsed


def audience_validate(*, tenant_id: int, audience: dict | None) -> dict:
    """The audience, normalized; raises ``AudienceError`` with a message naming the bad part.

    Campaigns named in click rules must be the tenant's own.
    """
    from campaigns.models import Campaign

    if audience in (None, ""):
        return {}
    if not isinstance(audience, dict):
        raise AudienceError('An audience is an object such as {"tags": ["vip"]}.')
    unknown = set(audience) - {"tags", "rules", "exclude_tags", "segment"}
    if unknown:
        raise AudienceError(f"Unknown audience keys: {', '.join(sorted(unknown))}.")
    result: dict = {}
    if audience.get("segment") is not None:
        from segments.selectors import segment_get

        if segment_get(tenant_id=tenant_id, segment_id=audience["segment"]) is None:
            raise AudienceError("segment: give the id of one of your segments.")
        result["segment"] = audience["segment"]
    tags = _tag_list(audience.get("tags"), "tags")
    if tags:
        result["tags"] = tags
    exclude = _tag_list(audience.get("exclude_tags"), "exclude_tags")
    if exclude:
        result["exclude_tags"] = exclude
    rules = audience.get("rules") or []
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise AudienceError(f"rules must be a list of at most {MAX_RULES} rules.")
    clean_rules = []
    for i, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
            raise AudienceError(f"rule {i}: type must be one of {', '.join(RULE_TYPES)}.")
        kind = rule["type"]
        if kind == "field_equals":
            field, value = rule.get("field"), rule.get("value")
            if not isinstance(field, str) or not field.strip() or len(field) > 100:
                raise AudienceError(f"rule {i}: field_equals needs a custom field name in 'field'.")
            if not isinstance(value, str | int | float | bool):
                raise AudienceError(f"rule {i}: field_equals needs a 'value'.")
            clean_rules.append({"type": kind, "field": field.strip(), "value": str(value)})
        elif kind == "created_since":
            _since(rule.get("value"))
            clean_rules.append({"type": kind, "value": rule["value"]})
        else:
            campaign = rule.get("campaign")
            if (
                not isinstance(campaign, int)
                or isinstance(campaign, bool)
                or not Campaign.objects.filter(tenant_id=tenant_id, pk=campaign).exists()
            ):
                raise AudienceError(f"rule {i}: {kind} needs the id of one of your campaigns in 'campaign'.")
            clean_rules.append({"type": kind, "campaign": campaign})
    if clean_rules:
        result["rules"] = clean_rules
    return result


def _tagged(tenant_id: int, names: list[str]) -> QuerySet:
    from .models import Contact

    return Contact.tags.through.objects.filter(tag__tenant_id=tenant_id, tag__name__in=names).values("contact_id")


def _recipients(tenant_id: int, campaign_id: int) -> QuerySet:
    from campaigns.models import Message

    return Message.objects.filter(tenant_id=tenant_id, campaign_id=campaign_id, contact__isnull=False).values(
        "contact_id"
    )


def _clickers(tenant_id: int, campaign_id: int) -> QuerySet:
    """Contact ids with a human click on their link of ``campaign_id``."""
    from links.models import Click

    # NOT IN with a NULL matches nothing: only clicks that name their contact.
    return Click.objects.filter(
        tenant_id=tenant_id, campaign_id=campaign_id, is_bot=False, contact_id__isnull=False
    ).values("contact_id")


def apply_audience(qs: QuerySet, *, tenant_id: int, audience: dict) -> QuerySet:
    """Narrow a Contact queryset to ``audience`` (already validated or trusted)."""
    if audience.get("segment") is not None:  # read live; a segment that is gone selects nobody
        from segments.selectors import segment_filter

        qs = qs.filter(segment_filter(tenant_id=tenant_id, segment_id=audience["segment"]))
    tags = audience.get("tags") or []
    if tags:
        qs = qs.filter(id__in=_tagged(tenant_id, tags))
    for n, rule in enumerate(audience.get("rules") or []):
        kind = rule.get("type")
        if kind == "field_equals":
            alias = f"_cf{n}"
            # Compared as text: "2" matches 2 (a JSON number or string alike).
            text = Cast(KeyTextTransform(rule["field"], "custom_fields"), output_field=TextField())
            qs = qs.alias(**{alias: text}).filter(**{alias: str(rule["value"])})
        elif kind == "created_since":
            qs = qs.filter(created_at__gte=_since(rule["value"]))
        elif kind in ("clicked", "not_clicked"):
            clickers = _clickers(tenant_id, rule["campaign"])
            if kind == "clicked":
                qs = qs.filter(id__in=clickers)
            else:
                qs = qs.filter(id__in=_recipients(tenant_id, rule["campaign"]))
                if clickers is not None:
                    qs = qs.exclude(id__in=clickers)
    exclude = audience.get("exclude_tags") or []
    if exclude:
        qs = qs.exclude(id__in=_tagged(tenant_id, exclude))
    return qs
