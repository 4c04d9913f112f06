"""The inbox's periodic task: thin, locked like every periodic job, returns what it did."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from common.locks import lock_lease, periodic_lock
from compliance.models import InboundMessage
from tenants.models import Tenant

from . import services

#: Tenants with a text in this window are refreshed (each from its own watermark).
RECENT = dt.timedelta(minutes=10)


@shared_task(ignore_result=True)
@periodic_lock("inbox.refresh", lease=lock_lease)
def conversations_refresh() -> dict:
    """Beat: the conversations of every tenant that received a text lately (``services.conversations_refresh``)."""
    since = timezone.now() - RECENT
    tenant_ids = (
        InboundMessage.objects.filter(received_at__gte=since).order_by().values_list("tenant_id", flat=True).distinct()
    )
    done = {"tenants": 0, "texts": 0, "created": 0}
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        result = services.conversations_refresh(tenant=tenant)
        done["tenants"] += 1
        done["texts"] += result.texts
        done["created"] += result.created
    return done
