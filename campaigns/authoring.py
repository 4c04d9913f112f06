"""Writing campaigns: checks, A/B variants, and the preview (rendering, segments, recipients, cost).

Views, serializers and the admin only translate to and from these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from contacts.audience import AudienceError, audience_validate
from contacts.models import ConsentStatus, Contact
from contacts.selectors import contacts_for_audience
from links.services import CODE_LENGTH, is_web_url, short_url
from tenants.models import Tenant

from .models import Campaign, CampaignPurpose, CampaignStatus, Message
from .rendering import MERGE_FIELDS, PLACEHOLDER, render, unknown_fields, with_first_contact_footer
from .segments import count_segments, gsm_replace, gsm_replacements

MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies
MAX_ESTIMATE_GROUPS = 50_000  # distinct name combinations read for an estimate; beyond, it extrapolates
SAMPLE_LINK_CODE = "Ab3dE6gH"[:CODE_LENGTH].ljust(CODE_LENGTH, "x")


class CampaignError(ValueError):
    """A campaign that cannot be saved as given: ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class CampaignNotDraft(Exception):
    """Only a draft campaign may be changed or deleted."""


# Checks --------------------------------------------------------------------


def body_errors(body: str) -> list[str]:
    errors = []
    if not body or not body.strip():
        return ["A message body is required."]
    unknown = unknown_fields(body)
    if unknown:
        names = ", ".join("{{%s}}" % n for n in unknown)  # noqa: UP031 - braces are literal here
        errors.append(f"Unknown merge field {names}; use {{{{first_name}}}}, {{{{last_name}}}} or {{{{link}}}}.")
    if len(body) > MAX_BODY_CHARS:
        errors.append(f"The body is {len(body)} characters; at most {MAX_BODY_CHARS}.")
    return errors


def uses_field(body: str, name: str) -> bool:
    return any(m.group(1) == name for m in PLACEHOLDER.finditer(body))


def variants_clean(variants) -> list[dict]:
    """``[]`` or 2-4 ``{"body", "percent"}`` summing to 100. Raises ``CampaignError`` on ``variants``."""
    if not variants:
        return []
    if not isinstance(variants, list) or not 2 <= len(variants) <= 4:
        raise CampaignError({"variants": ["An A/B test has two to four variants."]})
    clean, errors = [], []
    for i, variant in enumerate(variants):
        label = chr(ord("A") + i)
        if not isinstance(variant, dict):
            errors.append(f'Variant {label} must be {{"body": …, "percent": …}}.')
            continue
        body, percent = variant.get("body", ""), variant.get("percent")
        if not isinstance(body, str):
            body = ""
        errors += [f"Variant {label}: {e}" for e in body_errors(body)]
        if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 99:
            errors.append(f"Variant {label}: percent must be a whole number from 1 to 99.")
        clean.append({"body": body, "percent": percent})
    if not errors and sum(v["percent"] for v in clean) != 100:
        errors.append("The variants' percents must add up to 100.")
    if errors:
        raise CampaignError({"variants": errors})
    return clean


def campaign_check(*, tenant: Tenant, data: dict) -> dict:
    """Validate and normalize campaign fields (any subset, as for a PATCH; ``data`` holds the result).

    Raises ``CampaignError`` naming each bad field: ``body``, ``link_url``, ``audience``, ``variants``.
    """
    errors: dict[str, list[str]] = {}
    data = dict(data)
    if "variants" in data:
        try:
            data["variants"] = variants_clean(data["variants"])
        except CampaignError as exc:
            errors.update(exc.errors)
        else:
            if data["variants"]:
                data["body"] = data["variants"][0]["body"]  # the body is variant A's
    if "body" in data:
        problems = body_errors(data["body"])
        if problems:
            errors["body"] = problems
    if "audience" in data:
        try:
            data["audience"] = audience_validate(tenant_id=tenant.pk, audience=data["audience"])
        except AudienceError as exc:
            errors["audience"] = [str(exc)]
    bodies = [data.get("body") or ""] + [v["body"] for v in data.get("variants") or []]
    if any(uses_field(b, "link") for b in bodies) and "link_url" in data and not data["link_url"]:
        errors["link_url"] = ["The body uses {{link}}: give the link's target URL."]
    elif data.get("link_url") and not is_web_url(data["link_url"]):
        # URLField alone lets ftp:// through; a recipient's link only ever opens a web page.
        errors["link_url"] = ["The link's target must be a web address starting with http:// or https://."]
    if errors:
        raise CampaignError(errors)
    return data


