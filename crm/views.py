"""The Shopify and HubSpot webhooks: ``POST /webhooks/shopify/<token>/`` and ``POST /webhooks/hubspot/<token>/``.

Thin: bound the body (over ``CRM_WEBHOOK_MAX_BYTES``: 413, unread), find the connection by the URL's token (none,
inactive or another kind's: 404), check the platform's signature over the raw body with the connection's secret
(missing or wrong: 403, nothing changes), parse JSON (not JSON: 400), and hand it to a service. Counted per source
address like Twilio's webhooks (``common.webhook_throttle``). Logs carry no personal data.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from common.webhook_throttle import webhook_throttled

from . import selectors, services, signatures
from .models import ConnectionKind

logger = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


def _body(request) -> bytes:
    """The raw body, at most ``CRM_WEBHOOK_MAX_BYTES`` (a larger declared or sent body raises ``_TooLarge``)."""
    limit = settings.CRM_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _TooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _TooLarge
    return body


def _too_large() -> JsonResponse:
    limit = settings.CRM_WEBHOOK_MAX_BYTES
    return JsonResponse({"detail": f"The body is larger than {limit:,} bytes."}, status=413)


def _not_found() -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


def _forbidden() -> JsonResponse:
    return JsonResponse({"detail": "The signature is missing or wrong."}, status=403)


def _json(body: bytes):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


@csrf_exempt
@require_POST
@webhook_throttled
def shopify_webhook(request, token: str):
    try:
        body = _body(request)
    except _TooLarge:
        return _too_large()
    connection = selectors.connection_for_token(token=token, kind=ConnectionKind.SHOPIFY)
    if connection is None:
        return _not_found()
    if not signatures.shopify_valid(
        secret=connection.secret, body=body, header=request.headers.get("X-Shopify-Hmac-Sha256")
    ):
        logger.warning("Shopify webhook: bad signature for connection %s", connection.pk)
        return _forbidden()
    payload = _json(body)
    if not isinstance(payload, dict):
        return JsonResponse({"detail": "The body is not a JSON object."}, status=400)
    result = services.shopify_webhook_handle(
        connection=connection,
        topic=(request.headers.get("X-Shopify-Topic") or "").strip()[:64],
        delivery_key=(
            request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("X-Shopify-Event-Id") or ""
        ).strip()[:200],
        payload=payload,
    )
    return JsonResponse(result.as_dict())


@csrf_exempt
@require_POST
@webhook_throttled
def hubspot_webhook(request, token: str):
    try:
        body = _body(request)
    except _TooLarge:
        return _too_large()
    connection = selectors.connection_for_token(token=token, kind=ConnectionKind.HUBSPOT)
    if connection is None:
        return _not_found()
    uri = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    if not signatures.hubspot_valid(
        secret=connection.secret,
        method=request.method,
        uri=uri,
        body=body,
        timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
        header=request.headers.get("X-HubSpot-Signature-v3"),
        max_skew_seconds=settings.CRM_HUBSPOT_MAX_SKEW_SECONDS,
    ):
        logger.warning("HubSpot webhook: bad or stale signature for connection %s", connection.pk)
        return _forbidden()
    payload = _json(body)
    if not isinstance(payload, list | dict):
        return JsonResponse({"detail": "The body is not a JSON list of events."}, status=400)
    result = services.hubspot_webhook_handle(connection=connection, payload=payload)
    return JsonResponse(result.as_dict())
