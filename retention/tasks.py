"""The retention app's periodic task: thin, locked like every periodic job, returns what it did."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from common.locks import periodic_lock

from . import services


@shared_task(ignore_result=True)
@periodic_lock("retention.partitions", lease=600)
def partitions_maintain() -> dict:
    """Beat (hourly): the months ahead created, the expired ones dropped (``services.partitions_maintain``)."""
    return asdict(services.partitions_maintain())
