"""Writing campaigns: checks, A/B variants, and the preview (rendering, segments, recipients, cost).

Views, serializers and the admin only translate to and from these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Func, Max, Q, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Length

from campaigns.abtest import ab_settings_errors
from contacts.audience import AudienceError, audience_validate
from contacts.models import ConsentStatus, Contact
from contacts.selectors import contacts_for_audience, custom_field_names
from guard.selectors import blocked_in_audience, screen_for
from links.services import CODE_LENGTH, is_web_url, short_link_base, short_url
from media.destinations import LANDLINE_CODES, mms_capable_q
from media.inspection import MediaRejected
from media.services import media_for_message
from tenants.models import Tenant

from .models import Campaign, CampaignMedia, CampaignPurpose, CampaignStatus, Message, MmsFallback
from .pricing import average_price, costs_by_country, default_mms_price, default_segment_price
from .rendering import (
    CONTACT_FIELDS,
    MERGE_FIELDS,
    PLACEHOLDER,
    render,
    unknown_fields,
    used_fields,
    with_first_contact_footer,
)
from .segments import GSM7_BASIC, GSM7_EXTENDED, count_segments, gsm_replace, gsm_replacements

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


#: What a body may use without asking the database: the contact's columns and its short link.
BASE_FIELDS = (*CONTACT_FIELDS, "link")
SHOWN_KNOWN_FIELDS = 40  # the error lists this many known names, then says how many more


def merge_fields_known(*, tenant_id: int, bodies: Iterable[str] = ()) -> tuple[str, ...]:
    """The merge fields a tenant's bodies may use: ``BASE_FIELDS`` and the custom fields its contacts carry.

    The custom names cost a query over the tenant's contacts, so it runs only when one of ``bodies`` (all when
    none is given) uses a name beyond ``BASE_FIELDS``."""
    bodies = list(bodies)
    if bodies and not any(unknown_fields(b, BASE_FIELDS) for b in bodies):
        return BASE_FIELDS
    custom = [n for n in custom_field_names(tenant_id=tenant_id) if n not in BASE_FIELDS]
    return (*BASE_FIELDS, *custom)


def body_errors(body: str, *, has_media: bool = False, known: Collection[str] = BASE_FIELDS) -> list[str]:
    """What is wrong with a body; an MMS (``has_media``) may have none. ``known``: the merge fields it may use
    (``merge_fields_known``)."""
    errors = []
    if not body or not body.strip():
        return [] if has_media else ["A message body is required."]
    unknown = unknown_fields(body, known)
    if unknown:
        names = ", ".join("{{%s}}" % n for n in unknown)  # noqa: UP031 - braces are literal here
        listed = ", ".join("{{%s}}" % n for n in list(known)[:SHOWN_KNOWN_FIELDS])  # noqa: UP031
        if len(known) > SHOWN_KNOWN_FIELDS:
            listed += f" and {len(known) - SHOWN_KNOWN_FIELDS} more"
        errors.append(f"Unknown merge field {names}: known fields are {listed}.")
    if len(body) > MAX_BODY_CHARS:
        errors.append(f"The body is {len(body)} characters; at most {MAX_BODY_CHARS}.")
    return errors


def uses_field(body: str, name: str) -> bool:
    return any(m.group(1) == name for m in PLACEHOLDER.finditer(body))


def variants_clean(variants, *, has_media: bool = False, known: Collection[str] = BASE_FIELDS) -> list[dict]:
    """``[]`` or 2-4 ``{"body", "percent"}`` summing to 100, each with its own ``"media": [ids]`` when it
    differs from the campaign's (``has_media``: the campaign's own list is not empty). Raises ``CampaignError``
    on ``variants``; the media ids are checked by ``campaign_check``."""
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
        own_media = variant.get("media")
        if own_media is not None and not isinstance(own_media, list):
            errors.append(f"Variant {label}: media must be a list of media ids.")
            own_media = []
        with_media = bool(own_media) if own_media is not None else has_media
        errors += [f"Variant {label}: {e}" for e in body_errors(body, has_media=with_media, known=known)]
        if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 99:
            errors.append(f"Variant {label}: percent must be a whole number from 1 to 99.")
        item = {"body": body, "percent": percent}
        if own_media is not None:
            item["media"] = own_media
        clean.append(item)
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
    has_media = bool(data.get("media"))
    raw_variants = data.get("variants") if isinstance(data.get("variants"), list) else []
    given = [data.get("body")] + [v.get("body") for v in raw_variants if isinstance(v, dict)]
    known = merge_fields_known(tenant_id=tenant.pk, bodies=[b for b in given if isinstance(b, str)])
    if "variants" in data:
        try:
            data["variants"] = variants_clean(data["variants"], has_media=has_media, known=known)
        except CampaignError as exc:
            errors.update(exc.errors)
        else:
            if data["variants"]:
                data["body"] = data["variants"][0]["body"]  # the body is variant A's
                if "media" in data["variants"][0]:
                    data["media"] = data["variants"][0]["media"]  # and so is the media, when it names its own
                    has_media = bool(data["media"])
    if "media" in data:
        try:
            data["media"] = [m.pk for m in media_for_message(tenant_id=tenant.pk, ids=data["media"])]
        except MediaRejected as exc:
            errors["media"] = [exc.message]
    if "variants" not in errors:
        for i, variant in enumerate(data.get("variants") or []):
            label = chr(ord("A") + i)
            try:
                media_for_message(tenant_id=tenant.pk, ids=variant.get("media") or [], field=f"Variant {label}")
            except MediaRejected as exc:
                errors.setdefault("variants", []).append(f"Variant {label}: {exc.message}")
    if "body" in data:
        problems = body_errors(data["body"], has_media=has_media, known=known)
        if problems:
            errors["body"] = problems
    fallback = data.get("mms_fallback")
    if fallback is not None and fallback not in MmsFallback.values:
        errors["mms_fallback"] = [f"Choose one of: {', '.join(MmsFallback.values)}."]
    elif fallback == MmsFallback.LINK and any(media and uses_field(body, "link") for body, media in _media_lists(data)):
        # The link fallback is the recipient's own short link to the image: a body that has {{link}} already
        # gives each recipient their link (one per message), so it cannot carry the image's too.
        errors["mms_fallback"] = [
            "The link fallback gives each recipient their own short link to the image; a body with media that "
            "uses {{link}} already has the recipient's link. Choose skip, or leave {{link}} out."
        ]
    if "audience" in data:
        try:
            data["audience"] = audience_validate(tenant_id=tenant.pk, audience=data["audience"])
        except AudienceError as exc:
            errors["audience"] = [str(exc)]
    if data.get("ab_test_percent") is not None and "variants" not in errors:
        errors.update(
            ab_settings_errors(
                variants=data.get("variants"),
                test_percent=data.get("ab_test_percent"),
                wait_hours=data.get("ab_wait_hours"),
                metric=data.get("ab_metric"),
            )
        )
    bodies = [data.get("body") or ""] + [v["body"] for v in data.get("variants") or []]
    if any(uses_field(b, "link") for b in bodies) and "link_url" in data and not data["link_url"]:
        errors["link_url"] = ["The body uses {{link}}: give the link's target URL."]
    elif data.get("link_url") and not is_web_url(data["link_url"]):
        # URLField alone lets ftp:// through; a recipient's link only ever opens a web page.
        errors["link_url"] = ["The link's target must be a web address starting with http:// or https://."]
    if errors:
        raise CampaignError(errors)
    return data


def _media_lists(data: dict) -> list[tuple[str, list[int]]]:
    """``(body, media ids)`` per variant (one pair without variants): a variant without its own media has the
    campaign's."""
    media = list(data.get("media") or [])
    variants = data.get("variants") or []
    if not variants:
        return [(data.get("body") or "", media)]
    return [(v.get("body") or "", list(v["media"]) if "media" in v else media) for v in variants]


