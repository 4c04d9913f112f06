"""Writes for short links."""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from tenants.models import Tenant

from .models import ShortLink

ALPHABET = string.ascii_letters + string.digits  # base62
CODE_LENGTH = 8
MAX_ATTEMPTS = 5


def code_generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def short_url(code: str) -> str:
    return f"{settings.SHORT_LINK_BASE_URL}/{code}"


def short_url_length() -> int:
    """Characters a short link takes in a message body (known before any code exists)."""
    return len(short_url("x" * CODE_LENGTH))


def short_links_create_for_messages(
    *, tenant: Tenant, campaign_id: int, target_url: str, message_ids: Sequence[int]
) -> dict[int, str]:
    """One new link per message, in bulk; returns ``{message_id: code}``.

    Codes are random; the rare collision (62^8 codes) is retried for the rows it hit.
    """
    result: dict[int, str] = {}
    pending = list(message_ids)
    for _attempt in range(MAX_ATTEMPTS):
        if not pending:
            return result
        links = [
            ShortLink(
                tenant=tenant, campaign_id=campaign_id, message_id=mid, target_url=target_url, code=code_generate()
            )
            for mid in pending
        ]
        try:
            with transaction.atomic():
                ShortLink.objects.bulk_create(links, batch_size=5000)
        except IntegrityError:
            # A code collided, or a message already has its link (a rerun): keep
            # the links that exist, and try the rest again with new codes.
            existing = dict(ShortLink.objects.filter(message_id__in=pending).values_list("message_id", "code"))
            result.update(existing)
            pending = [mid for mid in pending if mid not in existing]
            continue
        result.update({link.message_id: link.code for link in links})
        pending = []
    if pending:
        raise RuntimeError(f"Could not create short links for {len(pending)} messages")
    return result
