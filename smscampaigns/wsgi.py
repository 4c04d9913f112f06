from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
application = get_wsgi_application()

# Short-link taps are answered in front of Django (links/front.py); everything else is Django's.
from links.front import ShortLinkFront  # noqa: E402 - after the settings are configured

application = ShortLinkFront(application)
