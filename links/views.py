"""The short-link redirect: thin; the work is in ``links.capture``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .capture import BLOCKED, EXPIRED, OK, resolve_and_record
from .clickinfo import client_ip
from .services import clicks_record


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def short_link_redirect(request, code: str) -> HttpResponse:
    """302 to the link's target (UTM added) and a recorded click; never a cacheable 301."""
    outcome = resolve_and_record(
        code=code,
        ip=client_ip(request.META),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        method=request.method,
        record=clicks_record,
    )
    if outcome.status == OK:
        response = HttpResponse(status=302)
        response["Location"] = outcome.target
        return _no_store(response)
    if outcome.status == BLOCKED:
        response = render(request, "links/too_many.html", status=429)
        response["Retry-After"] = str(settings.LINKS_PROBE_WINDOW)
        return _no_store(response)
    if outcome.status == EXPIRED:
        return _no_store(render(request, "links/expired.html", status=410))
    return _no_store(render(request, "404.html", status=404))
