"""Writes to the suppression list, the consent ledger and the audit log."""

from __future__ import annotations

import base64
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.events import contact_opt_event_emit
from tenants.models import Tenant

from . import hashing
from .hashing import phone_hash, phone_hashes
from .models import (
    AuditChannel,
    AuditLog,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    InboundMessage,
    PhoneHashKey,
    Suppression,
    SuppressionSource,
)
from .selectors import suppression_get, suppression_match_q

#: How a suppression's source is written in the consent ledger.
_LEDGER_SOURCE = {
    SuppressionSource.KEYWORD: ConsentSource.KEYWORD,
    SuppressionSource.CARRIER: ConsentSource.CARRIER,
    SuppressionSource.ADMIN: ConsentSource.ADMIN,
    SuppressionSource.API: ConsentSource.API,
    SuppressionSource.IMPORT: ConsentSource.IMPORT,
}


#: ``consent_record(contact=...)`` default: look the contact up by number.
LOOKUP = object()


def suppression_add(
    *,
    tenant: Tenant,
    phone_number: str,
    source: str,
    note: str = "",
    inbound: InboundMessage | None = None,
    record_consent: bool = True,
) -> Suppression:
    """Suppress a number (idempotent: the first record, with its source, is kept).

    A new suppression is also a revocation in the consent ledger (unless the caller
    records its own, ``record_consent=False``), and marks the contact (if any)
    revoked. A number suppressed only by its hash (an erased contact) is found and
    not duplicated.
    """
    suppression, _ = suppression_ensure(
        tenant=tenant,
        phone_number=phone_number,
        source=source,
        note=note,
        inbound=inbound,
        record_consent=record_consent,
    )
    return suppression


def suppression_ensure(
    *,
    tenant: Tenant,
    phone_number: str,
    source: str,
    note: str = "",
    inbound: InboundMessage | None = None,
    record_consent: bool = True,
    contact=LOOKUP,
) -> tuple[Suppression, bool]:
    """``suppression_add`` that also says whether it created the suppression."""
    existing = suppression_get(tenant_id=tenant.pk, phone_number=phone_number)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(
                tenant=tenant,
                phone_number=phone_number,
                phone_hash=phone_hash(tenant_id=tenant.pk, phone_number=phone_number),
                source=source,
                note=note[:300],
                inbound=inbound,
            )
            if record_consent:
                consent_record(
                    tenant=tenant,
                    phone_number=phone_number,
                    kind=ConsentKind.REVOKED,
                    source=_LEDGER_SOURCE.get(source, ConsentSource.ADMIN),
                    inbound=inbound,
                    note=note,
                    contact=contact,
                )
    except IntegrityError:
        # Another request suppressed it at the same moment: theirs stands.
        existing = suppression_get(tenant_id=tenant.pk, phone_number=phone_number)
        if existing is None:
            raise
        return existing, False
    contact_opt_event_emit(
        tenant_id=tenant.pk, phone_number=phone_number, opted_out=True, source=source, contact_id=_contact_id(contact)
    )
    return suppression, True


def _contact_id(contact) -> int | None:
    return getattr(contact, "pk", None) if contact is not LOOKUP else None


def suppression_remove(*, tenant: Tenant, phone_number: str) -> int:
    """Lift a suppression (an opt-in). Returns how many rows went."""
    hashes = phone_hashes(tenant_id=tenant.pk, phone_number=phone_number)
    deleted, _ = Suppression.objects.filter(suppression_match_q([phone_number], hashes), tenant=tenant).delete()
    if deleted:
        contact_opt_event_emit(tenant_id=tenant.pk, phone_number=phone_number, opted_out=False, source="keyword")
    return deleted


