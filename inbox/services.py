"""Writes of the inbox: conversations kept from the inbound texts, read / assigned / done, and answers sent through
the sending pipeline (``campaigns.sending.direct_message_send``)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.sending.direct import direct_message_send
from compliance.models import InboundMessage
from contacts.models import Contact
from tenants.models import Tenant, User

from .models import Conversation, InboxReply, InboxSettings
from .selectors import inbox_settings_get, reply_rules

logger = logging.getLogger(__name__)

#: Inbound texts read again on every refresh (a webhook's row committed after a later one's is still counted).
REFRESH_SLACK = dt.timedelta(seconds=60)
REFRESH_BATCH = 5000
BODY_MAX = 1600  # Twilio's limit for one message's body
PREVIEW = 160
_E164 = re.compile(r"\+[1-9]\d{5,14}")


@dataclass
class RefreshResult:
    texts: int = 0
    created: int = 0
    updated: int = 0
    skipped: bool = False  # another refresh of the tenant was running: it does the work


def conversations_refresh(*, tenant: Tenant) -> RefreshResult:
    """Bring the tenant's conversations up to date with its inbound texts (idempotent; safe to run concurrently).

    Reads the texts received since the last refresh (less ``REFRESH_SLACK``), one query on ``received_at``; a text
    counts once per conversation (its id above ``last_inbound_id``). A number with no contact becomes a contact
    (consent unknown, as the JOIN keyword makes one). New texts add to ``unread`` and reopen a done conversation."""
    result = RefreshResult()
    cfg = inbox_settings_get(tenant=tenant)
    now = timezone.now()
    with transaction.atomic():
        locked = InboxSettings.objects.select_for_update(skip_locked=True).filter(pk=cfg.pk).first()
        if locked is None:
            result.skipped = True
            return result
        texts = InboundMessage.objects.filter(tenant=tenant).exclude(from_number="")
        if locked.synced_at is not None:
            texts = texts.filter(received_at__gte=locked.synced_at - REFRESH_SLACK)
        rows = list(
            texts.order_by("received_at", "id").values_list("id", "from_number", "body", "received_at")[:REFRESH_BATCH]
        )
        by_number: dict[str, list[tuple]] = {}
        for row in rows:
            if _E164.fullmatch(row[1]):
                by_number.setdefault(row[1], []).append(row)
        if by_number:
            contacts = _contacts_for(tenant=tenant, numbers=list(by_number))
            _conversations_apply(tenant=tenant, by_number=by_number, contacts=contacts, result=result)
        locked.synced_at = rows[-1][3] if len(rows) == REFRESH_BATCH else now
        locked.save(update_fields=["synced_at"])
    result.texts = len(rows)
    return result


def _contacts_for(*, tenant: Tenant, numbers: list[str]) -> dict[str, Contact]:
    found = {c.phone_number: c for c in Contact.objects.filter(tenant=tenant, phone_number__in=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        Contact.objects.bulk_create([Contact(tenant=tenant, phone_number=n) for n in missing], ignore_conflicts=True)
        found.update({c.phone_number: c for c in Contact.objects.filter(tenant=tenant, phone_number__in=missing)})
    return found


def _conversations_apply(
    *, tenant: Tenant, by_number: dict[str, list[tuple]], contacts: dict[str, Contact], result: RefreshResult
) -> None:
    existing = {
        c.contact_id: c
        for c in Conversation.objects.select_for_update().filter(
            tenant=tenant, contact_id__in=[c.pk for c in contacts.values()]
        )
    }
    new, changed = [], []
    for number, rows in by_number.items():
        contact = contacts[number]
        conversation = existing.get(contact.pk)
        seen = conversation.last_inbound_id if conversation else 0
        fresh = [r for r in rows if r[0] > seen]
        if not fresh:
            continue
        latest = max(fresh, key=lambda r: (r[3], r[0]))
        if conversation is None:
            conversation = Conversation(tenant=tenant, contact=contact, last_message_at=latest[3])
            new.append(conversation)
        else:
            changed.append(conversation)
        conversation.unread += sum(1 for r in fresh if r[0] > conversation.read_upto_id)
        conversation.last_inbound_id = max(r[0] for r in fresh)
        if conversation.last_inbound_at is None or latest[3] >= conversation.last_inbound_at:
            conversation.last_inbound_at = latest[3]
        if latest[3] >= conversation.last_message_at:
            conversation.last_message_at = latest[3]
            conversation.last_preview = (latest[2] or "")[:PREVIEW]
            conversation.last_direction = "in"
        conversation.done_at = None  # a new text reopens it
    if new:
        Conversation.objects.bulk_create(new)
    if changed:
        Conversation.objects.bulk_update(
            changed,
            [
                "unread",
                "last_inbound_id",
                "last_inbound_at",
                "last_message_at",
                "last_preview",
                "last_direction",
                "done_at",
            ],
        )
    result.created += len(new)
    result.updated += len(changed)


def conversation_read(*, conversation: Conversation) -> None:
    """Every inbound text so far is read (one statement: a refresh running at the same time waits for it)."""
    Conversation.objects.filter(pk=conversation.pk).update(unread=0, read_upto_id=F("last_inbound_id"))
    conversation.refresh_from_db(fields=["unread", "read_upto_id"])


def conversation_assign(*, conversation: Conversation, user: User | None) -> None:
    """Assign to one of the tenant's users, or to nobody (``None``)."""
    if user is not None and user.tenant_id != conversation.tenant_id:
        raise ValueError("the user belongs to another tenant")
    conversation.assigned_to = user
    Conversation.objects.filter(pk=conversation.pk).update(assigned_to=user)


