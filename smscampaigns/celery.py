"""The Celery app: configuration from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")

app = Celery("smscampaigns")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_like_the_web(loglevel=None, **kwargs) -> None:
    """The worker and beat log through ``settings.LOGGING`` (scrubbed, JSON in production; docs/operations.md,
    Logs) instead of Celery's own handler: with a receiver on this signal Celery leaves logging alone. The
    level is the command line's ``--loglevel``."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    import_string(settings.LOGGING_CONFIG)(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
