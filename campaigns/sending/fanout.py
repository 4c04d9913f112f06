"""Fan-out: one message per recipient, with its own short link, in bulk.

Recipients stream from a server-side cursor (``.iterator(chunk_size=…)``) so
memory stays flat whatever the audience. Each chunk is one transaction:

1. drop contacts that already have their message (a rerun after a crash);
2. look up, for the whole chunk at once, who is suppressed (recorded as
   ``suppressed``, never sent) and who was never texted by the tenant (they
   get the opt-out footer); the fraud guard's screen (``guard.screening``) records ``blocked``, with
   the reason, those outside the tenant's allowed countries or in a high-risk range (a lookup on the
   number's prefix, no query per recipient);
3. an MMS campaign (``CampaignMedia``): recipients who can take MMS (``media.destinations``: US and
   Canada, no landline reported) get ``mms``; the others are recorded ``suppressed`` with the reason
   (``mms_fallback`` skip) or get the text with their own short link to the image (link);
4. take the message ids from the table's sequence first, so the short links
   (``links.services.short_links_create_for_messages``) can be made before the
   messages (the foreign key is checked at commit), the bodies are rendered with
   their link once, and the rows go in with one ``COPY``;
5. add the counts in the same transaction.

The unique (campaign, contact) constraint is the final word: a concurrent
rerun makes the chunk's transaction fail and the chunk is tried again.
After each chunk commits, its pending messages are handed to send batches.
"""

from __future__ import annotations

import io
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import JSONObject
from django.utils import timezone

from campaigns.abtest import ab_rows_due, ab_winner_for
from campaigns.authoring import campaign_variant_pick, landline_contacts, mms_link_fallback
from campaigns.counters import counts_add
from campaigns.localtime import local_time_holds
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignMedia,
    CampaignStatus,
    Message,
    MessageStatus,
    MmsFallback,
)
from campaigns.rendering import CONTACT_FIELDS, PLACEHOLDER, used_fields, with_first_contact_footer
from campaigns.segments import GSM7_BASIC, count_segments
from common.db import copy_escape, copy_value
from compliance.rules import contacts_over_cap
from compliance.selectors import consent_statuses_allowed, opt_out_footer, suppressed_among
from contacts.models import ConsentStatus, Contact
from contacts.selectors import contacts_for_audience
from guard.screening import recipients_by_country_record, recipients_screen
from links.services import short_link_base, short_links_create_for_messages
from media.destinations import mms_capable

logger = logging.getLogger(__name__)

OPT_OUT_FOOTER = "Reply STOP to opt out"
NO_MMS_ABROAD = "No MMS: Twilio sends MMS only to the US and Canada (mms_fallback: skip)"
NO_MMS_LANDLINE = "No MMS: a landline, as Twilio reported before (mms_fallback: skip)"
_GSM_ASCII = frozenset(c for c in GSM7_BASIC if c.isascii())

#: contact id, phone number, first name, last name; then, when the bodies use other merge fields
#: (``merge_extras``), a dict of their values, read in the same streamed query (no query per recipient).
Row = tuple


@dataclass
class FanoutResult:
    created: int = 0
    pending: int = 0
    suppressed: int = 0
    skipped_existing: int = 0
    stopped: bool = False


def segments_of(text: str) -> int:
    """``count_segments(text).segments``, with a fast path for plain GSM-7 ASCII text."""
    if text.isascii() and _GSM_ASCII.issuperset(text):
        n = len(text)
        return (1 if n else 0) if n <= 160 else math.ceil(n / 153)
    return count_segments(text).segments


def uses_link(template: str) -> bool:
    return any(m.group(1) == "link" for m in PLACEHOLDER.finditer(template))


#: Merge fields every row carries (``_compile``'s value slots); any other is an extra.
ROW_FIELDS = ("first_name", "last_name", "link", "phone_number")


def merge_extras(campaign: Campaign) -> tuple[str, ...]:
    """The merge fields the campaign's bodies use beyond ``ROW_FIELDS`` (email, custom fields), sorted."""
    bodies = [campaign.body] + [v.get("body") or "" for v in campaign.variants or []]
    return tuple(sorted({f for b in bodies for f in used_fields(b or "")} - set(ROW_FIELDS)))


