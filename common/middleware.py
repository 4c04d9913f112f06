"""Input refused at the door: what PostgreSQL cannot store (a 400 instead of a 500 deep down), and bodies larger
than anything the app accepts (a 413 before a byte of them is read)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
NUL_MESSAGE = "Null characters are not allowed."


class NulQueryStringGuard:
    """A query string holding a NUL character (``%00``) is a 400 naming the parameter.

    PostgreSQL text cannot hold NUL, so such a value reaching a filter (an admin list filter, the API's
    ``?search=``) raised ``ValueError`` from the driver: a 500. Bodies are guarded where they are parsed
    (``common.parsers`` for JSON; Django's and DRF's form fields refuse NUL themselves; Twilio's
    webhooks drop it after the signature check, ``gateways.signatures.webhook_params``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or NUL in query:
            for key, values in request.GET.lists():
                if NUL in key or any(NUL in value for value in values):
                    name = key.replace(NUL, "\\0")
                    if request.path.startswith("/api/"):
                        return JsonResponse({name: [NUL_MESSAGE]}, status=400)
                    return HttpResponseBadRequest(f"{name}: {NUL_MESSAGE}", content_type="text/plain")
        return self.get_response(request)


class RequestSizeCap:
    """A request whose ``Content-Length`` is over ``REQUEST_MAX_BYTES`` is a 413 naming the limit, unread.

    Django caps form fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``) but not uploaded files: those it streams to a
    temporary file whatever their size (past ``FILE_UPLOAD_MAX_MEMORY_SIZE`` only memory is spared), before a
    view could look at them, and the CSRF check reads the form first. So the largest body the app takes (a
    contact import's ``CONTACT_IMPORT_MAX_BYTES`` plus the form around it) is checked here, from the header,
    before the session, CSRF or any parser. The WSGI server hands Django at most ``Content-Length`` bytes, so
    the header cannot understate the body. JSON for the API and the webhooks, plain text for pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django's own parsers answer a malformed length
        limit = settings.REQUEST_MAX_BYTES
        if length > limit:
            message = f"Request body too large: the limit is {limit} bytes."
            if request.path.startswith(("/api/", "/webhooks/")):
                return JsonResponse({"detail": message, "limit_bytes": limit}, status=413)
            megabytes = f"{limit / 1_000_000:g} MB"
            return HttpResponse(
                f"{message} ({megabytes}). Split the file and upload the parts.\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
