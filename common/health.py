"""Project-level views: health check and JSON error pages."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    app = current_app  # the project's (smscampaigns.celery), without importing the project shell
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (eager)"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


@require_GET
def healthz(request):
    """200 when the database and the broker answer; 503 naming what does not."""
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the service unhealthy
            logger.warning("healthz: %s check failed: %s", name, type(exc).__name__)
            checks[name] = f"error: {type(exc).__name__}"
            healthy = False
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def _wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/webhooks/")) or "application/json" in request.headers.get("Accept", "")


def error_404(request, exception=None):
    from django.shortcuts import render

    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def error_500(request):
    if _wants_json(request):
        return JsonResponse({"detail": "Internal error."}, status=500)
    from django.http import HttpResponseServerError

    return HttpResponseServerError("<h1>Something went wrong</h1><p>The error was logged.</p>")


def error_400(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)