# Writes --------------------------------------------------------------------


def campaign_create(*, tenant: Tenant, user=None, **fields) -> Campaign:
    fields.setdefault("link_url", "")
    data = campaign_check(tenant=tenant, data=fields)
    return Campaign.objects.create(
        tenant=tenant, created_by=user if getattr(user, "pk", None) else None, status=CampaignStatus.DRAFT, **data
    )


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    """Change a draft. Raises ``CampaignNotDraft`` once it is scheduled or sending."""
    merged = {
        "body": campaign.body,
        "link_url": campaign.link_url,
        "variants": campaign.variants,
        "audience": campaign.audience,
        **fields,
    }
    data = campaign_check(tenant=campaign.tenant, data=merged)
    with transaction.atomic():
        # The status is re-read under lock: a send that started meanwhile wins.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise CampaignNotDraft(f"Only a draft campaign can be changed; this one is {locked.status}.")
        for name, value in data.items():
            setattr(campaign, name, value)
        campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    with transaction.atomic():
        deleted, _ = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).delete()
    if not deleted:
        raise CampaignNotDraft(f"Only a draft campaign can be deleted; this one is {campaign.status}.")


# Reads used by sending -----------------------------------------------------


def campaign_variant_pick(*, campaign: Campaign, contact_id: int) -> tuple[int | None, str]:
    """``(variant index or None, body)`` for one recipient: stable, so a rerun picks the same."""
    variants = campaign.variants or []
    if not variants:
        return None, campaign.body
    digest = hashlib.blake2b(f"{campaign.pk}:{contact_id}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % 100
    upto = 0
    for index, variant in enumerate(variants):
        upto += int(variant["percent"])
        if bucket < upto:
            return index, variant["body"]
    return len(variants) - 1, variants[-1]["body"]


# Preview -------------------------------------------------------------------


def sample_link() -> str:
    """A short link of the exact length real ones will have."""
    return short_url(SAMPLE_LINK_CODE)


def segment_price() -> Decimal:
    return Decimal(str(getattr(settings, "SMS_PRICE_PER_SEGMENT", "0.0083")))


@dataclass
class BodyPreview:
    label: str
    percent: int
    sample: str
    encoding: str
    units: int
    segments: int
    non_gsm: list[str]
    replacements: dict[str, str]
    replaced_body: str
    replaced_segments: int
    segments_min: int = 0
    segments_max: int = 0
    recipients: int = 0
    total_segments: int = 0
    # A first contact (never texted by the tenant) gets the tenant's opt-out line too: what they see.
    sample_first_contact: str = ""
    segments_first_contact: int = 0


@dataclass
class CampaignPreview:
    recipients: int
    suppressed: int
    billable_recipients: int
    no_consent: int = 0  # audience contacts left out: consent revoked, or unknown where the purpose needs it
    first_contacts: int = 0  # billable recipients never texted by the tenant: they get the opt-out line
    opt_out_footer: str = ""
    bodies: list[BodyPreview] = field(default_factory=list)
    total_segments: int = 0
    price_per_segment: str = "0"
    estimated_cost: str = "0"
    currency: str = "USD"
    extrapolated: bool = False
    sample_contact: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _sample_contact(qs) -> Contact | None:
    return qs.only("id", "first_name", "last_name", "phone_number").first()


def _by_shape(groups: Iterable[tuple[str, str, int]], used: list[str]) -> list[tuple[str, str, int]]:
    """Fold name groups that render alike: what a name does to the count is its encoding and length.

    One representative per (encoding, length) of each used name is rendered instead of every
    distinct name, so 50,000 distinct names cost a few hundred renderings.
    """
    cache: dict[str, tuple[str, int]] = {}

    def shape(name: str) -> tuple[str, int]:
        found = cache.get(name)
        if found is None:
            info = count_segments(name or "")
            found = cache[name] = (info.encoding, info.units)
        return found

    folded: dict[tuple, list] = {}
    for first, last, n in groups:
        key = (
            shape(first) if "first_name" in used else None,
            shape(last) if "last_name" in used else None,
        )
        entry = folded.get(key)
        if entry is None:
            folded[key] = [first, last, n]
        else:
            entry[2] += n
    return [(first, last, n) for first, last, n in folded.values()]


def _segments_by_group(
    body: str, groups: list[tuple[str, str, int]], link: str, footer: str = ""
) -> tuple[int, int, int]:
    """(total segments, min, max) over ``(first_name, last_name, count)`` groups; ``footer``: as first contacts
    get it (with the tenant's opt-out line)."""
    total, low, high = 0, None, 0
    cache: dict[str, int] = {}
    for first, last, n in groups:
        text = render(body, first_name=first or "", last_name=last or "", link=link)
        if footer:
            text = with_first_contact_footer(text, footer)
        segs = cache.get(text)
        if segs is None:
            segs = cache[text] = count_segments(text).segments
        total += segs * n
        low = segs if low is None else min(low, segs)
        high = max(high, segs)
    return total, low or 0, high


def campaign_preview(
    *,
    tenant: Tenant,
    body: str,
    link_url: str = "",
    audience: dict | None = None,
    variants: list[dict] | None = None,
    sample_contact_id: int | None = None,
    purpose: str = CampaignPurpose.MARKETING,
) -> CampaignPreview:
    """What the campaign will look like and cost: per body, a sample rendering for a real recipient,
    encoding, segments, the characters forcing UCS-2 with GSM stand-ins; for the audience, the
    recipient count, how many are suppressed, and the estimated segments and cost.

    Bodies are rendered per distinct shape (encoding and length) of the names among the recipients,
    so names that lengthen a message or force UCS-2 count; past ``MAX_ESTIMATE_GROUPS`` distinct
    names the rest is extrapolated (``extrapolated`` says so). Inputs are assumed checked (``campaign_check``).

    As the fan-out does: only contacts whose consent the ``purpose`` allows (``no_consent`` counts the rest),
    and first contacts (never texted by the tenant) get the tenant's opt-out line, so each body shows both
    renderings and the cost counts each recipient's own.
    """
    from compliance.models import Suppression
    from compliance.selectors import consent_statuses_allowed, opt_out_footer

    everyone = contacts_for_audience(tenant_id=tenant.pk, audience=audience or {})
    consent = (*consent_statuses_allowed(tenant=tenant, purpose=purpose), ConsentStatus.REVOKED)
    qs = contacts_for_audience(tenant_id=tenant.pk, audience=audience or {}, consent_statuses=consent)
    recipients = qs.count()
    no_consent = everyone.count() - recipients
    opted_out = Q(phone_number__in=Suppression.objects.filter(tenant=tenant).values("phone_number")) | Q(
        consent_status=ConsentStatus.REVOKED
    )
    suppressed = qs.filter(opted_out).count()
    billable = recipients - suppressed
    texted = Message.objects.filter(tenant=tenant, sent_at__isnull=False).values("contact_id")
    first_contacts = qs.exclude(opted_out).exclude(id__in=texted).count() if billable else 0
    footer = opt_out_footer(tenant=tenant)
    first_share = Decimal(first_contacts) / billable if billable else Decimal(0)
    link = sample_link() if link_url else ""

    sample = None
    if sample_contact_id:
        sample = Contact.objects.filter(tenant=tenant, pk=sample_contact_id).first()
    sample = sample or _sample_contact(qs)
    names = {"first_name": sample.first_name, "last_name": sample.last_name} if sample else {}

    specs = [(v["body"], int(v["percent"])) for v in variants] if variants else [(body, 100)]
    used = [f for f in ("first_name", "last_name") if any(uses_field(b, f) for b, _ in specs)]
    extrapolated = False
    if used and billable:
        grouped = (
            qs.exclude(opted_out)
            .values(*used)
            .annotate(n=Count("id"))
            .order_by("-n")[:MAX_ESTIMATE_GROUPS]
        )
        groups = _by_shape(((g.get("first_name", ""), g.get("last_name", ""), g["n"]) for g in grouped), used)
        covered = sum(n for *_, n in groups)
        extrapolated = covered < billable
    else:
        groups, covered = [("", "", billable)], billable

    result = CampaignPreview(
        recipients=recipients,
        suppressed=suppressed,
        billable_recipients=billable,
        no_consent=no_consent,
        first_contacts=first_contacts,
        opt_out_footer=footer,
        price_per_segment=str(segment_price()),
        currency=getattr(settings, "SMS_PRICE_CURRENCY", "USD"),
        extrapolated=extrapolated,
        sample_contact=(
            {"id": sample.pk, "first_name": sample.first_name, "last_name": sample.last_name} if sample else None
        ),
    )
    total = Decimal(0)
    for index, (text, percent) in enumerate(specs):
        rendered = render(text, link=link, **names)
        info = count_segments(rendered)
        # What the author can fix: the characters of the body itself (not of a recipient's name).
        own = count_segments(render(text, link=link))
        replaced = gsm_replace(text)
        seg_total, low, high = _segments_by_group(text, groups, link) if covered else (0, 0, 0)
        seg_first, low_first, high_first = _segments_by_group(text, groups, link, footer) if covered else (0, 0, 0)
        share = Decimal(percent) / 100
        # Scale the rendered groups up to every billable recipient of this variant, first contacts with the footer.
        per_group = Decimal(seg_total) * (1 - first_share) + Decimal(seg_first) * first_share
        body_segments = per_group * (Decimal(billable) / covered if covered else 0) * share
        first_rendered = with_first_contact_footer(rendered, footer)
        lows = [x for x, used in ((low, billable > first_contacts), (low_first, first_contacts > 0)) if used]
        highs = [x for x, used in ((high, billable > first_contacts), (high_first, first_contacts > 0)) if used]
        total += body_segments
        result.bodies.append(
            BodyPreview(
                label=chr(ord("A") + index) if variants else "",
                percent=percent,
                sample=rendered,
                encoding=info.encoding,
                units=info.units,
                segments=info.segments,
                non_gsm=list(own.non_gsm),
                replacements=gsm_replacements(text),
                replaced_body=replaced,
                replaced_segments=count_segments(render(replaced, link=link, **names)).segments,
                segments_min=min(lows, default=0),
                segments_max=max(highs, default=0),
                sample_first_contact=first_rendered,
                segments_first_contact=count_segments(first_rendered).segments,
                recipients=int((Decimal(billable) * share).to_integral_value(ROUND_HALF_UP)),
                total_segments=int(body_segments.to_integral_value(ROUND_HALF_UP)),
            )
        )
    result.total_segments = int(total.to_integral_value(ROUND_HALF_UP))
    result.estimated_cost = str((total * segment_price()).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return result


def campaign_preview_for(*, campaign: Campaign, sample_contact_id: int | None = None) -> CampaignPreview:
    return campaign_preview(
        tenant=campaign.tenant,
        body=campaign.body,
        link_url=campaign.link_url,
        audience=campaign.audience,
        variants=campaign.variants,
        sample_contact_id=sample_contact_id,
        purpose=campaign.purpose,
    )


__all__ = [
    "MERGE_FIELDS",
    "CampaignError",
    "CampaignNotDraft",
    "campaign_check",
    "campaign_create",
    "campaign_delete",
    "campaign_preview",
    "campaign_preview_for",
    "campaign_update",
    "campaign_variant_pick",
]
