"""Direct sends: one message to one contact, outside any campaign, through the whole pipeline.

For what a person or the platform texts one contact at a time: a reply typed in
the inbox, a sign-up form's confirmation request. Each goes on the tenant's
*direct* carrier campaign (``CampaignKind.DIRECT``, made on first use, always
``sending``), so it is screened like a fan-out row (suppression, revoked
consent, the frequency cap unless told otherwise, the fraud guard's country
rules, the first-contact footer) and then claimed, throttled, held by quiet
hours and resolved like any campaign message: exactly once under faults.

Call ``direct_message_send`` inside your own transaction if you have one; the
message is handed to the sender when it commits. ``key`` makes it idempotent:
a second call with the same key returns the first call's message and sends
nothing (the unique (campaign, run_id) index is the final word). Keys are
positive ids of the caller's (today the inbox's reply rows: one key space per
tenant's carrier, so a second keyed caller needs a carrier of its own). Without
a key every call is a new message, keyed below zero (the negated next value of
the messages' sequence), so it can never meet a caller's key.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignPurpose, CampaignStatus, Message
from campaigns.rendering import CONTACT_FIELDS
from contacts.models import Contact
from tenants.models import Tenant

from .enqueue import send_batches_enqueue
from .fanout import ROW_FIELDS, _ids_allocate, merge_extras, messages_for_runs

logger = logging.getLogger(__name__)

DIRECT_CARRIER_NAME = "Direct messages"


def direct_carrier(*, tenant: Tenant) -> Campaign:
    """The tenant's carrier for direct sends (created on first use; one per tenant, by a row lock on the tenant)."""
    found = Campaign.objects.filter(tenant=tenant, kind=CampaignKind.DIRECT).order_by("pk").first()
    if found is not None:
        return found
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        found = Campaign.objects.filter(tenant=tenant, kind=CampaignKind.DIRECT).order_by("pk").first()
        if found is None:
            now = timezone.now()
            found = Campaign.objects.create(
                tenant=tenant,
                kind=CampaignKind.DIRECT,
                name=DIRECT_CARRIER_NAME,
                body="",
                purpose=CampaignPurpose.TRANSACTIONAL,
                status=CampaignStatus.SENDING,
                started_at=now,
                fanned_out_at=now,
            )
    return found


def direct_message_send(
    *,
    tenant: Tenant,
    contact: Contact,
    body: str,
    key: int | None = None,
    link_url: str = "",
    frequency_cap: bool = True,
) -> Message:
    """Text ``body`` to ``contact`` through the pipeline; the message (``status`` says whether it was screened out:
    ``suppressed``, ``capped``, ``blocked``; else ``pending`` until a worker sends it).

    ``body`` may use merge fields (``{{first_name}}``, custom fields, ``{{link}}`` with ``link_url``); it is
    rendered as a campaign body is. ``key``: an id of the caller's (a reply's, a form submission's) that makes a
    repeated call return the same message. ``frequency_cap=False``: the tenant's daily cap is not asked (an answer
    within a conversation, when the tenant says so). Quiet hours: the sender asks the apps registered with
    ``dispatch.quiet_hours_exemption_register`` whether a direct message may go outside them."""
    if contact.tenant_id != tenant.pk:
        raise ValueError("contact belongs to another tenant")
    if key is not None and key <= 0:
        raise ValueError("a key is a positive id")
    carrier = direct_carrier(tenant=tenant)
    with transaction.atomic():
        if key is not None:
            existing = Message.objects.filter(campaign=carrier, run_id=key).first()
            if existing is not None:
                return existing
        else:
            key = -_ids_allocate(1)[0]  # from the messages' sequence, negated: never reused, never a caller's key
        carrier.body = body  # in memory only: the one row below renders from it
        carrier.link_url = link_url
        row: tuple = (contact.pk, contact.phone_number, contact.first_name, contact.last_name)
        extras = merge_extras(carrier)
        if extras:
            row += ({name: _field(contact, name) for name in extras if name not in ROW_FIELDS},)
        _result, pending = messages_for_runs(
            campaign=carrier, rows=[row], runs={contact.pk: key}, frequency_cap=frequency_cap
        )
        send_batches_enqueue(campaign=carrier, message_ids=pending)  # on the commit
        message = Message.objects.get(campaign=carrier, run_id=key)
    logger.info("Direct message %s for contact %s: %s", message.pk, contact.pk, message.status)
    return message


def _field(contact: Contact, name: str):
    """A merge field beyond ``ROW_FIELDS``: a contact column (``CONTACT_FIELDS``), else a custom field."""
    return getattr(contact, name, None) if name in CONTACT_FIELDS else (contact.custom_fields or {}).get(name)
