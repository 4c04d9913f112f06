"""Writes for contacts: create and update one, start and run a background import."""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common.enqueue import task_enqueue
from compliance.services import consent_status_changed
from tenants.models import Tenant

from .importing import FileInfo, ImportResult, contacts_import, import_file_check
from .models import ConsentStatus, Contact, ContactImport, ImportStatus, Tag
from .phone import timezone_for_number

logger = logging.getLogger(__name__)


def sync_import_max_rows() -> int:
    """Imports with more data rows than this run in a Celery worker (``CONTACT_IMPORT_SYNC_MAX_ROWS``)."""
    return getattr(settings, "CONTACT_IMPORT_SYNC_MAX_ROWS", 5000)


def import_fits_request(info: FileInfo) -> bool:
    """Whether a checked file is small enough to import inside the web request; any other goes to a worker.

    Both limits hold: rows (``CONTACT_IMPORT_SYNC_MAX_ROWS``) and bytes (``CONTACT_IMPORT_SYNC_MAX_BYTES``). The
    row count is read from line feeds before parsing, and a file can hide its rows from it (carriage returns
    alone end its lines, or cells run long): its size cannot hide.
    """
    return info.estimated_rows <= sync_import_max_rows() and info.size <= settings.CONTACT_IMPORT_SYNC_MAX_BYTES


IMPORT_TIME_LIMIT = 1800  # seconds; 100,000 rows take well under a minute
# Under the broker's visibility timeout (3600 s), so a redelivered task finds the dead run stale.
STALE_RUN_SECONDS = IMPORT_TIME_LIMIT + 60


class DuplicateContact(ValueError):
    pass


def tags_get_or_create(*, tenant: Tenant, names: Iterable[str]) -> list[Tag]:
    names = sorted({n.strip() for n in names if n and n.strip()})
    if not names:
        return []
    Tag.objects.bulk_create([Tag(tenant=tenant, name=n) for n in names], ignore_conflicts=True)
    return list(Tag.objects.filter(tenant=tenant, name__in=names))


def _consent_defaults(contact: Contact, fields: dict) -> None:
    status = fields.get("consent_status")
    if status and status != ConsentStatus.UNKNOWN and not fields.get("consent_at"):
        contact.consent_at = timezone.now()


def contact_create(
    *, tenant: Tenant, phone_number: str, tags: Iterable[str] = (), door: str = "api", **fields
) -> Contact:
    """A new contact; ``phone_number`` is already E.164. An empty timezone is derived from the number.

    A consent given with it goes in the consent ledger (``door``: api, admin, import); a revoked one also
    suppresses the number."""
    contact = Contact(tenant=tenant, phone_number=phone_number, **fields)
    if not contact.timezone:
        contact.timezone = timezone_for_number(phone_number)
    _consent_defaults(contact, fields)
    try:
        with transaction.atomic():
            contact.save()
            contact.tags.set(tags_get_or_create(tenant=tenant, names=tags))
    except IntegrityError as exc:
        raise DuplicateContact("A contact with this phone number already exists.") from exc
    consent_status_changed(
        tenant=tenant, contact=contact, before=ConsentStatus.UNKNOWN, after=contact.consent_status, source=door
    )
    return contact


def contact_update(*, contact: Contact, tags: Iterable[str] | None = None, door: str = "api", **fields) -> Contact:
    """Change ``fields`` of ``contact``; ``tags`` (when given) replaces its tags. A change of consent goes in
    the consent ledger (``door``: api, admin, import); a revocation also suppresses the number."""
    before = Contact.objects.filter(pk=contact.pk).values_list("consent_status", flat=True).first()
    for name, value in fields.items():
        setattr(contact, name, value)
    if "phone_number" in fields and "timezone" not in fields and not contact.timezone:
        contact.timezone = timezone_for_number(contact.phone_number)
    if "consent_status" in fields:
        _consent_defaults(contact, fields)
    try:
        with transaction.atomic():
            contact.save()
            if tags is not None:
                contact.tags.set(tags_get_or_create(tenant=contact.tenant, names=tags))
    except IntegrityError as exc:
        raise DuplicateContact("A contact with this phone number already exists.") from exc
    if before is not None:
        consent_status_changed(
            tenant=contact.tenant, contact=contact, before=before, after=contact.consent_status, source=door
        )
    return contact


def contact_import_start(
    *, tenant: Tenant, fileobj: IO[bytes], file_name: str = "", user=None, inline_if_small: bool = False
) -> ContactImport:
    """Keep the (checked) file in a ``ContactImport`` and hand it to a worker after commit.

    With ``inline_if_small`` a file that fits a request (``import_fits_request``) is imported at once instead
    (the admin's small uploads), so the record exists either way. Raises ``ImportFileError`` at once when
    the file is not a UTF-8 CSV with a phone column (``ImportFileTooLarge`` over ``CONTACT_IMPORT_MAX_BYTES``).
    """
    info = import_file_check(fileobj)
    job = ContactImport.objects.create(
        tenant=tenant,
        file_name=file_name[:255],
        data=fileobj.read(),
        total_rows=info.estimated_rows,
        created_by=user if getattr(user, "pk", None) else None,
    )
    if inline_if_small and import_fits_request(info):
        return contact_import_run(import_id=job.pk) or job
    task_enqueue("contacts.tasks.contact_import_task", args=(job.pk,))
    return job


def contact_import_wait(*, import_id: int, timeout: float, interval: float = 0.2) -> ContactImport:
    """The import as it stands once a worker finished it (done or failed), or when ``timeout`` seconds passed.

    For the API's large files: the work happens in a worker, and the caller still gets the counts in the
    same answer when the worker is quick enough (a primary-key read every ``interval`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        job = ContactImport.objects.get(pk=import_id)
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED) or time.monotonic() >= deadline:
            return job
        time.sleep(min(interval, max(deadline - time.monotonic(), 0)))


def contact_import_run(*, import_id: int) -> ContactImport | None:
    """Run a queued import (the worker's side). Claims it first, so a redelivered task is a no-op."""
    now = timezone.now()
    # A run whose worker died (older than any task may live) may be taken again: the upsert is idempotent.
    stale = Q(status=ImportStatus.RUNNING, started_at__lt=now - dt.timedelta(seconds=STALE_RUN_SECONDS))
    claimed = (
        ContactImport.objects.filter(pk=import_id)
        .filter(Q(status=ImportStatus.PENDING) | stale)
        .update(status=ImportStatus.RUNNING, started_at=now)
    )
    if not claimed:
        return None
    job = ContactImport.objects.select_related("tenant").get(pk=import_id)

    def progress(result: ImportResult) -> None:
        ContactImport.objects.filter(pk=job.pk).update(
            processed_rows=result.rows,
            created=result.created,
            updated=result.updated,
            error_count=result.error_count,
        )

    try:
        result = contacts_import(
            tenant=job.tenant,
            fileobj=io.BytesIO(bytes(job.data)),
            progress=progress,
            max_errors=ContactImport.MAX_KEPT_ERRORS,
        )
    except Exception as exc:  # recorded for the admin; the task does not retry a broken file
        logger.exception("Contact import %s failed", job.pk)
        ContactImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED, failure=str(exc)[:500], finished_at=timezone.now(), data=b""
        )
        return ContactImport.objects.get(pk=job.pk)
    ContactImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.DONE,
        processed_rows=result.rows,
        total_rows=result.rows,
        created=result.created,
        updated=result.updated,
        error_count=result.error_count,
        errors=result.errors,
        finished_at=timezone.now(),
        data=b"",
    )
    return ContactImport.objects.get(pk=job.pk)
