"""Reads of the inbox: the conversation list (from the conversation rows alone), a thread (from its sources), the
rules shown beside the answer box, and the sender's question about quiet hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from campaigns.models import CampaignKind, Message, MessageStatus
from compliance.hashing import phone_hashes
from compliance.models import InboundMessage
from compliance.selectors import compliance_settings_get, suppression_get
from contacts.models import ConsentStatus
from tenants.models import Tenant

from .models import Conversation, InboxReply, InboxSettings

THREAD_LIMIT = 50


def inbox_settings_get(*, tenant: Tenant) -> InboxSettings:
    """The tenant's inbox settings, created with defaults on first use."""
    obj, _ = InboxSettings.objects.get_or_create(tenant=tenant)
    return obj


def conversations_for(
    *,
    tenant: Tenant | None,
    unread: bool | None = None,
    done: bool | None = None,
    assigned: str | int | None = None,
    search: str = "",
    user=None,
) -> QuerySet[Conversation]:
    """The tenant's conversations, latest activity first. ``assigned``: a user id, ``"me"`` (``user``), ``"none"``
    (nobody), ``"any"`` (someone). ``search``: the contact's name or number, or the text of an inbound message or an
    answer (the tenant's own rows only). ``tenant=None``: every tenant's (a superuser in the admin)."""
    qs = Conversation.objects.select_related("contact", "assigned_to")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if unread is True:
        qs = qs.filter(unread__gt=0)
    elif unread is False:
        qs = qs.filter(unread=0)
    if done is True:
        qs = qs.filter(done_at__isnull=False)
    elif done is False:
        qs = qs.filter(done_at__isnull=True)
    if assigned == "me":
        qs = qs.filter(assigned_to=user)
    elif assigned == "none":
        qs = qs.filter(assigned_to__isnull=True)
    elif assigned == "any":
        qs = qs.filter(assigned_to__isnull=False)
    elif assigned not in (None, ""):
        qs = qs.filter(assigned_to_id=int(assigned))
    search = (search or "").strip()
    if search:
        digits = "".join(c for c in search if c.isdigit())
        match = (
            Q(contact__first_name__icontains=search)
            | Q(contact__last_name__icontains=search)
            | Q(last_preview__icontains=search)
        )
        if len(digits) >= 3:
            match |= Q(contact__phone_number__contains=digits)
        texts = InboundMessage.objects.filter(
            tenant_id=OuterRef("tenant_id"), from_number=OuterRef("contact__phone_number"), body__icontains=search
        )
        answers = InboxReply.objects.filter(conversation_id=OuterRef("pk"), body__icontains=search)
        qs = qs.filter(match | Exists(texts) | Exists(answers))
    return qs.order_by("-last_message_at", "-id")


def unread_total(*, tenant: Tenant) -> int:
    """Unread texts over the tenant's conversations (the partial index on ``unread > 0``)."""
    return Conversation.objects.filter(tenant=tenant, unread__gt=0).aggregate(n=Sum("unread"))["n"] or 0


@dataclass(frozen=True)
class Bubble:
    key: str
    direction: str  # "in" or "out"
    body: str
    at: dt.datetime
    status: str = ""  # an outbound message's status
    status_label: str = ""
    error: str = ""
    source: str = ""  # "Campaign: Spring sale", "Journey: Welcome", "Answer by alice@…", "Direct message"

    def as_dict(self) -> dict:
        return {
            "id": self.key,
            "direction": self.direction,
            "body": self.body,
            "at": self.at.isoformat(),
            "when": timezone.localtime(self.at).strftime("%Y-%m-%d %H:%M"),
            "status": self.status,
            "status_label": self.status_label,
            "error": self.error,
            "source": self.source,
        }


