"""Input PostgreSQL cannot store, refused at the door with a 400 instead of failing deep down as a 500."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse

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
