"""Reads of the suppression list, the replies and the consent ledger.

The sender asks ``is_suppressed``/``suppressed_among`` at fan-out and again at
claim. Both find a number by its clear value *or* by its keyed hash, so the
suppression of an erased contact still holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from common.db import any_of

from .hashing import phone_hashes, phone_hashes_many
from .models import ComplianceSettings, ConsentEvent, InboundKind, InboundMessage, Suppression

SUPPRESSION_CHUNK = 2000


def suppression_match_q(numbers: list[str], hashes: list[str]) -> Q:
    """Rows for these numbers: by keyed hash (indexed; every row made through the model has one),
    or by the number itself on a row that somehow lacks its hash (a raw bulk insert)."""
    # any_of: the lists bound as arrays on PostgreSQL (a fan-out chunk asks for thousands at once).
    return Q(any_of("phone_hash", hashes)) | Q(Q(phone_hash=""), any_of("phone_number", numbers))


def is_suppressed(*, tenant_id: int, phone_number: str) -> bool:
    if not phone_number:
        return False
    hashes = phone_hashes(tenant_id=tenant_id, phone_number=phone_number)
    return Suppression.objects.filter(suppression_match_q([phone_number], hashes), tenant_id=tenant_id).exists()


def suppressed_among(*, tenant_id: int, phone_numbers: Iterable[str]) -> set[str]:
    """The numbers of ``phone_numbers`` on the tenant's suppression list (by number or by hash)."""
    numbers = sorted({n for n in phone_numbers if n})
    found: set[str] = set()
    # Chunked so a 100k-recipient fan-out never builds one giant IN list.
    for i in range(0, len(numbers), SUPPRESSION_CHUNK):
        part = numbers[i : i + SUPPRESSION_CHUNK]
        by_hash = phone_hashes_many(tenant_id=tenant_id, phone_numbers=part)
        rows = (
            Suppression.objects.filter(suppression_match_q(part, list(by_hash)), tenant_id=tenant_id)
            .order_by()
            .values_list("phone_number", "phone_hash")
        )
        wanted = set(part)
        for number, hashed in rows:
            if number in wanted:
                found.add(number)
            if hashed in by_hash:
                found.add(by_hash[hashed])
    return found


def suppressed_numbers_sql(*, tenant_id: int, phone_numbers: Iterable[str]) -> tuple[str, list]:
    """``suppressed_among`` as SQL: ``SELECT number`` of the suppressed ones, to compose into a write.

    For a statement that must decide in the same snapshot as its own write: the
    sender's claim takes only numbers that are not on the list when it claims,
    so an opt-out committed before that statement always wins. The same match as
    ``suppression_match_q``: by keyed hash (one index probe per hash), or by the
    number on a row that lacks its hash. Returns ``(sql, params)``.
    """
    numbers = sorted({n for n in phone_numbers if n})
    pairs = [(n, h) for h, n in phone_hashes_many(tenant_id=tenant_id, phone_numbers=numbers).items()]
    table = Suppression._meta.db_table
    sql = (
        f"SELECT h.number FROM unnest(%s::varchar[], %s::varchar[]) AS h(number, hash) "  # noqa: S608 - table name from model meta
        f"JOIN {table} AS s ON s.tenant_id = %s AND s.phone_hash = h.hash "
        f"UNION SELECT s.phone_number FROM {table} AS s "
        "WHERE s.tenant_id = %s AND s.phone_hash = '' AND s.phone_number = ANY(%s::varchar[])"
    )
    return sql, [[n for n, _ in pairs], [h for _, h in pairs], tenant_id, tenant_id, numbers]


def suppression_get(*, tenant_id: int, phone_number: str) -> Suppression | None:
    hashes = phone_hashes(tenant_id=tenant_id, phone_number=phone_number)
    return (
        Suppression.objects.filter(suppression_match_q([phone_number], hashes), tenant_id=tenant_id)
        .order_by("id")
        .first()
    )


def compliance_settings_get(*, tenant) -> ComplianceSettings:
    """The tenant's compliance settings, created with defaults on first use."""
    obj, _ = ComplianceSettings.objects.get_or_create(tenant=tenant)
    return obj


