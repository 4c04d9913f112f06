"""The public media path, mounted at the site's root (``smscampaigns/urls.py``).

``/media/<token>/<filename>``: two path segments, so neither the short-link fast path
(``links.middleware.ShortLinkFastPath``, one segment of letters and digits after its prefix) nor a
root-level short-link route ever takes it.
"""

from __future__ import annotations

from django.urls import path

from .views import media_file_serve

urlpatterns = [
    path("media/<str:token>/<str:filename>", media_file_serve, name="media-file"),
]
