"""Upsert of contacts from the API and from CRMs, with the merge rules.

One door for every "create or update by number (or by a system's own id)": ``PUT /api/v1/contacts/by-phone/{e164}/``,
the bulk ``POST /api/v1/contacts/upsert/`` and the Shopify / HubSpot webhooks (``crm``). Idempotent: the same
input twice changes nothing the second time (no write at all, ``updated_at`` kept).

Who may change what (docs/integrations.md, "Merge rules"):

- ``source="api"`` is the tenant's own write: every field given is written (absent fields are kept).
- Any other ``source`` (``shopify``, ``hubspot``, or what a Zap names) is a CRM: on a contact that exists, names,
  email and custom fields follow the tenant's ``CrmMergePolicy`` (overwrite, fill_empty or never); a CRM's blank
  value never clears ours.
- Tags are only ever added here (remove them with ``PATCH /api/v1/contacts/{id}/``).
- Consent from a CRM: a revocation is applied; a grant only with its evidence (``consent_at`` and
  ``consent_text`` or ``consent_source``) and never over ``revoked`` (only the recipient's own START lifts that);
  ``unknown`` never downgrades anything. What was refused is said in ``ignored``, never an error.
- ``external_id`` is stored per (tenant, source): a later upsert with it finds the contact even when no number
  comes with it (HubSpot's events carry the object id only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.services import consent_status_changed
from tenants.models import Tenant

from .models import ConsentStatus, Contact, ContactExternalId, CrmMergePolicy, MergeMode
from .phone import timezone_for_number
from .services import tags_get_or_create

API_SOURCE = "api"
NAME_FIELDS = ("first_name", "last_name")
CONSENT_EVIDENCE = ("consent_text", "consent_source")


class UpsertError(ValueError):
    """The input cannot be placed: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass
class UpsertOutcome:
    contact: Contact
    created: bool = False
    changed: bool = False
    ignored: list[str] = field(default_factory=list)


