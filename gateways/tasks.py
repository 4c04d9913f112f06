from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def simulator_report(
    *, tenant_id: int, sid: str, to: str, status: str, error_code: int | None, channel: str | None = None
) -> None:
    """Report a simulated message's outcome as Twilio's status callback would (for an RCS or WhatsApp message,
    naming the channel as Twilio does: ``ChannelPrefix`` and the prefixed addresses)."""
    from tenants.models import Tenant
    from tracking.services import (  # late: the gateway seam loads before the apps
        status_callback_params,
        status_callback_receive,
    )

    tenant = Tenant.objects.get(pk=tenant_id)
    extra = {"ChannelPrefix": channel, "MessagingServiceSid": tenant.sender} if channel else {}
    params = status_callback_params(
        sid=sid,
        status=status,
        account_sid=tenant.twilio_account_sid,
        to=f"{channel}:{to}" if channel else to,
        error_code=error_code,
        **extra,
    )
    status_callback_receive(tenant=tenant, params=params)


PHONE_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@shared_task(ignore_result=True)
def simulator_click(*, url: str) -> int | None:
    """A simulated recipient taps their link: a real GET through the redirect view, as a phone would."""
    import requests

    try:
        resp = requests.get(url, headers={"User-Agent": PHONE_USER_AGENT}, allow_redirects=False, timeout=5)
    except requests.RequestException as exc:
        logger.info("Simulated click on %s went nowhere (%s): is the web server running?", url, type(exc).__name__)
        return None
    return resp.status_code