# Writes --------------------------------------------------------------------


def campaign_media_ids(*, campaign: Campaign) -> list[int]:
    """The campaign's own media (variant A's with variants), in order."""
    return list(campaign.media_items.filter(variant=0).order_by("position").values_list("media_id", flat=True))


def _media_rows_set(*, campaign: Campaign, data: dict) -> None:
    """Write ``CampaignMedia`` from the campaign's ``media`` and its variants' (in the caller's transaction),
    holding the files' rows so a delete of one of them waits, then sees it in use."""
    lists = _media_lists(data)
    wanted = sorted({m for _body, media in lists for m in media})
    if wanted:
        media_for_message(tenant_id=campaign.tenant_id, ids=wanted, lock=True)
    campaign.media_items.all().delete()
    getattr(campaign, "_prefetched_objects_cache", {}).pop("media_items", None)  # a list view's, now stale
    CampaignMedia.objects.bulk_create(
        [
            CampaignMedia(campaign=campaign, media_id=media_id, variant=variant, position=position)
            for variant, (_body, media) in enumerate(lists)
            for position, media_id in enumerate(media)
        ]
    )


def campaign_media_set(*, campaign: Campaign, media: list[int]) -> None:
    """Set a saved draft's own media (the admin's picker; the API goes through ``campaign_update``)."""
    with transaction.atomic():
        _media_rows_set(campaign=campaign, data={"body": campaign.body, "variants": campaign.variants, "media": media})


