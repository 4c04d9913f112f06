"""The project's settings, plus the lookup-only ceiling view's URL (bench only)."""

from smscampaigns.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
