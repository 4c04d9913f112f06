"""Twilio's status callback: signed, answered fast, never a 500."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gateways.signatures import twilio_request_signer, webhook_params

from .services import CallbackInvalid, TokenChanged, callback_apply, callback_parse


@csrf_exempt
@require_POST
def status_callback(request):
    """``POST /webhooks/twilio/status/``: 204 once recorded; 403 unsigned; 400 unreadable."""
    try:
        signer = twilio_request_signer(request, cached=True)
        callback = callback_parse(webhook_params(request))
        try:
            callback_apply(tenant_id=signer.tenant_id, callback=callback, token_ciphertext=signer.token_ciphertext)
        except TokenChanged:  # the cached token was rotated away: check against the tenant's current one
            signer = twilio_request_signer(request, cached=False)
            callback_apply(tenant_id=signer.tenant_id, callback=callback, token_ciphertext=signer.token_ciphertext)
    except PermissionDenied:
        return JsonResponse({"detail": "Invalid or missing Twilio signature."}, status=403)
    except CallbackInvalid as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    except TokenChanged:  # rotated again in between: Twilio only retries on connection errors, so say so
        return JsonResponse({"detail": "The tenant's token changed; try again."}, status=409)
    return HttpResponse(status=204)
