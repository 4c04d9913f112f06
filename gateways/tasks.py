from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def simulator_report(*, tenant_id: int, sid: str, to: str, status: str, error_code: int | None) -> None:
    """Report a simulated message's outcome as Twilio's status callback would."""
    from django.utils.module_loading import import_string

    try:
        receive = import_string("tracking.services.status_callback_receive")
    except ImportError:
        logger.info("Simulated %s for %s (no status tracking installed yet)", status, sid)
        return
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "AccountSid": tenant.twilio_account_sid,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = str(error_code)
    receive(tenant=tenant, params=params)
