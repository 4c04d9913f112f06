"""An inbound text, acted on: STOP suppresses, START lifts a keyword opt-out, HELP answers, JOIN asks YES.

A tenant's own keywords (VIP, a promo word) are answered by the handler an app above registers in
``compliance.keyword_hooks``; a sign-up that asked YES (the JOIN keyword, a keyword, a web form: a ``requested``
event in the consent ledger) is confirmed by the next YES, with the disclosure it asked under.

Everything is written before the webhook answers, so ``is_suppressed`` is True
the moment Twilio gets our reply to a STOP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from campaigns.models import Message, MessageStatus
from campaigns.transitions import message_move
from contacts.models import Contact
from guard.abuse import inbound_burst
from integrations.events import reply_event_emit
from tenants.models import Tenant

from .hashing import phone_hash
from .keyword_hooks import keyword_match
from .keywords import Intent, Parsed, normalize, parse
from .models import (
    ComplianceSettings,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    InboundKind,
    InboundMessage,
    SuppressionSource,
)
from .phone import sender_number
from .questions import is_question
from .selectors import compliance_settings_get, consent_events_for, suppression_get
from .services import consent_record, suppression_ensure, suppression_remove

logger = logging.getLogger(__name__)
MAX_NUMBER_LENGTH = 16  # E.164: "+" and at most 15 digits


@dataclass(frozen=True)
class InboundResult:
    inbound: InboundMessage | None
    reply: str | None


def render_template(text: str, *, tenant: Tenant) -> str:
    """``{brand}`` → the tenant's name (no ``str.format``: tenant text may hold other braces)."""
    return (text or "").replace("{brand}", tenant.name).strip()


def _latest_message(*, tenant: Tenant, contact: Contact | None) -> Message | None:
    """The campaign message a reply answers: the latest one sent to that contact.

    Looked up by contact (an indexed foreign key), not by ``Message.to``, which has no
    index: a STOP storm after a big campaign must not scan every message.
    """
    if contact is None:
        return None
    return (
        Message.objects.filter(tenant=tenant, contact=contact)
        .order_by(F("sent_at").desc(nulls_last=True), "-id")
        .select_related("campaign")
        .first()
    )


def _suppress_pending(*, contact: Contact | None) -> int:
    """Move the contact's messages still waiting to be sent to ``suppressed`` at once.

    The sender checks the list again when it claims each message; this makes the
    campaign's counters say so straight away. Returns how many moved.
    """
    if contact is None:
        return 0
    moved = 0
    for message_id in Message.objects.filter(contact=contact, status=MessageStatus.PENDING).values_list(
        "id", flat=True
    ):
        if message_move(message_id=message_id, to=MessageStatus.SUPPRESSED, allowed_from=[MessageStatus.PENDING]):
            moved += 1
    return moved


def _join_pending(*, tenant: Tenant, phone_number: str) -> ConsentEvent | None:
    """The sign-up awaiting this number's YES: its latest consent event, when that is a request."""
    last = consent_events_for(tenant_id=tenant.pk, phone_number=phone_number).last()
    return last if last is not None and last.kind == ConsentKind.REQUESTED else None


