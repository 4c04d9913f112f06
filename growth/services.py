"""Writes of list growth: what a keyword does when texted, and a sign-up form's submission.

Both feed the consent ledger (``compliance.services.consent_record``) and the audience (the contact, its tags,
its ``consent_status``). A sign-up is a *request* until the person confirms it (double opt-in: the YES is
handled by ``compliance.inbound``, which grants consent with the disclosure the request carried).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.sending.direct import direct_message_send
from compliance.inbound import render_template
from compliance.keywords import reserved_reason
from compliance.models import ComplianceSettings, ConsentKind, ConsentSource, InboundMessage
from compliance.selectors import compliance_settings_get, is_suppressed
from compliance.services import consent_record
from contacts.models import ConsentStatus, Contact
from contacts.services import DuplicateContact, contact_create, tags_get_or_create
from tenants.models import Tenant

from .models import Keyword, SignupForm
from .selectors import keyword_word

logger = logging.getLogger(__name__)

KEYWORD_MAX_LENGTH = 30


def keyword_word_clean(*, tenant: Tenant, word: str, keyword_id: int | None = None) -> str:
    """``word`` as it is stored (upper case, one word), or ``ValidationError({"word": …})``: empty, not letters and
    digits, a STOP/START/HELP word or phrase, the tenant's JOIN keyword, or another keyword of the tenant."""
    stored = keyword_word(word)
    if not stored:
        raise ValidationError({"word": "Enter a keyword: letters and digits, e.g. VIP."})
    if " " in " ".join((word or "").split()) or not stored.isalnum():
        raise ValidationError({"word": "A keyword is one word of letters and digits, e.g. VIP or SPRING25."})
    if len(stored) > KEYWORD_MAX_LENGTH:
        raise ValidationError({"word": f"A keyword has at most {KEYWORD_MAX_LENGTH} characters."})
    cfg = compliance_settings_get(tenant=tenant)
    reason = reserved_reason(stored, join_keyword=cfg.join_keyword)
    if reason:
        raise ValidationError({"word": f"{reason} Choose another word."})
    taken = Keyword.objects.filter(tenant=tenant, word=stored)
    if keyword_id is not None:
        taken = taken.exclude(pk=keyword_id)
    if taken.exists():
        raise ValidationError({"word": f"You already have the keyword {stored}."})
    return stored


def tags_clean(names: Iterable[str]) -> list[str]:
    """Tag names as a keyword or form keeps them: trimmed, no empties, no repeats, in the order given."""
    return list(dict.fromkeys(n.strip()[:64] for n in names if n and n.strip()))


def _contact_for(*, tenant: Tenant, phone_number: str) -> Contact:
    """The number's contact, created (consent unknown: a sign-up is a request until confirmed) when new."""
    contact = Contact.objects.filter(tenant=tenant, phone_number=phone_number).first()
    if contact is not None:
        return contact
    try:
        with transaction.atomic():
            return contact_create(tenant=tenant, phone_number=phone_number, door="api")
    except DuplicateContact:  # created by a concurrent request: theirs stands
        found = Contact.objects.filter(tenant=tenant, phone_number=phone_number).first()
        if found is None:
            raise
        return found


def _tags_add(*, contact: Contact, names: Iterable[str]) -> None:
    tags = tags_get_or_create(tenant=contact.tenant, names=names)
    if tags:
        contact.tags.add(*tags)


# --- keywords --------------------------------------------------------------------------------------------------


