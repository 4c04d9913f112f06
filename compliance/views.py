"""Twilio's incoming-message webhook. Thin: authenticate, hand to ``inbound_receive``, answer TwiML."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from common.webhook_throttle import webhook_throttled
from gateways.signatures import TenantUnroutable, twilio_request_tenant, webhook_params

from .inbound import inbound_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
@webhook_throttled
def twilio_inbound(request):
    """``POST /webhooks/twilio/inbound/``: 403 (nothing recorded) on a bad signature, 422 (nothing recorded)
    when a shared account's text names no tenant's sender, else TwiML."""
    try:
        tenant = twilio_request_tenant(request)
    except PermissionDenied:
        logger.warning("inbound webhook refused: bad or missing Twilio signature")
        return HttpResponse("Forbidden", status=403, content_type="text/plain")
    except TenantUnroutable:
        # Answered with an error so that it shows in Twilio's debugger; the sender is the fix.
        logger.warning("inbound webhook refused: no single tenant of its shared Twilio account sends from its To")
        return HttpResponse(
            "No tenant on this Twilio account sends from this number or Messaging Service.",
            status=422,
            content_type="text/plain",
        )
    result = inbound_receive(tenant=tenant, params=webhook_params(request))
    response = MessagingResponse()
    if result.reply:
        response.message(result.reply)
    return HttpResponse(str(response), content_type="application/xml")