def inbound_receive(*, tenant: Tenant, params: dict[str, str]) -> InboundResult:
    """Record one inbound message, act on its keyword, and say what to answer (``None``: nothing).

    A repeated ``MessageSid`` (Twilio retried) changes nothing and answers nothing.
    """
    sid = (params.get("MessageSid") or params.get("SmsSid") or "")[:34]
    from_number = sender_number(params.get("From") or "", default_country=tenant.default_country)[:32]
    body = params.get("Body") or ""
    opt_out_type = params.get("OptOutType") or ""

    cfg = compliance_settings_get(tenant=tenant)
    parsed = parse(body, opt_out_type=opt_out_type, join_keyword=cfg.join_keyword)
    handler = None
    if parsed.intent == Intent.REPLY and not parsed.needs_review:
        # A tenant keyword (one indexed query in the app that defines them); never STOP/START/HELP/JOIN.
        found = keyword_match(tenant=tenant, text=normalize(body))
        if found is not None:
            handler, word = found
            parsed = Parsed(Intent.KEYWORD, keyword=word)
    contact = Contact.objects.filter(tenant=tenant, phone_number=from_number).first() if from_number else None
    message = _latest_message(tenant=tenant, contact=contact)
    # With Twilio's Advanced Opt-Out (OptOutType set) Twilio has already answered the
    # keyword itself; a second confirmation from us would be one text too many.
    twilio_answered = bool(opt_out_type)
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                tenant=tenant,
                sid=sid,
                from_number=from_number,
                to_number=(params.get("To") or "")[:34],
                body=body,
                kind=_KIND_OF_INTENT[parsed.intent],
                keyword=parsed.keyword[:30] if parsed.intent in (Intent.KEYWORD, Intent.JOIN) else None,
                needs_review=parsed.needs_review,
                review_reason=parsed.review_reason[:200],
                # A question for a person: plain replies only (keywords are answered here). Text work, no query.
                needs_reply=parsed.intent == Intent.REPLY and is_question(body),
                contact=contact,
                message=message,
                campaign=message.campaign if message else None,
                phone_hash=phone_hash(tenant_id=tenant.pk, phone_number=from_number) if from_number else "",
            )
            if not from_number or len(from_number) > MAX_NUMBER_LENGTH:
                # Not a phone number we could ever text: keep it for a person, act on nothing.
                if from_number and parsed.intent != Intent.REPLY:
                    _set(inbound, needs_review=True, review_reason="keyword from a sender that is not a phone number")
                return InboundResult(inbound, None)
            # The fraud guard: a flood from one number or range is kept, but neither answered nor a reply (a STOP
            # in it is still honoured).
            burst = inbound_burst(tenant_id=tenant.pk, number=from_number)
            if burst and parsed.intent != Intent.OPT_OUT:
                _set(inbound, review_reason=burst[:200], needs_reply=False)
                return InboundResult(inbound, None)
            if handler is not None:
                reply = handler.act(tenant=tenant, cfg=cfg, inbound=inbound)
            else:
                reply = _act(tenant=tenant, cfg=cfg, inbound=inbound, intent=parsed.intent, keyword=parsed.keyword)
    except IntegrityError:
        # The same MessageSid again (Twilio retried, or two deliveries raced): the
        # unique (tenant, sid) constraint let only the first one act.
        return InboundResult(None, None)
    if inbound.kind == InboundKind.OPT_OUT:
        _suppress_pending(contact=contact)
    if inbound.kind == InboundKind.REPLY:
        reply_event_emit(tenant_id=tenant.pk, from_number=from_number, body=body, contact_id=inbound.contact_id)
    if twilio_answered and inbound.kind in (InboundKind.OPT_OUT, InboundKind.OPT_IN, InboundKind.HELP):
        reply = None
    return InboundResult(inbound, reply)


_KIND_OF_INTENT = {
    Intent.OPT_OUT: InboundKind.OPT_OUT,
    Intent.OPT_IN: InboundKind.OPT_IN,
    Intent.HELP: InboundKind.HELP,
    Intent.JOIN: InboundKind.JOIN,
    Intent.KEYWORD: InboundKind.KEYWORD,
    Intent.REPLY: InboundKind.REPLY,
}


def _set(inbound: InboundMessage, **fields) -> None:
    changed = [name for name, value in fields.items() if getattr(inbound, name) != value]
    for name in changed:
        setattr(inbound, name, fields[name])
    if changed:
        inbound.save(update_fields=changed)


