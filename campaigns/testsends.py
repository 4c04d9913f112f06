"""Test sends: a campaign's message to the person's own verified numbers before the real send.

A number is verified first by a code texted to it (so nobody uses the tenant's account to text a stranger under
cover of a "test"). The test goes through the tenant's gateway (``gateways.get_gateway``) like any message,
marked "[Test]", with no status callback, and is no ``Message``: a campaign's counters, stats and the fraud
guard's anomaly figures never see it. The gateway is called outside any transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts.phone import InvalidPhoneNumber, phone_normalize
from gateways import GatewayError, OutboundSMS, get_gateway

from .authoring import campaign_preview_for, sample_link
from .models import Campaign, UserTestNumber
from .rendering import with_first_contact_footer

logger = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = 5
TEST_PREFIX = "[Test] "


class TestSendError(ValueError):
    """A request the person can fix: the message says how."""

    __test__ = False  # not a pytest class


def _code_hash(number: UserTestNumber, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{number.pk}:{number.phone_number}:{code}".encode(), hashlib.sha256).hexdigest()


def _send(*, tenant, to: str, body: str) -> None:
    try:
        get_gateway().send(tenant, OutboundSMS(to=to, body=body))
    except GatewayError as exc:
        raise TestSendError(f"The gateway refused it: {exc.message}") from None


def own_number_add(*, user, phone_number: str) -> UserTestNumber:
    """Add (or re-verify) one of the user's numbers: texts it a six-digit code. Raises ``TestSendError``."""
    tenant = user.tenant
    try:
        e164 = phone_normalize(phone_number, default_country=tenant.default_country or "US")
    except InvalidPhoneNumber as exc:
        raise TestSendError(str(exc)) from None
    now = timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        number, _ = UserTestNumber.objects.select_for_update().get_or_create(
            tenant=tenant, user=user, phone_number=e164
        )
        wait = timedelta(seconds=settings.TEST_CODE_RESEND_SECONDS)
        if number.code_sent_at and number.code_sent_at + wait > now:
            raise TestSendError("A code was just sent to this number: wait a minute before asking for another.")
        number.code_hash = _code_hash(number, code)
        number.code_sent_at, number.attempts = now, 0
        number.save(update_fields=["code_hash", "code_sent_at", "attempts"])
    _send(tenant=tenant, to=e164, body=f"Your verification code for test sends: {code}")
    logger.info("Test number %s: code sent for user %s", number.pk, user.pk)
    return number


def own_number_verify(*, number: UserTestNumber, code: str) -> UserTestNumber:
    """Check the texted code (a few attempts, while it lives). Raises ``TestSendError``."""
    with transaction.atomic():
        number = UserTestNumber.objects.select_for_update().get(pk=number.pk)
        if number.verified_at and not number.code_hash:
            return number
        ttl = timedelta(seconds=settings.TEST_CODE_TTL_SECONDS)
        if not number.code_hash or number.code_sent_at is None or number.code_sent_at + ttl < timezone.now():
            raise TestSendError("The code has expired: ask for a new one.")
        if number.attempts >= MAX_CODE_ATTEMPTS:
            raise TestSendError("Too many wrong codes: ask for a new one.")
        number.attempts += 1
        right = hmac.compare_digest(number.code_hash, _code_hash(number, (code or "").strip()))
        if right:
            number.verified_at, number.code_hash = timezone.now(), ""
        number.save(update_fields=["attempts", "verified_at", "code_hash"])
    if not right:  # raised once the attempt is committed: an exception inside would roll it back
        raise TestSendError("That is not the code we texted.")
    return number


def campaign_test_send(*, campaign: Campaign, number: UserTestNumber) -> str:
    """Text the campaign's message (variant A, as its first recipient would get it, with the opt-out line a
    first contact gets) to a verified number of the person; returns the body sent. Raises ``TestSendError``."""
    if number.tenant_id != campaign.tenant_id or number.verified_at is None:
        raise TestSendError("Verify the number first: send it a code, then type the code.")
    preview = campaign_preview_for(campaign=campaign)
    body = preview.bodies[0] if preview.bodies else None
    text = body.sample if body else ""
    if campaign.link_url and preview.bodies:
        # A test has no short link: the target itself.
        text = text.replace(sample_link(campaign.tenant_id), campaign.link_url)
    text = TEST_PREFIX + with_first_contact_footer(text, preview.opt_out_footer)
    _send(tenant=campaign.tenant, to=number.phone_number, body=text)
    UserTestNumber.objects.filter(pk=number.pk).update(last_test_at=timezone.now())
    logger.info("Campaign %s: test sent to test number %s", campaign.pk, number.pk)
    return text

