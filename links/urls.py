"""Where the redirect is mounted: the path part of ``SHORT_LINK_BASE_URL``.

``https://example.com/l`` → ``/l/<code>``; ``https://sms.example`` → ``/<code>``
at the root, which ``smscampaigns/urls.py`` adds last so it never shadows
``admin/``, ``api/`` or ``webhooks/`` (codes are letters and digits only, so a
path with a slash inside never matches).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.urls import path, re_path

from .views import domain_allowed, short_link_redirect


def short_link_prefix() -> str:
    return urlsplit(settings.SHORT_LINK_BASE_URL).path.strip("/")


def redirect_urlpatterns() -> list:
    prefix = short_link_prefix()
    lead = f"{prefix}/" if prefix else ""
    return [re_path(rf"^{lead}(?P<code>[0-9A-Za-z]{{1,32}})/?$", short_link_redirect, name="short-link")]


def domain_urlpatterns() -> list:
    """The platform's answers about tenants' domains (``/links/domains/allowed/?domain=``: Caddy's ``ask``)."""
    return [path("links/domains/allowed/", domain_allowed, name="link-domain-allowed")]