def conversation_done(*, conversation: Conversation, done: bool = True) -> None:
    """Mark done (read too), or open again. A new inbound text opens it again by itself."""
    conversation.done_at = timezone.now() if done else None
    Conversation.objects.filter(pk=conversation.pk).update(done_at=conversation.done_at)
    if done:
        conversation_read(conversation=conversation)


class ReplyRefused(Exception):
    """An answer that must not go: ``code`` (``opted_out``, ``consent_revoked``, ``body``) and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def reply_send(*, conversation: Conversation, author: User | None, body: str, token: str = "") -> InboxReply:
    """Answer the contact through the sending pipeline, once per ``token`` (a double submit returns the first reply).

    Refused before anything is written (``ReplyRefused``) for an empty or too long text, an opted-out number or a
    revoked consent. Otherwise the reply row and its message (``direct_message_send`` with the reply's id as its
    key) are written in one transaction and handed to the sender when it commits; quiet hours and the frequency
    cap apply as ``InboxSettings`` say (``selectors.reply_rules``)."""
    body = (body or "").strip()
    token = (token or "").strip()[:64]
    if token:
        found = InboxReply.objects.filter(tenant_id=conversation.tenant_id, token=token).select_related("message")
        if found:
            return found[0]
    if not body:
        raise ReplyRefused("body", "Type an answer first.")
    if len(body) > BODY_MAX:
        raise ReplyRefused("body", f"An answer has at most {BODY_MAX} characters (this one has {len(body)}).")
    conversation.contact.refresh_from_db()
    rules = reply_rules(conversation=conversation)
    if rules.refusal:
        raise ReplyRefused(rules.refusal_code, rules.refusal)
    cfg = inbox_settings_get(tenant=conversation.tenant)
    try:
        with transaction.atomic():
            reply = InboxReply.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                author=author,
                body=body,
                token=token,
                quiet_hours_exempt=rules.quiet_hours_exempt,
            )
            message = direct_message_send(
                tenant=conversation.tenant,
                contact=conversation.contact,
                body=body,
                key=reply.pk,
                frequency_cap=cfg.answer_frequency_cap,
            )
            reply.message = message
            reply.save(update_fields=["message"])
            now = timezone.now()
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=now,
                last_preview=body[:PREVIEW],
                last_direction="out",
                unread=0,
                read_upto_id=F("last_inbound_id"),
            )
    except IntegrityError:
        if not token:
            raise
        return InboxReply.objects.select_related("message").get(tenant_id=conversation.tenant_id, token=token)
    logger.info(
        "Inbox reply %s (conversation %s): message %s %s", reply.pk, conversation.pk, message.pk, message.status
    )
    return reply
