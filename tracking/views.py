"""Twilio's status callback: signed, answered fast, never a 500."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gateways.signatures import twilio_request_tenant

from .services import CallbackInvalid, status_callback_receive


@csrf_exempt
@require_POST
def status_callback(request):
    """``POST /webhooks/twilio/status/``: 204 once recorded; 403 unsigned; 400 unreadable."""
    try:
        tenant = twilio_request_tenant(request)
    except PermissionDenied:
        return JsonResponse({"detail": "Invalid or missing Twilio signature."}, status=403)
    try:
        status_callback_receive(tenant=tenant, params=request.POST.dict())
    except CallbackInvalid as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    return HttpResponse(status=204)
