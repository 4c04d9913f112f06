"""The project's URLs plus ``/bench/lookup/<code>``: one indexed PostgreSQL lookup and a 302 (the ceiling)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.urls import path

from links.models import ShortLink
from smscampaigns.urls import handler404, handler500  # noqa: F401
from smscampaigns.urls import urlpatterns as project_urlpatterns


def lookup_ceiling(request, code: str) -> HttpResponse:
    rows = list(ShortLink.objects.filter(code=code).order_by().values_list("target_url", flat=True)[:1])
    if not rows:
        raise Http404
    response = HttpResponse(status=302)
    response["Location"] = rows[0]
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("bench/lookup/<str:code>", lookup_ceiling), *project_urlpatterns]