def consent_events_for(*, tenant_id: int, phone_number: str | None = None) -> QuerySet[ConsentEvent]:
    """The tenant's ledger (oldest first), or one number's (by number or hash)."""
    qs = ConsentEvent.objects.filter(tenant_id=tenant_id)
    if phone_number is not None:
        hashes = phone_hashes(tenant_id=tenant_id, phone_number=phone_number)
        qs = qs.filter(Q(phone_number=phone_number) | Q(phone_hash__in=hashes))
    return qs.order_by("created_at", "id")


def replies_inbox(*, tenant_id: int) -> QuerySet[InboundMessage]:
    """Replies with the ones a person must review first."""
    return InboundMessage.objects.filter(tenant_id=tenant_id).order_by("-needs_review", "-received_at", "-id")


def campaign_opt_out_count(*, campaign_id: int) -> int:
    """Recipients who opted out by keyword in answer to this campaign."""
    return (
        InboundMessage.objects.filter(campaign_id=campaign_id, kind=InboundKind.OPT_OUT)
        .exclude(phone_hash="")
        .values("phone_hash")
        .distinct()
        .count()
    )


def campaign_first_opt_outs(*, campaign_id: int) -> QuerySet[InboundMessage]:
    """Each number's first opt-out reply to this campaign: one row a recipient, the ones
    ``campaign_opt_out_count`` counts, each with its ``received_at`` (for the opt-outs over time)."""
    replies = InboundMessage.objects.filter(campaign_id=campaign_id, kind=InboundKind.OPT_OUT).exclude(phone_hash="")
    earlier = replies.filter(phone_hash=OuterRef("phone_hash")).filter(
        Q(received_at__lt=OuterRef("received_at")) | Q(received_at=OuterRef("received_at"), pk__lt=OuterRef("pk"))
    )
    return replies.exclude(Exists(earlier))


def campaign_opt_out_counts(*, campaign_ids) -> dict[int, int]:
    """``campaign_opt_out_count`` for many campaigns in one query (``campaign_ids``: ids or an id queryset)."""
    rows = (
        InboundMessage.objects.filter(campaign_id__in=campaign_ids, kind=InboundKind.OPT_OUT)
        .exclude(phone_hash="")
        .order_by()
        .values("campaign_id")
        .annotate(n=Count("phone_hash", distinct=True))
        .values_list("campaign_id", "n")
    )
    return dict(rows)


def consent_statuses_allowed(*, tenant, purpose: str) -> tuple[str, ...]:
    """The contacts' consent statuses a campaign of ``purpose`` may text: granted always, revoked never, unknown as
    the tenant's compliance settings say for that purpose (default: transactional yes, marketing no).

    A campaign's audience also takes the revoked contacts, recorded ``suppressed`` (counted, never sent), as the
    fan-out does with the suppression list; contacts of unknown consent the purpose does not allow are left out."""
    from contacts.models import ConsentStatus

    rules = compliance_settings_get(tenant=tenant)
    unknown_ok = rules.unknown_consent_transactional if purpose == "transactional" else rules.unknown_consent_marketing
    return (ConsentStatus.GRANTED, ConsentStatus.UNKNOWN) if unknown_ok else (ConsentStatus.GRANTED,)


def opt_out_footer(*, tenant) -> str:
    """The tenant's opt-out line ("Reply STOP to opt out"), for the first message of a program."""
    return compliance_settings_get(tenant=tenant).opt_out_footer


def contacts_never_texted(*, tenant, contact_ids: Iterable[int]) -> set[int]:
    """Contacts the tenant has never handed a message to the gateway for: their next text carries the footer."""
    from campaigns.models import Message

    ids = list(contact_ids)
    texted: set[int] = set()
    for i in range(0, len(ids), SUPPRESSION_CHUNK):
        part = ids[i : i + SUPPRESSION_CHUNK]
        texted.update(
            Message.objects.filter(tenant=tenant, contact_id__in=part, sent_at__isnull=False)
            .values_list("contact_id", flat=True)
            .distinct()
        )
    return set(ids) - texted