def consent_record(
    *,
    tenant: Tenant,
    phone_number: str,
    kind: str,
    source: str,
    source_url: str = "",
    disclosure_text: str = "",
    disclosure_version: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    inbound: InboundMessage | None = None,
    note: str = "",
    contact=LOOKUP,
    update_contact: bool = True,
) -> ConsentEvent:
    """Append one event to the consent ledger and keep the contact's consent fields in step.

    ``contact``: the number's contact when the caller already has it (``None``: none). ``update_contact=False``:
    the caller already wrote the contact's consent fields (the API, the admin, an import).
    """
    from contacts.models import ConsentStatus, Contact

    if contact is LOOKUP:
        contact = Contact.objects.filter(tenant=tenant, phone_number=phone_number).first()
    event = ConsentEvent.objects.create(
        tenant=tenant,
        phone_number=phone_number,
        contact=contact,
        kind=kind,
        source=source,
        source_url=source_url,
        disclosure_text=disclosure_text,
        disclosure_version=disclosure_version,
        ip_address=ip_address or None,
        user_agent=user_agent[:500],
        inbound=inbound,
        note=note[:300],
    )
    if update_contact and contact is not None and kind in (ConsentKind.GRANTED, ConsentKind.REVOKED):
        fields: dict[str, Any] = {
            "consent_status": ConsentStatus.GRANTED if kind == ConsentKind.GRANTED else ConsentStatus.REVOKED,
            "consent_source": (source_url or source)[:200],
            "consent_at": event.created_at,
        }
        if kind == ConsentKind.GRANTED and disclosure_text:
            fields["consent_text"] = disclosure_text
        Contact.objects.filter(pk=contact.pk).update(**fields, updated_at=timezone.now())
    return event


def consent_status_changed(*, tenant: Tenant, contact, before: str, after: str, source: str, note: str = "") -> None:
    """A contact's consent status changed through a door other than a keyword (``source``: api, admin, import).

    The ledger records it (a grant as a grant; a revocation through ``suppression_add``, which also suppresses the
    number, so the sending side never texts it again even if the contact row changes later). A change back to
    ``unknown`` is not a consent event and is not recorded. A grant does not lift a suppression: only the
    recipient's own opt-in (START, or a confirmed sign-up) does.
    """
    from contacts.models import ConsentStatus

    if before == after:
        return
    if after not in (ConsentStatus.REVOKED, ConsentStatus.GRANTED):
        return
    revoked = after == ConsentStatus.REVOKED
    if revoked:
        suppression_ensure(
            tenant=tenant,
            phone_number=contact.phone_number,
            source=source,
            note=note or f"Consent revoked ({source})",
            contact=contact,
            record_consent=False,
        )
    consent_record(
        tenant=tenant,
        phone_number=contact.phone_number,
        kind=ConsentKind.REVOKED if revoked else ConsentKind.GRANTED,
        source=source,
        note=note,
        contact=contact,
        update_contact=False,
    )


def audit_record(
    *,
    tenant: Tenant | int,
    actor=None,
    channel: str = AuditChannel.SYSTEM,
    action: str,
    object_type: str,
    object_id: str | int = "",
    phone_number: str = "",
    detail: dict | None = None,
) -> AuditLog:
    """One line in the audit log. A phone number is stored only as its keyed hash."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        tenant_id=tenant_id,
        actor=user,
        actor_email=getattr(user, "email", "") or "",
        channel=channel,
        action=action[:40],
        object_type=object_type[:40],
        object_id=str(object_id)[:64],
        phone_hash=phone_hash(tenant_id=tenant_id, phone_number=phone_number) if phone_number else "",
        detail=detail or {},
    )


def phone_hash_keys_pin(*, dry_run: bool = False) -> tuple[str, int]:
    """Pin the phone hash keys (once): ``("pinned" | "already pinned" | "would pin", number of keys)``.

    Run by ``rotate_encryption_keys`` before anything is re-encrypted, while every
    key that made a hash is still configured: the keys derived from them are
    stored, and hashes no longer depend on ``FIELD_ENCRYPTION_KEY`` (see
    ``compliance.hashing``). Idempotent; concurrent runs store the same keys.
    """
    hashing.pinned_keys_forget()
    pinned = hashing.pinned_keys()
    if pinned:
        return "already pinned", len(pinned)
    keys = hashing.derived_keys()
    if dry_run:
        return "would pin", len(keys)
    PhoneHashKey.objects.bulk_create(
        [PhoneHashKey(position=i, key=base64.urlsafe_b64encode(k).decode()) for i, k in enumerate(keys)],
        ignore_conflicts=True,
    )
    hashing.pinned_keys_forget()
    return "pinned", len(hashing.pinned_keys())
