"""HTML checks shared by the admin and API-docs tests."""

from __future__ import annotations

import re

# The URL in any src= or href= of a page's tags.
_ASSET = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.IGNORECASE)


def off_site_assets(html: str) -> list[str]:
    """Scripts, stylesheets, images and frames a page loads from another host (a CDN, say).

    A page that must work offline and behind a strict CSP loads every asset from its own
    static files: the list is empty. (Searching the page for "cdn" is no check: a CSRF token
    is random text and sometimes spells it.)
    """
    return [url for url in _ASSET.findall(html) if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE)]