def _extras_expression(extras: tuple[str, ...]) -> JSONObject:
    """The extras of a recipient as one JSON object, built by the database: a column when the contact has one
    (email), else the custom field of that name (text)."""
    return JSONObject(
        **{
            name: F(name) if name in CONTACT_FIELDS else KeyTextTransform(name, "custom_fields")
            for name in extras
        }
    )


def _chunks(it: Iterable, size: int) -> Iterator[list]:
    it = iter(it)
    while chunk := list(islice(it, size)):
        yield chunk


def contacts_already_texted(
    *, tenant_id: int, campaign_id: int, first_id: int, last_id: int, contact_ids: list[int] | None = None
) -> set[int]:
    """Contacts (ids in [first_id, last_id]) the tenant has handed a message to before, in another campaign.

    A range, not an IN list of thousands: recipients stream in id order. A carrier's rows (a journey batch) are
    scattered ids: ``contact_ids`` names them instead.
    """
    among = (
        {"contact_id__in": contact_ids}
        if contact_ids is not None
        else {"contact_id__gte": first_id, "contact_id__lte": last_id}
    )
    return set(
        Message.objects.filter(tenant_id=tenant_id, sent_at__isnull=False, **among)
        .exclude(campaign_id=campaign_id)
        .order_by()  # else the model's ordering puts "id" into the DISTINCT
        .values_list("contact_id", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class MediaPlan:
    """An MMS campaign's media, read once per fan-out: ``targets`` maps a variant (0 without variants) that has
    media to the URL its link fallback points at (the first file); ``fallback`` is the campaign's choice."""

    targets: dict[int, str]
    fallback: str


def media_plan(campaign: Campaign) -> MediaPlan | None:
    firsts = CampaignMedia.objects.filter(campaign_id=campaign.pk, position=0).values_list(
        "variant", "media__token", "media__filename"
    )
    targets = {variant: f"{settings.PUBLIC_BASE_URL}/media/{token}/{name}" for variant, token, name in firsts}
    return MediaPlan(targets, campaign.mms_fallback) if targets else None


def messages_materialise(
    *,
    campaign_id: int,
    on_pending: Callable[[Campaign, list[int]], None] | None = None,
    chunk_size: int | None = None,
) -> FanoutResult:
    """Materialise the campaign's messages; ``on_pending`` gets each committed chunk's pending ids."""
    chunk_size = chunk_size or settings.FANOUT_CHUNK_SIZE
    campaign = Campaign.objects.select_related("tenant").get(pk=campaign_id)
    result = FanoutResult()
    if campaign.status != CampaignStatus.SENDING or campaign.fanned_out_at or campaign.kind != CampaignKind.CAMPAIGN:
        return result  # a carrier (journey step, direct sends) has no audience: messages_for_runs makes its messages
    plan = media_plan(campaign)
    # Revoked contacts come too, to be recorded suppressed (never sent); unknown ones only when the purpose allows.
    consent = (*consent_statuses_allowed(tenant=campaign.tenant, purpose=campaign.purpose), ConsentStatus.REVOKED)
    columns = ["id", "phone_number", "first_name", "last_name"]
    audience = contacts_for_audience(tenant_id=campaign.tenant_id, audience=campaign.audience, consent_statuses=consent)
    extras = merge_extras(campaign)
    if extras:
        audience = audience.annotate(merge_extras=_extras_expression(extras))
        columns.append("merge_extras")
    recipients = audience.values_list(*columns).iterator(chunk_size=chunk_size)
    for chunk in _chunks(recipients, chunk_size):
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
        if status != CampaignStatus.SENDING:  # paused or canceled: resume runs the fan-out again
            result.stopped = True
            return result
        for attempt in range(3):
            try:
                pending_ids = _materialise_chunk(campaign, chunk, result, plan)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                logger.warning("Fan-out chunk of campaign %s collided with a rerun; trying again", campaign_id)
        if pending_ids and on_pending is not None:
            on_pending(campaign, pending_ids)
    Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    return result


def messages_for_runs(
    *, campaign: Campaign, rows: list[Row], runs: dict[int, int], frequency_cap: bool = True
) -> tuple[FanoutResult, list[int]]:
    """A carrier campaign's messages (``CampaignKind``): one per row, each belonging to ``runs[contact id]`` (a
    journey run, a direct send), through the same screens as a fan-out chunk (suppression, revoked consent,
    frequency cap, fraud guard, MMS, links, the first-contact footer, the counters). Rows are ``Row`` tuples in
    contact id order, their extras (row[4], when the bodies use extras) may carry an event's properties. Runs
    that already have their message are skipped (the unique (campaign, run) index is the final word). Call it
    inside the caller's transaction; hand the returned pending ids to the sender after the commit.
    ``frequency_cap=False``: the cap is not asked (an inbox answer, when the tenant says so)."""
    result = FanoutResult()
    if not rows:
        return result, []
    rows = sorted(rows, key=lambda r: r[0])
    pending = _materialise_chunk(campaign, rows, result, media_plan(campaign), runs=runs, frequency_cap=frequency_cap)
    return result, pending


def _materialise_chunk(
    campaign: Campaign,
    chunk: list[Row],
    result: FanoutResult,
    plan: MediaPlan | None,
    runs: dict[int, int] | None = None,
    frequency_cap: bool = True,
) -> list[int]:
    tenant = campaign.tenant
    with transaction.atomic():
        ids_in_chunk = [r[0] for r in chunk]
        first_id, last_id = min(ids_in_chunk), max(ids_in_chunk)  # recipients come in id order: a tight range
        if runs is None:
            existing = set(
                Message.objects.filter(
                    campaign_id=campaign.pk, contact_id__gte=first_id, contact_id__lte=last_id
                ).values_list("contact_id", flat=True)
            )
        else:
            by_run = {run: cid for cid, run in runs.items()}
            existing = {
                by_run[run]
                for run in Message.objects.filter(campaign_id=campaign.pk, run_id__in=list(by_run)).values_list(
                    "run_id", flat=True
                )
            }
        rows = [r for r in chunk if r[0] not in existing] if existing else chunk
        result.skipped_existing += len(chunk) - len(rows)
        rows = ab_rows_due(campaign, rows)  # an A/B test that picks its winner: its sample first (campaigns.abtest)
        if not rows:
            return []
        numbers = [r[1] for r in rows]
        suppressed = suppressed_among(tenant_id=tenant.pk, phone_numbers=numbers)
        # Consent revoked (through any door) is never texted, on the suppression list or not.
        suppressed |= set(
            Contact.objects.filter(
                tenant_id=tenant.pk,
                consent_status=ConsentStatus.REVOKED,
                **({"id__in": ids_in_chunk} if runs is not None else {"id__range": (first_id, last_id)}),
            ).values_list("phone_number", flat=True)
        )
        # The frequency cap: recipients who already had the tenant's cap of texts in
        # the last 24 hours are recorded as ``capped`` (kept, visible, never sent).
        capped = (
            contacts_over_cap(
                tenant=tenant, contact_ids=[r[0] for r in rows if r[1] not in suppressed], now=timezone.now()
            )
            if frequency_cap
            else set()
        )
        texted = contacts_already_texted(
            tenant_id=tenant.pk,
            campaign_id=campaign.pk,
            first_id=first_id,
            last_id=last_id,
            contact_ids=ids_in_chunk if runs is not None else None,
        )
        # A/B variants: each recipient's variant is stable (a rerun picks the same one).
        picks = {
            r[0]: ab_winner_for(campaign=campaign, contact_id=r[0])
            or campaign_variant_pick(campaign=campaign, contact_id=r[0])
            for r in rows
        }
        templates = {body for _v, body in picks.values()}
        needs_link = bool(campaign.link_url) and any(uses_link(t) for t in templates)

        statuses = [
            MessageStatus.SUPPRESSED if r[1] in suppressed else MessageStatus.CAPPED if r[0] in capped else None
            for r in rows
        ]
        blocked = recipients_screen(campaign=campaign, numbers=numbers, statuses=statuses)  # the fraud guard
        ids = _ids_allocate(len(rows))
        kinds = _mms_kinds(tenant.pk, plan, rows, statuses, picks, first_id, last_id) if plan else None
        if kinds is None:
            codes = _links(campaign, ids, statuses) if needs_link else {}
        else:
            # Link fallbacks get their own link to the image; the rest the campaign's link, as without media.
            statuses = [
                MessageStatus.SUPPRESSED if isinstance(k, str) else s for s, k in zip(statuses, kinds, strict=True)
            ]
            plain = [
                MessageStatus.SUPPRESSED if k == LINK_FALLBACK else s for s, k in zip(statuses, kinds, strict=True)
            ]
            codes = _links(campaign, ids, plain) if needs_link else {}
            codes.update(_fallback_links(campaign, plan, rows, ids, kinds, picks))
        footer = opt_out_footer(tenant=tenant)
        reasons = {ids[i]: text for i, text in blocked.items()}
        messages = _messages(campaign, rows, ids, statuses, codes, texted, picks, footer, kinds, reasons, runs)
        _copy_messages(campaign, messages)
        local_time_holds(campaign=campaign, rows=rows, message_ids=ids, statuses=statuses)  # campaigns.localtime
        # Counted per A/B variant, so each variant's figures start from its recipients.
        by_variant: dict[int | None, Counter] = defaultdict(Counter)
        for r, status in zip(rows, statuses, strict=True):
            by_variant[picks[r[0]][0]][status or MessageStatus.PENDING] += 1
        for variant, deltas in by_variant.items():
            counts_add(campaign_id=campaign.pk, deltas=deltas, variant=variant)
        # The guard's per-country counts of recipients handed to sending (one upsert per chunk).
        handed = [r[1] for r, s in zip(rows, statuses, strict=True) if s is None]
        recipients_by_country_record(campaign=campaign, numbers=handed)
        n_supp = sum(d[MessageStatus.SUPPRESSED] for d in by_variant.values())
        n_pending = sum(d[MessageStatus.PENDING] for d in by_variant.values())
    result.created += len(rows)
    result.pending += n_pending
    result.suppressed += n_supp
    return [i for i, s in zip(ids, statuses, strict=True) if s is None]


def _ids_allocate(n: int) -> list[int]:
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
        return [row[0] for row in cursor.fetchall()]


def _links(campaign: Campaign, ids: list[int], statuses: list) -> dict[int, str]:
    """Links only for messages that will be sent."""
    wanted = [i for i, s in zip(ids, statuses, strict=True) if s is None]
    if not wanted:
        return {}
    return short_links_create_for_messages(
        tenant=campaign.tenant, campaign_id=campaign.pk, target_url=campaign.link_url, message_ids=wanted, warm="task"
    )


#: ``_mms_kinds``: a message that goes as MMS, or with the link fallback (a reason string: skipped).
MMS, LINK_FALLBACK = 1, 2


def _mms_kinds(tenant_id, plan: MediaPlan, rows, statuses, picks, first_id: int, last_id: int) -> list:
    """Per row of an MMS campaign: ``None`` (its variant has no media, or it is not sent anyway), ``MMS``,
    ``LINK_FALLBACK``, or the reason it is skipped (``mms_fallback`` skip)."""
    landlines = set(
        landline_contacts(tenant_id=tenant_id)
        .filter(contact_id__gte=first_id, contact_id__lte=last_id)
        .order_by()
        .values_list("contact_id", flat=True)
        .distinct()
    )
    kinds: list = []
    for row, status in zip(rows, statuses, strict=True):
        contact_id, phone = row[0], row[1]
        variant = picks[contact_id][0] or 0
        if status is not None or variant not in plan.targets:
            kinds.append(None)
        elif mms_capable(phone) and contact_id not in landlines:
            kinds.append(MMS)
        elif plan.fallback == MmsFallback.LINK:
            kinds.append(LINK_FALLBACK)
        else:
            kinds.append(NO_MMS_LANDLINE if contact_id in landlines else NO_MMS_ABROAD)
    return kinds


def _fallback_links(campaign: Campaign, plan: MediaPlan, rows, ids, kinds, picks) -> dict[int, str]:
    """Each link-fallback recipient's own short link to their variant's image (a click like any other)."""
    by_target: dict[str, list[int]] = defaultdict(list)
    for row, mid, kind in zip(rows, ids, kinds, strict=True):
        if kind == LINK_FALLBACK:
            by_target[plan.targets[picks[row[0]][0] or 0]].append(mid)
    codes: dict[int, str] = {}
    for target, mids in by_target.items():
        codes.update(
            short_links_create_for_messages(
                tenant=campaign.tenant, campaign_id=campaign.pk, target_url=target, message_ids=mids, warm="task"
            )
        )
    return codes


#: What varies per message; every other column is the same for the whole chunk.
VARYING = ("id", "contact_id", "to", "body", "segments", "status", "variant", "mms", "error_message", "run_id")


def _compile(template: str, extras: tuple[str, ...] = ()) -> tuple[str, tuple[tuple[int, str], ...]]:
    """``template`` as a ``str.format`` string and its slots ``(value index, fallback)``.

    Values are ``(first_name, last_name, link, "", phone_number, *extras)`` (the fourth for a placeholder
    that is not a merge field), so a body renders with one ``format`` call and no regex, to the same text as
    ``campaigns.rendering.render``.
    """
    fields = {"first_name": 0, "last_name": 1, "link": 2, "phone_number": 4}
    fields.update({name: 5 + i for i, name in enumerate(extras)})
    parts, slots, pos = [], [], 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(template[pos : match.start()].replace("{", "{{").replace("}", "}}"))
        parts.append(f"{{{len(slots)}}}")
        fallback = match.group(2)
        slots.append((fields.get(match.group(1), 3), fallback.strip() if fallback is not None else ""))
        pos = match.end()
    parts.append(template[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(parts), tuple(slots)


def _messages(
    campaign, rows, ids, statuses, codes, texted, picks, footer_text: str, kinds=None, reasons=None, runs=None
) -> list[tuple]:
    """``VARYING`` tuples, bodies rendered with each recipient's own link; each template is compiled once.

    A recipient the tenant never texted before gets the tenant's opt-out line (``footer_text``) unless the body
    already says STOP (``with_first_contact_footer``, which the preview uses too). ``kinds`` (an MMS campaign):
    an MMS is one message (one "segment" for the throttle); a link fallback is the text then the recipient's
    link to the image; a skipped one carries its reason, as does one the fraud guard blocked (``reasons``)."""
    out = []
    append = out.append
    pending = MessageStatus.PENDING.value
    base = f"{short_link_base(campaign.tenant_id)}/"  # short_url(code): the tenant's own domain, once per chunk
    compiled: dict[str, tuple] = {}
    kinds = kinds or [None] * len(rows)
    extras = merge_extras(campaign)
    for row, mid, status, kind in zip(rows, ids, statuses, kinds, strict=True):
        contact_id, phone, first, last = row[:4] if extras else row  # plain unpacking on the common path
        variant, template = picks[contact_id]
        fmt = compiled.get(template)
        if fmt is None:
            fmt = compiled[template] = _compile(template, extras)
        code = codes.get(mid)
        link = base + code if code else ""
        values = (first, last, "" if kind == LINK_FALLBACK else link, "", phone)
        if extras:
            found = row[4] or {}
            values += tuple(_text(found.get(name)) for name in extras)
        body = fmt[0].format(*[values[i] or fallback for i, fallback in fmt[1]])
        if kind == LINK_FALLBACK:
            body = mms_link_fallback(body, link)
        if contact_id not in texted:
            body = with_first_contact_footer(body, footer_text)
        segments = 1 if kind == MMS else segments_of(body)
        reason = kind if isinstance(kind, str) else reasons.get(mid, "") if reasons else ""
        run = runs.get(contact_id) if runs else None
        append((mid, contact_id, phone, body, segments, status or pending, variant, kind == MMS, reason, run))
    return out


def _text(value) -> str:
    return "" if value is None else str(value)


def _copy_messages(campaign: Campaign, messages: list[tuple]) -> None:
    """One COPY for the chunk. Columns come from the model, so fields others add keep their defaults."""
    now = timezone.now()
    constants = {"tenant_id": campaign.tenant_id, "campaign_id": campaign.pk}
    constants.update(created_at=now, updated_at=now)
    columns = list(Message._meta.concrete_fields)
    parts = []
    for f in columns:
        if f.attname in VARYING:
            parts.append("{" + str(VARYING.index(f.attname)) + "}")
        else:
            value = constants[f.attname] if f.attname in constants else f.get_default()
            parts.append(copy_value(value).replace("{", "{{").replace("}", "}}"))
    line = ("\t".join(parts) + "\n").format
    text = "".join(
        [
            line(
                mid, contact_id, copy_escape(to), copy_escape(body), segments, status, copy_value(variant),
                "t" if mms else "f", copy_escape(reason), copy_value(run),
            )
            for mid, contact_id, to, body, segments, status, variant, mms, reason, run in messages  # VARYING's order
        ]
    )  # fmt: skip
    column_sql = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    # copy_expert is psycopg2's own: wrap_database_errors turns a unique violation (a concurrent rerun)
    # into Django's IntegrityError, which messages_materialise retries.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(
            f"COPY {connection.ops.quote_name(Message._meta.db_table)} ({column_sql}) FROM STDIN", io.StringIO(text)
        )