def merge_policy_get(*, tenant: Tenant | int) -> CrmMergePolicy:
    """The tenant's policy, or an unsaved one with the defaults."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return CrmMergePolicy.objects.filter(tenant_id=tenant_id).first() or CrmMergePolicy(tenant_id=tenant_id)


def merge_policy_set(*, tenant: Tenant, **modes: str) -> CrmMergePolicy:
    policy, _ = CrmMergePolicy.objects.get_or_create(tenant=tenant)
    for name, mode in modes.items():
        setattr(policy, name, mode)
    policy.save()
    return policy


def _merged_value(mode: str, current, new, *, is_crm: bool):
    """The value a field ends up with, or ``current``."""
    if new is None:
        return current
    if not is_crm:
        return new
    if new == "" or mode == MergeMode.NEVER:
        return current
    if mode == MergeMode.FILL_EMPTY:
        return current if current else new
    return new


def _consent(contact: Contact, values: dict, *, is_crm: bool, ignored: list[str]) -> dict:
    """The consent fields to write."""
    new = values.get("consent_status")
    current = contact.consent_status
    if not new or new == current:
        return {}
    if is_crm:
        if new == ConsentStatus.UNKNOWN:
            ignored.append("consent_status: unknown from a CRM never changes a contact's consent.")
            return {}
        if new == ConsentStatus.GRANTED:
            if current == ConsentStatus.REVOKED:
                ignored.append(
                    "consent_status: a CRM cannot lift a revocation; only the recipient's own START (or YES) does."
                )
                return {}
            if not values.get("consent_at") or not any(values.get(k) for k in CONSENT_EVIDENCE):
                ignored.append(
                    "consent_status: a CRM grants consent only with its evidence: consent_at and consent_text "
                    "(or consent_source)."
                )
                return {}
    written = {"consent_status": new}
    if new != ConsentStatus.UNKNOWN:
        written["consent_at"] = values.get("consent_at") or timezone.now()
    for name in CONSENT_EVIDENCE:
        if values.get(name) is not None:
            written[name] = values[name]
    return written


def _find(*, tenant: Tenant, phone_number: str | None, source: str, external_id: str) -> Contact | None:
    if external_id:
        found = (
            Contact.objects.select_for_update()
            .filter(tenant=tenant, external_ids__source=source, external_ids__external_id=external_id)
            .first()
        )
        if found is not None:
            return found
    if phone_number:
        return Contact.objects.select_for_update().filter(tenant=tenant, phone_number=phone_number).first()
    return None


def contact_upsert(
    *,
    tenant: Tenant,
    phone_number: str | None,
    values: dict | None = None,
    tags: Iterable[str] = (),
    source: str = API_SOURCE,
    external_id: str = "",
    policy: CrmMergePolicy | None = None,
) -> UpsertOutcome:
    """Create or update one contact (``phone_number`` in E.164, or ``None`` to find it by ``external_id`` only).

    ``values``: any of first_name, last_name, email, timezone, custom_fields, consent_status, consent_at,
    consent_source, consent_text (absent or ``None``: kept). Raises ``UpsertError`` naming the field."""
    values = {k: v for k, v in (values or {}).items() if v is not None}
    tags = sorted({t.strip() for t in tags if t and t.strip()})
    is_crm = source != API_SOURCE
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(
                    tenant=tenant,
                    phone_number=phone_number,
                    values=values,
                    tags=tags,
                    source=source,
                    external_id=external_id,
                    is_crm=is_crm,
                    policy=policy,
                )
        except IntegrityError:
            # Another request created the same number or external id at the same moment: find it this time.
            if attempt:
                raise UpsertError("phone_number", "Another contact already has this number or external id.") from None
    raise AssertionError("unreachable")


def _upsert(
    *,
    tenant: Tenant,
    phone_number: str | None,
    values: dict,
    tags: list[str],
    source: str,
    external_id: str,
    is_crm: bool,
    policy: CrmMergePolicy | None,
) -> UpsertOutcome:
    contact = _find(tenant=tenant, phone_number=phone_number, source=source, external_id=external_id)
    ignored: list[str] = []
    if contact is None:
        if not phone_number:
            raise UpsertError("phone_number", "No contact has this external id yet, and no phone number came with it.")
        return _create(
            tenant=tenant,
            phone_number=phone_number,
            values=values,
            tags=tags,
            source=source,
            external_id=external_id,
            is_crm=is_crm,
            ignored=ignored,
        )

    policy = policy or merge_policy_get(tenant=tenant)
    changes: dict = {}
    if phone_number and phone_number != contact.phone_number:
        # Found by external id with a new number: the CRM's person changed numbers.
        if Contact.objects.filter(tenant=tenant, phone_number=phone_number).exclude(pk=contact.pk).exists():
            raise UpsertError("phone_number", "Another contact already has this number.")
        changes["phone_number"] = phone_number
    for name in NAME_FIELDS:
        _change(
            changes, contact, name, _merged_value(policy.names, getattr(contact, name), values.get(name), is_crm=is_crm)
        )
    _change(changes, contact, "email", _merged_value(policy.email, contact.email, values.get("email"), is_crm=is_crm))
    if "timezone" in values and (values["timezone"] or not is_crm):
        _change(changes, contact, "timezone", values["timezone"])
    if values.get("custom_fields"):
        current = dict(contact.custom_fields or {})
        merged = dict(current)
        for key, value in values["custom_fields"].items():
            merged[key] = _merged_value(policy.custom_fields, current.get(key), value, is_crm=is_crm)
        merged = {k: v for k, v in merged.items() if v is not None}
        _change(changes, contact, "custom_fields", merged)
    for name, value in _consent(contact, values, is_crm=is_crm, ignored=ignored).items():
        _change(changes, contact, name, value)

    before = contact.consent_status
    if changes:
        for name, value in changes.items():
            setattr(contact, name, value)
        contact.save(update_fields=[*changes, "updated_at"])
        consent_status_changed(
            tenant=tenant,
            contact=contact,
            before=before,
            after=contact.consent_status,
            source=API_SOURCE,
            note=f"{source} upsert" if is_crm else "",
        )
    added = _tags_add(contact, tags)
    linked = _external_id_link(contact, source=source, external_id=external_id)
    return UpsertOutcome(contact=contact, created=False, changed=bool(changes or added or linked), ignored=ignored)


def _change(changes: dict, contact: Contact, name: str, value) -> None:
    if value != getattr(contact, name):
        changes[name] = value


def _create(
    *,
    tenant: Tenant,
    phone_number: str,
    values: dict,
    tags: list[str],
    source: str,
    external_id: str,
    is_crm: bool,
    ignored: list[str],
) -> UpsertOutcome:
    blank = Contact(tenant=tenant, phone_number=phone_number)
    fields = {name: values[name] for name in (*NAME_FIELDS, "email", "timezone") if values.get(name)}
    if values.get("custom_fields"):
        fields["custom_fields"] = dict(values["custom_fields"])
    fields.update(_consent(blank, values, is_crm=is_crm, ignored=ignored))
    if fields.get("consent_status") and not fields.get("consent_source"):
        fields["consent_source"] = source
    contact = Contact(tenant=tenant, phone_number=phone_number, **fields)
    if not contact.timezone:
        contact.timezone = timezone_for_number(phone_number)
    contact.save()
    consent_status_changed(
        tenant=tenant,
        contact=contact,
        before=ConsentStatus.UNKNOWN,
        after=contact.consent_status,
        source=API_SOURCE,
        note=f"{source} upsert" if is_crm else "",
    )
    _tags_add(contact, tags)
    _external_id_link(contact, source=source, external_id=external_id)
    return UpsertOutcome(contact=contact, created=True, changed=True, ignored=ignored)


def _tags_add(contact: Contact, tags: list[str]) -> bool:
    if not tags:
        return False
    have = set(contact.tags.values_list("name", flat=True))
    missing = [t for t in tags if t not in have]
    if missing:
        contact.tags.add(*tags_get_or_create(tenant=contact.tenant, names=missing))
    return bool(missing)


def _external_id_link(contact: Contact, *, source: str, external_id: str) -> bool:
    """Remember the contact's id in ``source``; ``True`` when it is new. An id that named another contact moves to
    this one (the CRM merged two people)."""
    if not external_id:
        return False
    row = ContactExternalId.objects.filter(tenant_id=contact.tenant_id, source=source, external_id=external_id).first()
    if row is None:
        ContactExternalId.objects.create(
            tenant_id=contact.tenant_id, contact=contact, source=source, external_id=external_id
        )
        return True
    if row.contact_id != contact.pk:
        ContactExternalId.objects.filter(pk=row.pk).update(contact=contact)
        return True
    return False


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "ignored": self.ignored,
        }


def contacts_upsert_many(*, tenant: Tenant, rows: Iterable[tuple[int, dict | str]]) -> BulkResult:
    """Upsert checked rows: ``(row number, kwargs of contact_upsert)`` or ``(row number, error text)`` for a row
    that failed its checks. Each row in its own savepoint: a bad row never stops the good ones."""
    result = BulkResult()
    policy = merge_policy_get(tenant=tenant)
    for number, row in rows:
        if isinstance(row, str):
            result.errors.append({"row": number, "error": row})
            continue
        try:
            outcome = contact_upsert(tenant=tenant, policy=policy, **row)
        except UpsertError as exc:
            result.errors.append({"row": number, "error": f"{exc.field}: {exc}"})
            continue
        if outcome.created:
            result.created += 1
        elif outcome.changed:
            result.updated += 1
        else:
            result.unchanged += 1
        result.ignored.extend({"row": number, "note": note} for note in outcome.ignored)
    return result