def campaign_create(*, tenant: Tenant, user=None, **fields) -> Campaign:
    fields.setdefault("link_url", "")
    data = campaign_check(tenant=tenant, data=fields)
    media = data.pop("media", None) or []
    with transaction.atomic():
        campaign = Campaign.objects.create(
            tenant=tenant, created_by=user if getattr(user, "pk", None) else None, status=CampaignStatus.DRAFT, **data
        )
        _media_rows_set(campaign=campaign, data={**data, "media": media})
    return campaign


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    """Change a draft. Raises ``CampaignNotDraft`` once it is scheduled or sending."""
    merged = {
        "body": campaign.body,
        "link_url": campaign.link_url,
        "variants": campaign.variants,
        "audience": campaign.audience,
        "mms_fallback": campaign.mms_fallback,
        "media": campaign_media_ids(campaign=campaign),
        **fields,
    }
    data = campaign_check(tenant=campaign.tenant, data=merged)
    media = data.pop("media", None) or []
    with transaction.atomic():
        # The status is re-read under lock: a send that started meanwhile wins.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise CampaignNotDraft(f"Only a draft campaign can be changed; this one is {locked.status}.")
        for name, value in data.items():
            setattr(campaign, name, value)
        campaign.save()
        _media_rows_set(campaign=campaign, data={**data, "media": media})
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


def sample_link(tenant_id: int | None = None) -> str:
    """A short link of the exact length real ones will have (on the tenant's own domain when it has one)."""
    return short_url(SAMPLE_LINK_CODE, base=short_link_base(tenant_id))


def segment_price() -> Decimal:
    """The default price per segment (a country without its own price: ``campaigns.pricing``)."""
    return default_segment_price()


def mms_price() -> Decimal:
    """The default price per MMS: Twilio bills an MMS per message, whatever its length (no segments)."""
    return default_mms_price()


def landline_contacts(*, tenant_id: int):
    """Contacts a message of the tenant's reached as a landline (Twilio's 21614/30006): never sent MMS."""
    return Message.objects.filter(tenant_id=tenant_id, error_code__in=LANDLINE_CODES).values("contact_id")


def _media_info(m) -> dict:
    return {
        "id": m.pk,
        "url": m.public_path,
        "content_type": m.content_type,
        "size": m.size,
        "width": m.width,
        "height": m.height,
        "name": str(m),
    }


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
    # MMS: this body's media (shown beside the text), and what a recipient who cannot take MMS gets.
    media: list[dict] = field(default_factory=list)
    mms_recipients: int = 0
    fallback_recipients: int = 0
    fallback_sample: str = ""
    fallback_segments: int = 0
    # The longest this body gets over the audience: each used field at its longest value (``longest_values``),
    # a default where it is longer, the opt-out line when a first contact is among them.
    worst_case_sample: str = ""
    worst_case_encoding: str = ""
    worst_case_units: int = 0
    worst_case_segments: int = 0


@dataclass
class CampaignPreview:
    recipients: int
    suppressed: int
    billable_recipients: int
    no_consent: int = 0  # audience contacts left out: consent revoked, or unknown where the purpose needs it
    blocked: int = 0  # the fraud guard: outside the tenant's allowed countries or in a high-risk range, never sent
    first_contacts: int = 0  # billable recipients never texted by the tenant: they get the opt-out line
    opt_out_footer: str = ""
    bodies: list[BodyPreview] = field(default_factory=list)
    total_segments: int = 0
    price_per_segment: str = "0"
    estimated_cost: str = "0"
    currency: str = "USD"
    extrapolated: bool = False
    sample_contact: dict | None = None
    # MMS: who gets media (US/Canada mobiles), who cannot (others, reported landlines) and what they get.
    mms: bool = False
    mms_fallback: str = MmsFallback.SKIP
    mms_recipients: int = 0
    fallback_recipients: int = 0  # mms_fallback "link": the text with their own link to the image
    skipped_recipients: int = 0  # mms_fallback "skip": recorded suppressed, never sent
    price_per_mms: str = "0"
    # Billable recipients by country with the prices the estimate used (``campaigns.pricing``), largest first.
    countries: list[dict] = field(default_factory=list)
    # Per merge field the body uses: the length of its longest value over the audience (characters).
    longest_values: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _sample_contact(qs) -> Contact | None:
    return qs.only("id", *CONTACT_FIELDS, "custom_fields").first()


