"""The project's WSGI application with its URLconf imported up front.

gunicorn runs it with ``--preload``: every worker forks from a master that has
already imported Django, the views and the URLconf, so no measured round pays
for a worker's first-request imports.
"""

from django.urls import get_resolver

from smscampaigns.wsgi import application

get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view it names

__all__ = ["application"]