def _act(*, tenant: Tenant, cfg: ComplianceSettings, inbound: InboundMessage, intent: str, keyword: str) -> str | None:
    number = inbound.from_number
    if intent == Intent.OPT_OUT:
        _, created = suppression_ensure(
            tenant=tenant,
            phone_number=number,
            source=SuppressionSource.KEYWORD,
            note=f"keyword {keyword}",
            inbound=inbound,
            contact=inbound.contact,
        )
        # Already out: one confirmation only, ever.
        return render_template(cfg.stop_confirmation, tenant=tenant) if created else None

    if intent == Intent.HELP:
        _set(inbound, kind=InboundKind.HELP)
        return render_template(tenant.help_text, tenant=tenant)

    if intent == Intent.JOIN:
        _set(inbound, kind=InboundKind.JOIN)
        prompt = render_template(cfg.join_prompt, tenant=tenant)
        consent_record(
            tenant=tenant,
            phone_number=number,
            kind=ConsentKind.REQUESTED,
            source=ConsentSource.KEYWORD,
            disclosure_text=prompt,
            disclosure_version=cfg.disclosure_version,
            inbound=inbound,
            note=f"keyword {keyword}",
            contact=inbound.contact,
        )
        return prompt

    if intent == Intent.OPT_IN:
        suppression = suppression_get(tenant_id=tenant.pk, phone_number=number)
        pending = _join_pending(tenant=tenant, phone_number=number) if keyword == "YES" else None
        if pending is not None:
            return _join_confirm(tenant=tenant, cfg=cfg, inbound=inbound, suppression=suppression, pending=pending)
        if suppression is None:
            # START with no earlier opt-out: nothing to lift. A bare YES is just a reply.
            _set(inbound, kind=InboundKind.OPT_IN if keyword != "YES" else InboundKind.REPLY)
            return None
        _set(inbound, kind=InboundKind.OPT_IN)
        if suppression.source != SuppressionSource.KEYWORD:
            _set(
                inbound,
                needs_review=True,
                review_reason=f"opt-in from a number suppressed by {suppression.get_source_display()}: not lifted",
            )
            return None
        suppression_remove(tenant=tenant, phone_number=number)
        confirmation = render_template(cfg.start_confirmation, tenant=tenant)
        consent_record(
            tenant=tenant,
            phone_number=number,
            kind=ConsentKind.GRANTED,
            source=ConsentSource.KEYWORD,
            disclosure_text=confirmation,
            disclosure_version=cfg.disclosure_version,
            inbound=inbound,
            note=f"keyword {keyword}",
            contact=inbound.contact,
        )
        return confirmation

    return None  # a plain reply, already kept (and flagged if it needs a person)


def _join_confirm(
    *, tenant: Tenant, cfg: ComplianceSettings, inbound: InboundMessage, suppression, pending: ConsentEvent
) -> str:
    """YES after a sign-up that asked for it: consent granted (double opt-in), the contact created if new.

    The grant carries what the person agreed to: the request's source, page URL, disclosure text and version
    (the JOIN prompt for the JOIN keyword, a web form's disclosure for a form, a keyword's answer for a keyword).
    """
    number = inbound.from_number
    _set(inbound, kind=InboundKind.CONFIRM)
    if suppression is not None and suppression.source == SuppressionSource.KEYWORD:
        suppression_remove(tenant=tenant, phone_number=number)
    contact, _ = Contact.objects.get_or_create(tenant=tenant, phone_number=number)
    if inbound.contact_id is None:
        _set(inbound, contact=contact)
    consent_record(
        tenant=tenant,
        phone_number=number,
        kind=ConsentKind.GRANTED,
        source=pending.source or ConsentSource.KEYWORD,
        source_url=pending.source_url,
        disclosure_text=pending.disclosure_text or render_template(cfg.join_prompt, tenant=tenant),
        disclosure_version=pending.disclosure_version or cfg.disclosure_version,
        inbound=inbound,
        note=f"double opt-in: YES after {pending.note or 'join keyword'}"[:300],
        contact=contact,
    )
    return render_template(cfg.join_confirmation, tenant=tenant)
