"""Settings for the webhook benchmark's gunicorn: the project's own, plus the ceiling view's URL."""

from smscampaigns.settings import *  # noqa: F403

ROOT_URLCONF = "webhooks_bench_urls"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
