"""The public file: ``GET``/``HEAD /media/<token>/<filename>``, what Twilio fetches for ``MediaUrl``.

No login (Twilio has none): the 32-character random token is the key, and an unknown token or a name that
does not go with it is a 404. Twilio asks with HEAD and GET and checks our ``Content-Type`` against the
bytes, so the type is the one found at upload. The bytes never change for a token, so caches may keep them.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from .models import MediaFile

#: Cached by Twilio, carriers and browsers for a year: a token's bytes never change (a new upload, a new token).
CACHE_CONTROL = "public, max-age=31536000, immutable"


@require_safe
def media_file_serve(request, token: str, filename: str):
    row = MediaFile.objects.filter(token=token, filename=filename).values_list("file", "content_type", "size").first()
    if row is None:
        raise Http404("No such file.")
    name, content_type, size = row
    storage = MediaFile._meta.get_field("file").storage
    try:
        handle = storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such file.") from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    # Whatever a file holds, it never runs as a page of our origin.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