def _field_values(contact: Contact | None) -> dict:
    """A contact's merge field values: its custom fields, then its columns (which shadow a custom field)."""
    if contact is None:
        return {}
    values = {**(contact.custom_fields or {}), **{name: getattr(contact, name) for name in CONTACT_FIELDS}}
    values.pop("link", None)  # always the recipient's own short link
    return values


def _field_expression(name: str):
    return F(name) if name in CONTACT_FIELDS else Cast(KeyTextTransform(name, "custom_fields"), TextField())


_GSM_ALL = "".join(sorted(GSM7_BASIC | GSM7_EXTENDED))
_GSM_EXTENSION = "".join(sorted(GSM7_EXTENDED))


@dataclass(frozen=True)
class Longest:
    """A field's longest value over an audience: in characters, in GSM-7 units, and whether any value needs UCS-2."""

    chars: int
    units: int
    non_gsm: bool


def longest_values(qs, names: list[str]) -> dict[str, Longest]:
    """Per field, its longest value among ``qs``'s contacts: ONE aggregate query, whatever the audience.

    Length alone would miss what the value does to the encoding, so the same query asks, with ``translate``,
    for the GSM-7 units (extension characters such as ``€`` count two) and whether any value has a character
    outside GSM-7 (the whole message is then UCS-2)."""
    if not names:
        return {}
    aggregates = {}
    for i, name in enumerate(names):
        value = Coalesce(_field_expression(name), Value(""), output_field=TextField())
        without_ext = Length(Func(value, Value(_GSM_EXTENSION), Value(""), function="translate"))
        outside_gsm = Length(Func(value, Value(_GSM_ALL), Value(""), function="translate"))
        aggregates[f"c{i}"] = Max(Length(value))
        aggregates[f"u{i}"] = Max(2 * Length(value) - without_ext)
        aggregates[f"n{i}"] = Max(outside_gsm)
    got = qs.order_by().aggregate(**aggregates)
    return {
        name: Longest(got[f"c{i}"] or 0, got[f"u{i}"] or 0, bool(got[f"n{i}"])) for i, name in enumerate(names)
    }


