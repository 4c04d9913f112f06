"""Writes and checks for the media library: upload (checked by content), delete (not while in use), and the
checks a campaign's choice of media must pass (how many, how big, whose)."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from tenants.models import Tenant

from .inspection import Inspected, MediaRejected, media_inspect
from .models import MediaFile

logger = logging.getLogger(__name__)

#: Campaign statuses that may still send (a media file they use cannot be deleted).
PENDING_CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused")
#: Twilio's advice for the file name in Content-Disposition: no spaces, 20 characters at most.
FILENAME_STEM_CHARS = 15


class MediaInUse(Exception):
    """The file is attached to campaigns that may still send: ``campaigns`` lists ``(id, name, status)``."""

    def __init__(self, campaigns: list[tuple[int, str, str]]) -> None:
        names = ", ".join(f"“{name}” ({status})" for _id, name, status in campaigns)
        super().__init__(f"This file is used by campaigns that may still send: {names}. Remove it from them first.")
        self.campaigns = campaigns


def safe_filename(original: str, extension: str) -> str:
    """A short name Twilio's Content-Disposition advice allows (letters, digits, - and _), with the real
    extension of the detected type, whatever the upload was called."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", PurePath(original or "").stem).strip("-_")[:FILENAME_STEM_CHARS]
    return f"{stem or 'media'}.{extension}"


def size_warnings(*, content_type: str, size: int) -> list[str]:
    """Advice, not refusals: above ``MMS_WARN_BYTES`` carriers resize images (and may refuse other files)."""
    warn = settings.MMS_WARN_BYTES
    if size <= warn:
        return []
    if content_type.startswith("image/"):
        return [
            f"The image is {size:,} bytes: above {warn:,} (MMS_WARN_BYTES) carriers usually resize or recompress "
            "images, so recipients may see it at a lower quality."
        ]
    return [
        f"The file is {size:,} bytes: above {warn:,} (MMS_WARN_BYTES) some carriers refuse files other than images."
    ]


def media_check_upload(*, data: bytes) -> Inspected:
    """The file's size limit, then its content. Raises ``MediaRejected`` naming the limit."""
    limit = settings.MMS_MAX_FILE_BYTES
    if len(data) > limit:
        raise MediaRejected(
            f"The file is {len(data):,} bytes; at most {limit:,} bytes (MMS_MAX_FILE_BYTES, Twilio's MMS limit).",
            limit="MMS_MAX_FILE_BYTES",
            limit_value=limit,
        )
    if not data:
        raise MediaRejected("The file is empty.", limit="MMS_ACCEPTED_TYPES")
    return media_inspect(data)


def read_upload(upload) -> bytes:
    """The uploaded bytes, reading at most one byte past the limit (a bigger file is refused whatever it holds)."""
    limit = settings.MMS_MAX_FILE_BYTES
    if getattr(upload, "size", None) is not None and upload.size > limit:
        raise MediaRejected(
            f"The file is {upload.size:,} bytes; at most {limit:,} bytes (MMS_MAX_FILE_BYTES, Twilio's MMS limit).",
            limit="MMS_MAX_FILE_BYTES",
            limit_value=limit,
        )
    upload.seek(0)
    return upload.read(limit + 1)


def media_upload(*, tenant: Tenant, upload, user=None, into: MediaFile | None = None) -> MediaFile:
    """Check ``upload`` (a Django ``UploadedFile``) by size and content, store it, and record it.

    ``into``: an unsaved ``MediaFile`` to fill (the admin's form instance). Raises ``MediaRejected``.
    """
    data = read_upload(upload)
    found = media_check_upload(data=data)
    media = into or MediaFile()
    media.tenant = tenant
    media.token = secrets.token_urlsafe(24)
    media.original_name = (getattr(upload, "name", "") or "")[:255]
    media.filename = safe_filename(media.original_name, found.extension)
    media.content_type = found.content_type
    media.size = len(data)
    media.width, media.height = found.width, found.height
    media.created_by = user if getattr(user, "pk", None) else None
    media.file.save(media.filename, ContentFile(data), save=False)
    try:
        media.save()
    except Exception:
        media.file.storage.delete(media.file.name)  # no orphan bytes for a row that never was
        raise
    logger.info("media: stored %s (%s, %d bytes) for tenant %s", media.pk, media.content_type, media.size, tenant.pk)
    return media


def media_campaigns_pending(*, media: MediaFile) -> list[tuple[int, str, str]]:
    """Campaigns that use ``media`` and may still send, as ``(id, name, status)``."""
    return list(
        media.campaign_uses.filter(campaign__status__in=PENDING_CAMPAIGN_STATUSES)
        .order_by("campaign_id")
        .values_list("campaign_id", "campaign__name", "campaign__status")
        .distinct()
    )


def media_delete(*, media: MediaFile) -> None:
    """Delete a file no pending campaign uses (its row locked, so a campaign cannot take it meanwhile).

    Raises ``MediaInUse``. The bytes leave the storage once the row's deletion commits.
    """
    with transaction.atomic():
        locked = MediaFile.objects.select_for_update().filter(pk=media.pk).first()
        if locked is None:
            return
        in_use = media_campaigns_pending(media=locked)
        if in_use:
            raise MediaInUse(in_use)
        name, storage = locked.file.name, locked.file.storage
        locked.delete()
        transaction.on_commit(lambda: storage.delete(name))


def media_for_message(*, tenant_id: int, ids: Iterable, field: str = "media", lock: bool = False) -> list[MediaFile]:
    """The tenant's files for one message, in the order given: at most ``MMS_MAX_MEDIA_PER_MESSAGE``, together at
    most ``MMS_MAX_MESSAGE_BYTES``. Raises ``MediaRejected`` (its ``limit`` names the rule; another tenant's or
    an unknown id is ``unknown`` alike, never a hint that it exists). ``lock``: hold the rows (a delete waits)."""
    ids = list(ids or [])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise MediaRejected(f"{field} must be a list of media ids (numbers).", limit="media_ids")
    if len(set(ids)) != len(ids):
        raise MediaRejected(f"{field} names the same file twice.", limit="media_ids")
    most = settings.MMS_MAX_MEDIA_PER_MESSAGE
    if len(ids) > most:
        raise MediaRejected(
            f"{len(ids)} files; at most {most} per message (MMS_MAX_MEDIA_PER_MESSAGE).",
            limit="MMS_MAX_MEDIA_PER_MESSAGE",
            limit_value=most,
        )
    if not ids:
        return []
    qs = MediaFile.objects.filter(tenant_id=tenant_id, pk__in=ids)
    found = {m.pk: m for m in (qs.select_for_update() if lock else qs)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise MediaRejected(f"No such media file: {', '.join(map(str, unknown))}.", limit="media_ids")
    total, cap = sum(m.size for m in found.values()), settings.MMS_MAX_MESSAGE_BYTES
    if total > cap:
        raise MediaRejected(
            f"The files add up to {total:,} bytes; at most {cap:,} bytes per message (MMS_MAX_MESSAGE_BYTES).",
            limit="MMS_MAX_MESSAGE_BYTES",
            limit_value=cap,
        )
    return [found[i] for i in ids]
