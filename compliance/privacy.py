"""Privacy requests: everything held about a number, and erasing a contact.

Erasure removes the person (contact row, names, custom fields, message bodies,
reply texts, consent IPs and user agents) but keeps a keyed hash of the number
on the suppression list when it was suppressed, so an erased person who said
STOP is never texted again, even if the number is imported afresh.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.transitions import message_move
from contacts.models import Contact
from links.models import Click
from tenants.models import Tenant

from .hashing import phone_hash, phone_hashes
from .models import AuditLog, ConsentEvent, InboundMessage, Suppression
from .selectors import suppression_match_q

ERASED_BODY = "[erased]"


def _dt(value) -> str | None:
    return value.isoformat() if value else None


def privacy_export(*, tenant: Tenant, phone_number: str) -> dict[str, Any]:
    """Everything the tenant holds about ``phone_number``, as JSON-ready data."""
    hashes = phone_hashes(tenant_id=tenant.pk, phone_number=phone_number)
    by_number_or_hash = Q(phone_number=phone_number) | Q(phone_hash__in=hashes)
    contacts = [
        {
            "id": c.pk,
            "phone_number": c.phone_number,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": c.email,
            "timezone": c.timezone,
            "tags": sorted(t.name for t in c.tags.all()),
            "custom_fields": c.custom_fields,
            "consent_status": c.consent_status,
            "consent_source": c.consent_source,
            "consent_at": _dt(c.consent_at),
            "consent_text": c.consent_text,
            "created_at": _dt(c.created_at),
        }
        for c in Contact.objects.filter(tenant=tenant, phone_number=phone_number).prefetch_related("tags")
    ]
    messages = [
        {
            "id": m.pk,
            "campaign": m.campaign.name,
            "to": m.to,
            "body": m.body,
            "status": m.status,
            "error_code": m.error_code,
            "sent_at": _dt(m.sent_at),
            "delivered_at": _dt(m.delivered_at),
            "short_link": getattr(getattr(m, "short_link", None), "code", None),
        }
        for m in Message.objects.filter(tenant=tenant, to=phone_number).select_related("campaign", "short_link")
    ]
    replies = [
        {"received_at": _dt(r.received_at), "body": r.body, "kind": r.kind, "campaign_id": r.campaign_id}
        for r in InboundMessage.objects.filter(tenant=tenant, phone_hash__in=hashes)
    ]
    consent = [
        {
            "at": _dt(e.created_at),
            "kind": e.kind,
            "source": e.source,
            "source_url": e.source_url,
            "disclosure_text": e.disclosure_text,
            "disclosure_version": e.disclosure_version,
            "ip_address": e.ip_address,
            "user_agent": e.user_agent,
        }
        for e in ConsentEvent.objects.filter(tenant=tenant).filter(by_number_or_hash).order_by("created_at", "id")
    ]
    suppression = Suppression.objects.filter(suppression_match_q([phone_number], hashes), tenant=tenant).first()
    return {
        "phone_number": phone_number,
        "tenant": tenant.slug,
        "exported_at": timezone.now().isoformat(),
        "contacts": contacts,
        "messages": messages,
        "replies": replies,
        "consent_events": consent,
        "suppression": (
            {"source": suppression.source, "created_at": _dt(suppression.created_at), "note": suppression.note}
            if suppression
            else None
        ),
        "clicks": [
            {
                "at": _dt(c.clicked_at),
                "code": c.link.code,
                "campaign_id": c.campaign_id,
                "user_agent": c.user_agent,
                "device_type": c.device_type,
                "os": c.os_family,
                "browser": c.browser_family,
                "ip_address": c.ip_address,
                "country": c.country,
                "is_bot": c.is_bot,
            }
            for c in _clicks_of(tenant=tenant, phone_number=phone_number).select_related("link").order_by("clicked_at")
        ],
    }


def contact_erase(*, tenant: Tenant, phone_number: str) -> dict[str, int]:
    """Erase everything personal held about ``phone_number`` in ``tenant``; keep the suppression as a hash.

    Messages still waiting to be sent to the number are suppressed first, so an
    erasure can never send one more text. Returns counts of what was touched.
    """
    digest = phone_hash(tenant_id=tenant.pk, phone_number=phone_number)
    hashes = phone_hashes(tenant_id=tenant.pk, phone_number=phone_number)
    pending = list(
        Message.objects.filter(tenant=tenant, to=phone_number, status=MessageStatus.PENDING).values_list(
            "id", flat=True
        )
    )
    for message_id in pending:
        message_move(message_id=message_id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.PENDING])
    now = timezone.now()
    with transaction.atomic():
        suppressions = Suppression.objects.filter(suppression_match_q([phone_number], hashes), tenant=tenant)
        for s in suppressions.filter(phone_hash=""):
            s.phone_hash = digest
            s.save(update_fields=["phone_hash"])
        n_suppressions = suppressions.update(phone_number="", note="", erased_at=now)
        contacts = Contact.objects.filter(tenant=tenant, phone_number=phone_number)
        contact_ids = list(contacts.values_list("id", flat=True))
        # Clicks keep their counts (campaign figures stay true) but lose what tells who and where.
        n_clicks = _clicks_of(tenant=tenant, phone_number=phone_number).update(
            user_agent="", ip_address=None, country="", device_brand="", device_model="", contact=None
        )
        # A message in flight (claimed) keeps its number until the gateway answers.
        n_messages = (
            Message.objects.filter(tenant=tenant, to=phone_number)
            .exclude(status=MessageStatus.SENDING)
            .update(to="", body=ERASED_BODY, contact=None, updated_at=now)
        )
        n_replies = InboundMessage.objects.filter(tenant=tenant, phone_hash__in=hashes).update(
            from_number="", body=ERASED_BODY, phone_hash=digest
        )
        # The ledger's one permitted change: the person goes, the facts (when, how, what text) stay.
        n_consent = (
            ConsentEvent.objects.filter(tenant=tenant)
            .filter(Q(phone_number=phone_number) | Q(phone_hash__in=hashes))
            .update(phone_number="", phone_hash=digest, ip_address=None, user_agent="")
        )
        contacts.delete()
    return {
        "contacts": len(contact_ids),
        "messages": n_messages,
        "replies": n_replies,
        "consent_events": n_consent,
        "clicks": n_clicks,
        "suppressions_kept_as_hash": n_suppressions,
        "audit_entries": AuditLog.objects.filter(tenant=tenant, phone_hash=digest).count(),
    }


def _clicks_of(*, tenant: Tenant, phone_number: str):
    """Clicks on the short links of messages to ``phone_number`` (or by its contact)."""
    return Click.objects.filter(tenant=tenant).filter(
        Q(message__to=phone_number) | Q(contact__phone_number=phone_number, contact__tenant=tenant)
    )