def worst_case_render(template: str, longest: dict[str, Longest], *, link: str) -> str:
    """``template`` with each field at its longest: a stand-in of that many characters (one that needs UCS-2
    when a value does, else as many GSM-7 units), or the field's default where that is longer."""
    ucs2 = any(v.non_gsm for v in longest.values())

    def sub(match) -> str:
        name, default = match.group(1), (match.group(2) or "").strip()
        if name == "link":
            return link
        found = longest.get(name)
        filler = ("\u0105" * found.chars if ucs2 else "x" * found.units) if found else ""
        return filler if len(filler) >= len(default) else default

    return PLACEHOLDER.sub(sub, template)


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
    media: list[int] | None = None,
    mms_fallback: str = MmsFallback.SKIP,
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

    A body with media (``media``, or a variant's own ``media``) is an MMS for the recipients who can take one
    (``media.destinations``) and costs ``MMS_PRICE_PER_MESSAGE`` each, not segments; the others are skipped or
    get the text with a link to the image (``mms_fallback``), priced by its segments.
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
    # The fraud guard's screen, as the fan-out applies it: never sent, counted as blocked (one grouped query).
    blocked = sum(blocked_in_audience(tenant=tenant, contacts=qs.exclude(opted_out)).values())
    billable = recipients - suppressed - blocked
    texted = Message.objects.filter(tenant=tenant, sent_at__isnull=False).values("contact_id")
    first_contacts = qs.exclude(opted_out).exclude(id__in=texted).count() if billable else 0
    footer = opt_out_footer(tenant=tenant)
    first_share = Decimal(first_contacts) / billable if billable else Decimal(0)
    link = sample_link(tenant.pk) if link_url else ""
    # Prices where the recipients are (one grouped query); the blocked ones are never sent, never billed.
    screen = screen_for(tenant=tenant)
    countries = (
        costs_by_country(
            tenant_id=tenant.pk, contacts=qs.exclude(opted_out), skip=lambda p: screen.verdict(p) is not None
        )
        if billable
        else []
    )
    sms_price_all = average_price(countries)
    sms_price_no_mms = average_price(countries, only_mms_capable=False)
    mms_price_mms = average_price(countries, mms=True, only_mms_capable=True)

    sample = None
    if sample_contact_id:
        sample = Contact.objects.filter(tenant=tenant, pk=sample_contact_id).first()
    sample = sample or _sample_contact(qs)
    names = _field_values(sample)

    specs = [(v["body"], int(v["percent"])) for v in variants] if variants else [(body, 100)]
    media_lists = [m for _b, m in _media_lists({"body": body, "media": media or [], "variants": variants or []})]
    files = {}
    if any(media_lists):
        wanted = sorted({i for ids in media_lists for i in ids})
        files = {m.pk: m for m in media_for_message(tenant_id=tenant.pk, ids=wanted)} if wanted else {}
    mms_ok = 0
    if any(media_lists) and billable:
        mms_ok = (
            qs.exclude(opted_out)
            .filter(mms_capable_q("phone_number"))
            .exclude(id__in=landline_contacts(tenant_id=tenant.pk))
            .count()
        )
    fields_used = list(dict.fromkeys(f for b, _ in specs for f in used_fields(b) if f != "link"))
    longest = longest_values(qs.exclude(opted_out), fields_used) if billable else {}
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
        blocked=blocked,
        first_contacts=first_contacts,
        opt_out_footer=footer,
        price_per_segment=str(segment_price()),
        currency=getattr(settings, "SMS_PRICE_CURRENCY", "USD"),
        extrapolated=extrapolated,
        sample_contact=(
            {"id": sample.pk, "first_name": sample.first_name, "last_name": sample.last_name} if sample else None
        ),
        mms=any(media_lists),
        mms_fallback=mms_fallback,
        price_per_mms=str(mms_price()),
        longest_values={name: v.chars for name, v in longest.items()},
        countries=[c.as_dict() for c in countries],
    )
    total = Decimal(0)
    cost = Decimal(0)
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
        body_media = [files[i] for i in media_lists[index] if i in files]
        mms_n = fallback_n = Decimal(0)
        fallback_text, fallback_segments = "", 0
        if body_media:
            mms_n, fallback_n = Decimal(mms_ok) * share, Decimal(billable - mms_ok) * share
            if mms_fallback == MmsFallback.LINK:
                fallback_text = mms_link_fallback(rendered, sample_link(tenant.pk))
                fallback_segments = count_segments(fallback_text).segments
            # An MMS is one message, whatever its text: only the fallback texts count segments.
            body_segments = fallback_n * fallback_segments
            cost += mms_n * mms_price_mms
            result.mms_recipients += _whole(mms_n)
            if mms_fallback == MmsFallback.LINK:
                result.fallback_recipients += _whole(fallback_n)
            else:
                result.skipped_recipients += _whole(fallback_n)
        worst = worst_case_render(text, longest, link=link)
        if first_contacts:
            worst = with_first_contact_footer(worst, footer)
        worst_info = count_segments(worst)
        lows = [x for x, used in ((low, billable > first_contacts), (low_first, first_contacts > 0)) if used]
        highs = [x for x, used in ((high, billable > first_contacts), (high_first, first_contacts > 0)) if used]
        total += body_segments
        # A body with media sends its texts only to those who cannot take an MMS: priced where they are.
        cost += body_segments * (sms_price_no_mms if body_media else sms_price_all)
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
                media=[_media_info(m) for m in body_media],
                mms_recipients=_whole(mms_n),
                fallback_recipients=_whole(fallback_n),
                fallback_sample=fallback_text,
                fallback_segments=fallback_segments,
                worst_case_sample=worst,
                worst_case_encoding=worst_info.encoding,
                worst_case_units=worst_info.units,
                worst_case_segments=worst_info.segments,
            )
        )
    result.total_segments = int(total.to_integral_value(ROUND_HALF_UP))
    result.estimated_cost = str(cost.quantize(Decimal("0.01"), ROUND_HALF_UP))
    return result


def _whole(n: Decimal) -> int:
    return int(n.to_integral_value(ROUND_HALF_UP))


def mms_link_fallback(text: str, link: str) -> str:
    """What a recipient who cannot take MMS gets with the link fallback: the text, then their link to the image."""
    return f"{text}\n{link}" if text.strip() else link


def campaign_preview_for(*, campaign: Campaign, sample_contact_id: int | None = None) -> CampaignPreview:
    return campaign_preview(
        tenant=campaign.tenant,
        body=campaign.body,
        link_url=campaign.link_url,
        audience=campaign.audience,
        variants=campaign.variants,
        sample_contact_id=sample_contact_id,
        purpose=campaign.purpose,
        media=campaign_media_ids(campaign=campaign),
        mms_fallback=campaign.mms_fallback,
    )


__all__ = [
    "MERGE_FIELDS",
    "CampaignError",
    "CampaignNotDraft",
    "campaign_check",
    "campaign_create",
    "campaign_delete",
    "campaign_media_ids",
    "campaign_preview",
    "campaign_preview_for",
    "campaign_update",
    "campaign_variant_pick",
]
