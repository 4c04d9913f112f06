"""The redirect in front of Django: a tap on a short link answered from the WSGI environ, no Django request.

``ShortLinkFront`` wraps the project's WSGI application (``smscampaigns.wsgi``). A ``GET``/``HEAD`` of
``/<prefix>/<code>`` on the shared short domain, or of ``/<code>`` on a tenant's verified domain, is resolved and
its click recorded here by the same call as the view's (``links.capture.resolve_and_record``: one Redis round
trip on a cached code); a live link is answered with the same 302 the view gives (``Location``,
``Cache-Control: no-store``, the same ``Content-Type``), without building a request, running the middleware
stack. Every other answer (unknown code 404, expired 410 naming the tenant,
probe limit 429 with ``Retry-After``) is Django's, as before: the outcome already reached rides along in the
environ (``OUTCOME_KEY``) and the view renders it, so a miss is counted once, never twice. Everything else goes
to Django untouched.

``ShortLinkFastPath`` (the first middleware) stays: it serves the same paths when the project is run without
this wrapper (the test client, another WSGI entry point) and renders the outcomes handed over from here.
"""

from __future__ import annotations

import re

from django.db import close_old_connections

from .capture import OK, OUTCOME_KEY, resolve_and_record
from .clickinfo import client_ip
from .domains import raw_host, tenant_for_host
from .services import clicks_record
from .urls import short_link_prefix
from .views import ROOT_CODE


class ShortLinkFront:
    def __init__(self, app) -> None:
        self.app = app
        prefix = short_link_prefix()
        # With a root-level short domain the URL route (placed last in the URL conf) decides; as the middleware.
        self.pattern = re.compile(rf"/{re.escape(prefix)}/([0-9A-Za-z]{{1,32}})/?") if prefix else None

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "")
        if method in ("GET", "HEAD"):
            answered = self._tap(environ, method, start_response)
            if answered is not None:
                return answered
        return self.app(environ, start_response)

    def _tap(self, environ, method: str, start_response):
        path = environ.get("PATH_INFO", "")
        tenant_id = tenant_for_host(raw_host(environ))
        if tenant_id is not None:
            match = ROOT_CODE.fullmatch(path)
        elif self.pattern is not None:
            match = self.pattern.fullmatch(path)
        else:
            return None
        if match is None:
            return None
        try:
            outcome = resolve_and_record(
                code=match.group(1),
                ip=client_ip(environ),
                user_agent=environ.get("HTTP_USER_AGENT", ""),
                method=method,
                record=clicks_record,
                tenant_id=tenant_id,
            )
        finally:
            # What Django's request_finished does (a cache miss reads the database): a connection broken or past
            # CONN_MAX_AGE is closed, so the next tap of this thread opens a fresh one. Without the signals' cost.
            close_old_connections()
        target = outcome.target
        if outcome.status == OK and target.isascii():
            start_response(
                "302 Found",
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Location", target),
                    ("Cache-Control", "no-store"),
                    ("Content-Length", "0"),
                ],
            )
            return [b""]
        environ[OUTCOME_KEY] = outcome  # Django renders it (a non-ASCII target: Django encodes the header)
        return None
