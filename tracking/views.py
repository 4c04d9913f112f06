"""Twilio's status callback: signed, answered fast, never a 500."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from common.webhook_throttle import webhook_throttled
from gateways.signatures import twilio_request_signers, webhook_params

from .services import CallbackInvalid, CallbackUnroutable, TokenChanged, callback_apply_signed, callback_parse

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
@webhook_throttled
def status_callback(request):
    """``POST /webhooks/twilio/status/``: 204 once recorded; 403 unsigned; 400 unreadable; 422 no tenant of its own."""
    try:
        signers = twilio_request_signers(request, cached=True)
        callback = callback_parse(webhook_params(request))
        apply = {"account_sid": signers.account_sid, "callback": callback}
        try:
            callback_apply_signed(token_ciphertexts=signers.token_ciphertexts, **apply)
        except TokenChanged:
            if not signers.cached:
                raise
            # Tokens read earlier: the tenant's may have been rotated, or it joined the account since.
            signers = twilio_request_signers(request, cached=False)
            callback_apply_signed(token_ciphertexts=signers.token_ciphertexts, **apply)
    except PermissionDenied:
        return JsonResponse({"detail": "Invalid or missing Twilio signature."}, status=403)
    except TokenChanged as exc:
        logger.warning(
            "status callback for tenant %s refused: signed with another token of its account, not its own "
            "(a token rotated at one tenant only?)",
            exc.tenant_id,
        )
        return JsonResponse({"detail": "Invalid or missing Twilio signature."}, status=403)
    except CallbackInvalid as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    except CallbackUnroutable:
        logger.warning("status callback refused: no single tenant of its shared Twilio account owns it")
        return JsonResponse(
            {"detail": "No single tenant on this Twilio account owns this message or sends from its sender."},
            status=422,
        )
    return HttpResponse(status=204)
