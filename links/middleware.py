"""The redirect's fast lane, and the tenants' own domains: answered before the rest of the middleware stack.

A tap on a short link needs no session, CSRF, auth or messages middleware, and
no URL resolution: ``ShortLinkFastPath`` sits first in ``MIDDLEWARE`` and
answers ``GET``/``HEAD`` on ``/<prefix>/<code>`` itself (the same view as the
URL route). With a root-level ``SHORT_LINK_BASE_URL`` (no path prefix) it
stands aside for the shared domain: there the URL route, placed last, keeps
``/admin``, ``/healthz`` and the rest from being taken for codes.

A request whose Host is a tenant's verified domain (``links.domains``: a dict
lookup in a map kept in the process) is answered here whole: ``/<code>`` among
that tenant's links, the verification token, otherwise a 404. It never reaches
the rest of the stack, so Django's ``ALLOWED_HOSTS`` need not list tenants'
domains, and every other host is still checked by Django as before (an unknown
host is a 400). The HTTP verification token of a domain not yet verified is
answered here too, for that host only.
"""

from __future__ import annotations

import re

from .domains import tenant_for_host
from .urls import short_link_prefix
from .verification import CHALLENGE_PATH
from .views import branded_host_view, domain_challenge, request_host, short_link_redirect


class ShortLinkFastPath:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        prefix = short_link_prefix()
        self.lead = f"/{prefix}/" if prefix else ""
        self.pattern = re.compile(rf"{re.escape(self.lead)}([0-9A-Za-z]{{1,32}})/?") if prefix else None

    def __call__(self, request):
        raw_host = request_host(request)
        tenant_id = tenant_for_host(raw_host)
        if tenant_id is not None:
            return branded_host_view(request, tenant_id, raw_host)
        path = request.path_info
        if self.pattern is not None and path.startswith(self.lead):
            match = self.pattern.fullmatch(path)
            if match and request.method in ("GET", "HEAD"):
                return short_link_redirect(request, match.group(1))
        elif path.startswith(CHALLENGE_PATH):
            answer = domain_challenge(request, raw_host)
            if answer is not None:
                return answer
        return self.get_response(request)