def keyword_act(*, keyword: Keyword, cfg: ComplianceSettings, inbound: InboundMessage) -> str | None:
    """A keyword texted in (called inside the inbound webhook's transaction): the contact (created if new), the
    keyword's tags added, and the answer: the auto-reply, followed by the tenant's JOIN prompt when the keyword
    asks for consent and the sender has not granted it (then a ``requested`` event goes in the ledger with the
    text sent, and the sender's YES grants consent, exactly as after the JOIN keyword)."""
    tenant = keyword.tenant
    contact = _contact_for(tenant=tenant, phone_number=inbound.from_number)
    if inbound.contact_id != contact.pk:
        inbound.contact = contact
        inbound.save(update_fields=["contact"])
    _tags_add(contact=contact, names=keyword.tags)
    reply = render_template(keyword.auto_reply, tenant=tenant)
    if keyword.ask_consent and contact.consent_status != ConsentStatus.GRANTED:
        prompt = render_template(cfg.join_prompt, tenant=tenant)
        reply = f"{reply}\n{prompt}" if reply else prompt
        consent_record(
            tenant=tenant,
            phone_number=contact.phone_number,
            kind=ConsentKind.REQUESTED,
            source=ConsentSource.KEYWORD,
            disclosure_text=reply,
            disclosure_version=cfg.disclosure_version,
            inbound=inbound,
            note=f"keyword {keyword.word}",
            contact=contact,
        )
    return reply or None


# --- sign-up forms -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signup:
    """What a submission wrote: the contact, the ledger event, and the confirmation message (if one was due)."""

    contact: Contact
    consent_kind: str
    message_id: int | None
    message_status: str


def signup_submit(
    *,
    form: SignupForm,
    phone_number: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    custom: dict[str, str] | None = None,
    page_url: str,
    ip_address: str | None,
    user_agent: str = "",
) -> Signup:
    """One sign-up (``phone_number`` already E.164 and screened by the form): the contact created or updated
    (only the fields given; tags added), the consent ledger's event with the disclosure shown, verbatim, its
    version, the page's URL, the time and the address; with double opt-in (or a number on the opt-out list) a
    ``requested`` event and the confirmation text (the tenant's JOIN prompt) through the sending pipeline, else a
    ``granted`` one. One transaction: the text is handed to the sender when it commits."""
    tenant = form.tenant
    cfg = compliance_settings_get(tenant=tenant)
    disclosure = render_template(form.disclosure_text, tenant=tenant)
    confirm = form.double_opt_in or is_suppressed(tenant_id=tenant.pk, phone_number=phone_number)
    with transaction.atomic():
        contact = _contact_for(tenant=tenant, phone_number=phone_number)
        changed = {
            name: value
            for name, value in (("first_name", first_name), ("last_name", last_name), ("email", email))
            if value and getattr(contact, name) != value
        }
        extra = {k: v for k, v in (custom or {}).items() if v}
        if extra:
            changed["custom_fields"] = {**(contact.custom_fields or {}), **extra}
        if changed:
            for name, value in changed.items():
                setattr(contact, name, value)
            contact.save(update_fields=[*changed, "updated_at"])
        _tags_add(contact=contact, names=form.tags)
        kind = ConsentKind.REQUESTED if confirm else ConsentKind.GRANTED
        consent_record(
            tenant=tenant,
            phone_number=phone_number,
            kind=kind,
            source=ConsentSource.WEB_FORM,
            source_url=page_url,
            disclosure_text=disclosure,
            disclosure_version=str(form.disclosure_version),
            ip_address=ip_address,
            user_agent=user_agent,
            note=f"web form {form.slug}",
            contact=contact,
        )
        message = None
        if confirm:
            # Not a marketing text but the one the person just asked for: the daily cap of marketing texts would
            # leave someone who had today's share unable ever to confirm (the per-number throttle bounds repeats).
            message = direct_message_send(
                tenant=tenant,
                contact=contact,
                body=render_template(cfg.join_prompt, tenant=tenant),
                frequency_cap=False,
            )
    contact.refresh_from_db()
    logger.info("Sign-up on form %s: contact %s, consent %s", form.pk, contact.pk, kind)
    return Signup(
        contact=contact,
        consent_kind=kind,
        message_id=message.pk if message else None,
        message_status=message.status if message else "",
    )