def conversation_thread(*, conversation: Conversation, limit: int = THREAD_LIMIT) -> list[Bubble]:
    """The latest ``limit`` messages both ways, newest first: the contact's inbound texts (by number, also those
    from before the contact existed) and every message the tenant sent them (campaigns, journeys, direct sends and
    inbox answers, each with its status)."""
    contact = conversation.contact
    tenant_id = conversation.tenant_id
    hashes = phone_hashes(tenant_id=tenant_id, phone_number=contact.phone_number)
    inbound = (
        InboundMessage.objects.filter(tenant_id=tenant_id, phone_hash__in=hashes)
        .order_by("-received_at", "-id")
        .values_list("id", "body", "received_at")[:limit]
    )
    outbound = list(
        Message.objects.filter(tenant_id=tenant_id, contact_id=contact.pk)
        .order_by("-created_at", "-id")
        .values_list(
            "id", "body", "created_at", "status", "error_code", "error_message", "campaign__kind", "campaign__name"
        )[:limit]
    )
    authors = dict(
        InboxReply.objects.filter(message_id__in=[row[0] for row in outbound]).values_list(
            "message_id", "author__email"
        )
    )
    labels = dict(MessageStatus.choices)
    bubbles = [Bubble(f"in-{pk}", "in", body, at) for pk, body, at in inbound]
    for pk, body, at, status, code, error, kind, name in outbound:
        if pk in authors:
            source = f"Answer by {authors[pk]}" if authors[pk] else "Answer"
        elif kind == CampaignKind.JOURNEY:
            source = f"Journey: {name}"
        elif kind == CampaignKind.DIRECT:
            source = "Direct message"
        else:
            source = f"Campaign: {name}"
        detail = f"{code}: {error}" if code and error else error or (str(code) if code else "")
        bubbles.append(Bubble(f"out-{pk}", "out", body, at, status, labels.get(status, status), detail, source))
    bubbles.sort(key=lambda b: (b.at, b.key), reverse=True)
    return bubbles[:limit]


@dataclass(frozen=True)
class ReplyRules:
    quiet_hours_exempt: bool
    quiet_hours_text: str
    frequency_cap_text: str
    refusal: str  # why no answer may go to this number now ("": it may)
    refusal_code: str


def reply_rules(*, conversation: Conversation, now: dt.datetime | None = None) -> ReplyRules:
    """What applies to an answer typed now, in words for the page, and the refusal if one is due."""
    now = now or timezone.now()
    tenant = conversation.tenant
    cfg = inbox_settings_get(tenant=tenant)
    hours = cfg.answer_quiet_hours_exempt_hours
    last = conversation.last_inbound_at
    exempt = bool(hours and last and now - last <= dt.timedelta(hours=hours))
    if not hours:
        quiet = "Quiet hours apply: an answer typed in the recipient's quiet hours waits until their window opens."
    elif exempt:
        quiet = (
            f"Quiet hours do not apply: they texted you in the last {hours} h, so an answer goes at once "
            "(inbox settings)."
        )
    else:
        quiet = (
            f"Quiet hours apply: their last text is more than {hours} h old, so an answer typed in their quiet "
            "hours waits until their window opens."
        )
    cap = compliance_settings_get(tenant=tenant).frequency_cap
    if cfg.answer_frequency_cap and cap:
        capping = f"The frequency cap applies: past {cap} texts in 24 h an answer is recorded 'capped', not sent."
    else:
        capping = "The frequency cap does not apply to answers."
    code, refusal = reply_refusal(conversation=conversation)
    return ReplyRules(exempt, quiet, capping, refusal, code)


def reply_refusal(*, conversation: Conversation) -> tuple[str, str]:
    """``(code, message)`` when nothing may be sent to the contact: opted out (on the suppression list) or consent
    revoked; ``("", "")`` otherwise."""
    contact = conversation.contact
    suppression = suppression_get(tenant_id=conversation.tenant_id, phone_number=contact.phone_number)
    if suppression is not None:
        when = timezone.localtime(suppression.created_at).strftime("%Y-%m-%d %H:%M")
        return (
            "opted_out",
            f"Not sent: this number opted out ({suppression.get_source_display()}, {when}). Nothing can be texted to "
            "it until the person texts START.",
        )
    if contact.consent_status == ConsentStatus.REVOKED:
        return (
            "consent_revoked",
            "Not sent: this contact's consent is revoked. Nothing can be texted to them until they give it again.",
        )
    return "", ""


def replies_quiet_hours_exempt(*, message_ids: list[int]) -> set[int]:
    """Of ``message_ids`` (a direct carrier's messages), those that are inbox answers allowed outside quiet hours
    (asked by ``campaigns.sending.dispatch``; one indexed query)."""
    return set(
        InboxReply.objects.filter(message_id__in=message_ids, quiet_hours_exempt=True).values_list(
            "message_id", flat=True
        )
    )
