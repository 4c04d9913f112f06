"""The redirect's fast lane: answered before the rest of the middleware stack.

A tap on a short link needs no session, CSRF, auth or messages middleware, and
no URL resolution: ``ShortLinkFastPath`` sits first in ``MIDDLEWARE`` and
answers ``GET``/``HEAD`` on ``/<prefix>/<code>`` itself (the same view as the
URL route). Every other request passes through untouched, at the cost of one
``str.startswith``. With a root-level ``SHORT_LINK_BASE_URL`` (no path prefix)
it stands aside: there the URL route, placed last, keeps ``/admin``,
``/healthz`` and the rest from being taken for codes.
"""

from __future__ import annotations

import re

from .urls import short_link_prefix
from .views import short_link_redirect


class ShortLinkFastPath:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        prefix = short_link_prefix()
        self.lead = f"/{prefix}/" if prefix else ""
        self.pattern = re.compile(rf"{re.escape(self.lead)}([0-9A-Za-z]{{1,32}})/?") if prefix else None

    def __call__(self, request):
        if self.pattern is not None and request.path_info.startswith(self.lead):
            match = self.pattern.fullmatch(request.path_info)
            if match and request.method in ("GET", "HEAD"):
                return short_link_redirect(request, match.group(1))
        return self.get_response(request)
