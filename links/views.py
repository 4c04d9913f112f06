"""The short-link redirect and the branded domains' public answers: thin; the work is in ``links.capture``."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed
from django.http.request import split_domain_port
from django.shortcuts import render
from django.views.decorators.http import require_safe

from tenants.models import Tenant

from .capture import BLOCKED, EXPIRED, OK, OUTCOME_KEY, resolve_and_record
from .clickinfo import client_ip
from .domains import raw_host
from .models import LinkDomain
from .services import clicks_record
from .verification import CHALLENGE_PATH

#: On a tenant's own domain the code is the whole path: ``https://go.shop.example/<code>``.
ROOT_CODE = re.compile(r"/([0-9A-Za-z]{1,32})/?")
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def short_link_redirect(request, code: str, tenant_id: int | None = None) -> HttpResponse:
    """302 to the link's target (UTM added) and a recorded click; never a cacheable 301.

    ``tenant_id``: the request came to that tenant's own domain, where another tenant's code is a 404.
    """
    outcome = request.META.pop(OUTCOME_KEY, None)  # reached by links.front for this very request
    if outcome is None:
        outcome = resolve_and_record(
            code=code,
            ip=client_ip(request.META),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            method=request.method,
            record=clicks_record,
            tenant_id=tenant_id,
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
        name = Tenant.objects.filter(pk=outcome.tenant_id).values_list("name", flat=True).first() or ""
        return _no_store(render(request, "links/expired.html", {"tenant_name": name}, status=410))
    return _not_found(request)


def _not_found(request) -> HttpResponse:
    return _no_store(render(request, "404.html", status=404))


def request_host(request) -> str:
    """The raw Host (or X-Forwarded-Host where Django is told to trust it), before Django's ALLOWED_HOSTS check."""
    return raw_host(request.META)


def domain_challenge(request, raw_host: str) -> HttpResponse | None:
    """``/.well-known/smscampaigns-verify/<token>`` on a domain a tenant added (verified or not): the token as
    text, which the HTTP check fetches. None when no domain of that host has that token."""
    token = request.path_info[len(CHALLENGE_PATH) :].rstrip("/")
    if request.method not in ("GET", "HEAD") or not TOKEN.fullmatch(token):
        return None
    host = split_domain_port(raw_host)[0]
    if not host or not LinkDomain.objects.filter(host=host, token=token).exists():
        return None
    return _no_store(HttpResponse(token, content_type="text/plain; charset=utf-8"))


def branded_host_view(request, tenant_id: int, raw_host: str) -> HttpResponse:
    """Everything a tenant's verified domain serves: its codes at the root, the challenge; any other path a 404
    (never the admin or the API on a customer's domain)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    path = request.path_info
    if path.startswith(CHALLENGE_PATH):
        return domain_challenge(request, raw_host) or _not_found(request)
    match = ROOT_CODE.fullmatch(path)
    if match:
        return short_link_redirect(request, match.group(1), tenant_id=tenant_id)
    return _not_found(request)


@require_safe
def domain_allowed(request) -> HttpResponse:
    """``GET /links/domains/allowed/?domain=<host>``: 200 for a verified tenant domain, else 404: the ``ask``
    endpoint of Caddy's on-demand TLS (a certificate is obtained only for a domain that answers 200)."""
    host = request.GET.get("domain", "").strip().rstrip(".").lower()
    ok = bool(host) and LinkDomain.objects.filter(host=host, verified_at__isnull=False).exists()
    return _no_store(HttpResponse("ok" if ok else "unknown", status=200 if ok else 404, content_type="text/plain"))
