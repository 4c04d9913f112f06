"""Twilio's status callback: signed, answered fast, never a 500."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gateways.signatures import twilio_request_tenant_id

from .services import CallbackInvalid, callback_apply, callback_parse


@csrf_exempt
@require_POST
def status_callback(request):
    """``POST /webhooks/twilio/status/``: 204 once recorded; 403 unsigned; 400 unreadable."""
    try:
        tenant_id = twilio_request_tenant_id(request)
    except PermissionDenied:
        return JsonResponse({"detail": "Invalid or missing Twilio signature."}, status=403)
    try:
        callback_apply(tenant_id=tenant_id, callback=callback_parse(request.POST.dict()))
    except CallbackInvalid as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    return HttpResponse(status=204)
