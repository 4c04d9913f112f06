"""Fan-out: one message per recipient, with its own short link, in bulk.

Recipients stream from a server-side cursor (``.iterator(chunk_size=…)``) so
memory stays flat whatever the audience. Each chunk is one transaction:

1. drop contacts that already have their message (a rerun after a crash);
2. look up, for the whole chunk at once, who is suppressed (recorded as
   ``suppressed``, never sent) and who was never texted by the tenant (they
   get the opt-out footer);
3. take the message ids from the table's sequence first, so the short links
   (``links.services.short_links_create_for_messages``) can be made before the
   messages (the foreign key is checked at commit), the bodies are rendered with
   their link once, and the rows go in with one ``COPY``;
4. add the counts in the same transaction.

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
from django.utils import timezone

from campaigns.authoring import campaign_variant_pick
from campaigns.counters import counts_add
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.rendering import PLACEHOLDER, with_first_contact_footer
from campaigns.segments import GSM7_BASIC, count_segments
from common.db import copy_escape, copy_value
from compliance.rules import contacts_over_cap
from compliance.selectors import consent_statuses_allowed, opt_out_footer, suppressed_among
from contacts.models import ConsentStatus, Contact
from contacts.selectors import contacts_for_audience
from links.services import short_links_create_for_messages

logger = logging.getLogger(__name__)

OPT_OUT_FOOTER = "Reply STOP to opt out"
_GSM_ASCII = frozenset(c for c in GSM7_BASIC if c.isascii())

Row = tuple[int, str, str, str]  # contact id, phone number, first name, last name


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


def _chunks(it: Iterable, size: int) -> Iterator[list]:
    it = iter(it)
    while chunk := list(islice(it, size)):
        yield chunk


def contacts_already_texted(*, tenant_id: int, campaign_id: int, first_id: int, last_id: int) -> set[int]:
    """Contacts (ids in [first_id, last_id]) the tenant has handed a message to before, in another campaign.

    A range, not an IN list of thousands: recipients stream in id order.
    """
    return set(
        Message.objects.filter(
            tenant_id=tenant_id, contact_id__gte=first_id, contact_id__lte=last_id, sent_at__isnull=False
        )
        .exclude(campaign_id=campaign_id)
        .order_by()  # else the model's ordering puts "id" into the DISTINCT
        .values_list("contact_id", flat=True)
        .distinct()
    )


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
    if campaign.status != CampaignStatus.SENDING or campaign.fanned_out_at:
        return result
    # Revoked contacts come too, to be recorded suppressed (never sent); unknown ones only when the purpose allows.
    consent = (*consent_statuses_allowed(tenant=campaign.tenant, purpose=campaign.purpose), ConsentStatus.REVOKED)
    recipients = (
        contacts_for_audience(tenant_id=campaign.tenant_id, audience=campaign.audience, consent_statuses=consent)
        .values_list("id", "phone_number", "first_name", "last_name")
        .iterator(chunk_size=chunk_size)
    )
    for chunk in _chunks(recipients, chunk_size):
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()
        if status != CampaignStatus.SENDING:  # paused or canceled: resume runs the fan-out again
            result.stopped = True
            return result
        for attempt in range(3):
            try:
                pending_ids = _materialise_chunk(campaign, chunk, result)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                logger.warning("Fan-out chunk of campaign %s collided with a rerun; trying again", campaign_id)
        if pending_ids and on_pending is not None:
            on_pending(campaign, pending_ids)
    Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    return result


def _materialise_chunk(campaign: Campaign, chunk: list[Row], result: FanoutResult) -> list[int]:
    tenant = campaign.tenant
    with transaction.atomic():
        ids_in_chunk = [r[0] for r in chunk]
        first_id, last_id = min(ids_in_chunk), max(ids_in_chunk)  # recipients come in id order: a tight range
        existing = set(
            Message.objects.filter(
                campaign_id=campaign.pk, contact_id__gte=first_id, contact_id__lte=last_id
            ).values_list("contact_id", flat=True)
        )
        rows = [r for r in chunk if r[0] not in existing] if existing else chunk
        result.skipped_existing += len(chunk) - len(rows)
        if not rows:
            return []
        numbers = [r[1] for r in rows]
        suppressed = suppressed_among(tenant_id=tenant.pk, phone_numbers=numbers)
        # Consent revoked (through any door) is never texted, on the suppression list or not.
        suppressed |= set(
            Contact.objects.filter(
                tenant_id=tenant.pk, id__gte=first_id, id__lte=last_id, consent_status=ConsentStatus.REVOKED
            ).values_list("phone_number", flat=True)
        )
        # The frequency cap: recipients who already had the tenant's cap of texts in
        # the last 24 hours are recorded as ``capped`` (kept, visible, never sent).
        capped = contacts_over_cap(
            tenant=tenant, contact_ids=[r[0] for r in rows if r[1] not in suppressed], now=timezone.now()
        )
        texted = contacts_already_texted(
            tenant_id=tenant.pk, campaign_id=campaign.pk, first_id=first_id, last_id=last_id
        )
        # A/B variants: each recipient's variant is stable (a rerun picks the same one).
        picks = {r[0]: campaign_variant_pick(campaign=campaign, contact_id=r[0]) for r in rows}
        templates = {body for _v, body in picks.values()}
        needs_link = bool(campaign.link_url) and any(uses_link(t) for t in templates)

        statuses = [
            MessageStatus.SUPPRESSED if r[1] in suppressed else MessageStatus.CAPPED if r[0] in capped else None
            for r in rows
        ]
        ids = _ids_allocate(len(rows))
        codes = _links(campaign, ids, statuses) if needs_link else {}
        footer = opt_out_footer(tenant=tenant)
        messages = _messages(campaign, rows, ids, statuses, codes, texted, picks, footer)
        _copy_messages(campaign, messages)
        # Counted per A/B variant, so each variant's figures start from its recipients.
        by_variant: dict[int | None, Counter] = defaultdict(Counter)
        for r, status in zip(rows, statuses, strict=True):
            by_variant[picks[r[0]][0]][status or MessageStatus.PENDING] += 1
        for variant, deltas in by_variant.items():
            counts_add(campaign_id=campaign.pk, deltas=deltas, variant=variant)
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


#: What varies per message; every other column is the same for the whole chunk.
VARYING = ("id", "contact_id", "to", "body", "segments", "status", "variant")


def _compile(template: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """``template`` as a ``str.format`` string and its slots ``(value index, fallback)``.

    Values are ``(first_name, last_name, link, "")`` (the last for a placeholder that is not a
    merge field), so a body renders with one ``format`` call and no regex, to the same text as
    ``campaigns.rendering.render``.
    """
    fields = {"first_name": 0, "last_name": 1, "link": 2}
    parts, slots, pos = [], [], 0
    for match in PLACEHOLDER.finditer(template):
        parts.append(template[pos : match.start()].replace("{", "{{").replace("}", "}}"))
        parts.append(f"{{{len(slots)}}}")
        fallback = match.group(2)
        slots.append((fields.get(match.group(1), 3), fallback.strip() if fallback is not None else ""))
        pos = match.end()
    parts.append(template[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(parts), tuple(slots)


def _messages(campaign, rows, ids, statuses, codes, texted, picks, footer_text: str) -> list[tuple]:
    """``VARYING`` tuples, bodies rendered with each recipient's own link; each template is compiled once.

    A recipient the tenant never texted before gets the tenant's opt-out line (``footer_text``) unless the body
    already says STOP (``with_first_contact_footer``, which the preview uses too)."""
    out = []
    append = out.append
    pending = MessageStatus.PENDING.value
    base = f"{settings.SHORT_LINK_BASE_URL}/"  # short_url(code), without a settings lookup per row
    compiled: dict[str, tuple] = {}
    for (contact_id, phone, first, last), mid, status in zip(rows, ids, statuses, strict=True):
        variant, template = picks[contact_id]
        fmt = compiled.get(template)
        if fmt is None:
            fmt = compiled[template] = _compile(template)
        code = codes.get(mid)
        values = (first, last, base + code if code else "", "")
        body = fmt[0].format(*[values[i] or fallback for i, fallback in fmt[1]])
        if contact_id not in texted:
            body = with_first_contact_footer(body, footer_text)
        append((mid, contact_id, phone, body, segments_of(body), status or pending, variant))
    return out


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
            line(mid, contact_id, copy_escape(to), copy_escape(body), segments, status, copy_value(variant))
            for mid, contact_id, to, body, segments, status, variant in messages  # VARYING's order
        ]
    )
    column_sql = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    # copy_expert is psycopg2's own: wrap_database_errors turns a unique violation (a concurrent rerun)
    # into Django's IntegrityError, which messages_materialise retries.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(
            f"COPY {connection.ops.quote_name(Message._meta.db_table)} ({column_sql}) FROM STDIN", io.StringIO(text)
        )
