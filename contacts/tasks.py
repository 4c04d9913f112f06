"""Background work for contacts: large CSV imports."""

from __future__ import annotations

from celery import shared_task

from .services import IMPORT_TIME_LIMIT, contact_import_run


@shared_task(acks_late=True, time_limit=IMPORT_TIME_LIMIT, soft_time_limit=IMPORT_TIME_LIMIT - 60)
def contact_import_task(import_id: int) -> int | None:
    """Import a queued CSV; returns the rows read (None when another worker has it)."""
    job = contact_import_run(import_id=import_id)
    return job.processed_rows if job else None
