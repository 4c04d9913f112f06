"""Settings for smscampaigns, read from the environment with one ``environ.Env()``.

Production refuses to start without ``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEY``.
Development defaults exist only when ``DEBUG`` is on or under pytest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DEBUG", default=False)
TESTING = "PYTEST_VERSION" in os.environ
# Commands that only read the code (never secrets or data) run without production config.
CODE_ONLY_COMMAND = sys.argv[0].endswith("manage.py") and sys.argv[1:2] in (["makemigrations"], ["check"])
DEV_DEFAULTS = DEBUG or TESTING or CODE_ONLY_COMMAND


# Values that are public (the dev defaults below, the .env.example placeholder): never a real secret.
_PUBLIC_SECRETS = {
    "SECRET_KEY": {"dev-only-insecure-secret-key-do-not-use-in-production", "change-me-to-50-random-characters"},
    "FIELD_ENCRYPTION_KEY": {"ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="},
}


def _required(name: str, dev_default: str) -> str:
    """A secret with no production default: missing outside dev/test is fatal, and so is a public value."""
    value = env.str(name, default="")
    if value:
        public = _PUBLIC_SECRETS.get(name, set()) & {v.strip() for v in value.split(",")}
        if public and not (DEBUG or TESTING):
            raise ImproperlyConfigured(
                f"{name} is set to a published placeholder or development default; "
                "set a real secret (see .env.example)."
            )
        return value
    if DEV_DEFAULTS:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. Set it in the environment (see .env.example); it has no production default."
    )


SECRET_KEY = _required("SECRET_KEY", "dev-only-insecure-secret-key-do-not-use-in-production")
# Fernet key(s) for tenant secrets at rest. Comma-separated: the first encrypts,
# all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required("FIELD_ENCRYPTION_KEY", "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE=").split(",")
    if k.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
SHORT_LINK_BASE_URL = env.str("SHORT_LINK_BASE_URL", default=f"{PUBLIC_BASE_URL}/l").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "tenants",
    "contacts",
    "campaigns",
    "links",
    "tracking",
    "compliance",
    "drf_spectacular_sidecar",
    "integrations",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.NulQueryStringGuard",
    # Static files (admin, dashboard scripts, API docs) served by the app itself, no CDN.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "compliance.audit.AuditMiddleware",
]
# Short-link taps are answered before the rest of the stack (links/middleware.py).
MIDDLEWARE.insert(0, "links.middleware.ShortLinkFastPath")

ROOT_URLCONF = "smscampaigns.urls"
WSGI_APPLICATION = "smscampaigns.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _required_url(name: str, what: str, example: str) -> str:
    """A service URL with no default anywhere (development included): `make run` and `make test` set it. A
    code-only command (``makemigrations``, ``check``) gets the example, which it never connects to."""
    value = env.str(name, default="")
    if not value and CODE_ONLY_COMMAND:  # makemigrations --check, check: they never connect to it
        return example
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: {what}. Set it (e.g. {name}={example}), or use `make run` / `make test`, which "
            "start an embedded server under var/ when it is missing (docs/operations.md, local services)."
        )
    return value


# PostgreSQL is the only engine: development, tests, CI and production run the same code on it.
DATABASES = {
    "default": env.db_url_config(
        _required_url("DATABASE_URL", "PostgreSQL is the only database", "postgres://postgres@127.0.0.1:5432/smsc")
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must be a postgres:// URL (PostgreSQL is the only engine), not {DATABASES['default']['ENGINE']}"
    )
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# Redis: cache, rate limits, click queue and (unless CELERY_BROKER_URL says otherwise) the Celery broker.
REDIS_URL = _required_url("REDIS_URL", "Redis is the cache and the Celery broker", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="smsc"),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
# Front-end libraries from npm (package.json, installed by `npm ci` in `make venv`): served as our own static
# files under vendor/, never from a CDN (the dashboard works offline and behind a strict CSP).
CHARTJS_DIST = BASE_DIR / "node_modules" / "chart.js" / "dist"
if CHARTJS_DIST.exists():
    STATICFILES_DIRS.append(("vendor/chartjs", CHARTJS_DIST))
# Serve straight from the apps' static folders when collectstatic has not run (a bare gunicorn start).
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.throttles.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Last: only a caller no class above recognised reaches it (the anonymous rate, common/throttles.py).
        "common.throttles.AnonymousAddressThrottling",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["common.throttles.KeyRateThrottle"],
    # Proxies in front that append to X-Forwarded-For (0: the address is REMOTE_ADDR; the header is ignored).
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantUser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.exceptions.exception_handler",
}
# API rates (common/throttles.py), counted in the cache (Redis). "N/s|min|hour|day". The test suite's
# defaults never throttle (its requests all come from one address); tests of the limits set their own.
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="1000000/min" if TESTING else "1000/min")  # per token
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="1000000/min" if TESTING else "100/min")  # per address
# Failed authentications (bad tokens) per address in a window of seconds; past it a 429, not a 401.
API_BAD_AUTH_LIMIT = env.int("API_BAD_AUTH_LIMIT", default=1000000 if TESTING else 20)
API_BAD_AUTH_WINDOW = env.int("API_BAD_AUTH_WINDOW", default=600)
SPECTACULAR_SETTINGS = {
    "TITLE": "smscampaigns API",
    "DESCRIPTION": "Multi-tenant SMS campaigns: contacts, campaigns, stats, opt-outs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}
# /api/docs/ renders the schema with Swagger UI served from our own static files (no CDN).
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": "Multi-tenant SMS campaigns: contacts, campaigns, stats, opt-outs, webhooks, conversions. "
        "Authenticate with `Authorization: Token <api_token>`.",
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,
        # Every operation names one of these (extend_schema(tags=...) in the views); this is their order in /api/docs/.
        "TAGS": [
            {"name": "Contacts", "description": "Your contacts and CSV imports."},
            {"name": "Campaigns", "description": "Draft campaigns: write, preview, change while draft."},
            {"name": "Sending", "description": "Send, pause, resume and cancel a campaign."},
            {"name": "Stats", "description": "A campaign's figures, messages, charts and CSV exports; the overview."},
            {"name": "Compliance", "description": "Opt-outs, the consent ledger and privacy requests."},
            {"name": "Webhooks", "description": "Endpoints that receive events, and their deliveries."},
            {"name": "Conversions", "description": "Orders reported back and attributed to campaigns."},
        ],
        "APPEND_COMPONENTS": {
            "securitySchemes": {
                "tokenAuth": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <key>"}
            }
        },
    }
)

# Celery, on Redis (REDIS_URL unless CELERY_BROKER_URL names another).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# A task whose worker died is redelivered after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # tasks are idempotent (claims), so redelivery is safe
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Delivery tracking (tracking/): periodic safety nets, each locked against overlap.
CELERY_BEAT_SCHEDULE["tracking-reconcile"] = {
    "task": "tracking.tasks.messages_reconcile",
    "schedule": env.float("TRACKING_RECONCILE_INTERVAL", default=300.0),
}
CELERY_BEAT_SCHEDULE["tracking-orphans-sweep"] = {"task": "tracking.tasks.status_orphans_sweep", "schedule": 60.0}
# Every read of the counters costs O(rows since the last squash): squash often (a squash of a storm's 20,000 rows
# takes ~0.1 s; bench/dashboard).
CELERY_BEAT_SCHEDULE["campaigns-squash-counts"] = {"task": "campaigns.tasks.status_counts_squash", "schedule": 10.0}
# Clicks queued in Redis are written in batches (see links/capture.py).
CELERY_BEAT_SCHEDULE["links-clicks-write"] = {"task": "links.tasks.clicks_write", "schedule": 5.0}

# Short links and clicks (docs/links.md).
# "redis": clicks are queued in a Redis stream and written in batches; "direct": written in the request.
LINKS_CLICK_CAPTURE = env.str("LINKS_CLICK_CAPTURE", default="redis" if REDIS_URL else "direct")
LINKS_REDIS_PREFIX = env.str("LINKS_REDIS_PREFIX", default="links:")
LINKS_CACHE_TTL = env.int("LINKS_CACHE_TTL", default=3 * 24 * 3600)  # seconds a code→target stays cached
LINKS_NEGATIVE_CACHE_TTL = env.int("LINKS_NEGATIVE_CACHE_TTL", default=60)
LINKS_PROBE_LIMIT = env.int("LINKS_PROBE_LIMIT", default=30)  # unknown codes per address per window → 429
LINKS_PROBE_WINDOW = env.int("LINKS_PROBE_WINDOW", default=600)
# Addresses/networks of reverse proxies whose X-Forwarded-For is believed.
LINKS_TRUSTED_PROXIES = env.list("LINKS_TRUSTED_PROXIES", default=[])
# Store whole client IPs (only with a lawful basis); by default /24 (IPv4) or /48 (IPv6).
LINKS_KEEP_FULL_IP = env.bool("LINKS_KEEP_FULL_IP", default=False)
LINKS_CLICK_BATCH = env.int("LINKS_CLICK_BATCH", default=500)
LINKS_CLICK_CLAIM_IDLE = env.float("LINKS_CLICK_CLAIM_IDLE", default=60.0)
LINKS_CLICK_TASK_BUDGET = env.float("LINKS_CLICK_TASK_BUDGET", default=4.0)

# Outbound event webhooks (integrations app). Deliveries run on their own queue
# so a slow CRM never delays sending; a worker started without -Q consumes both.
WEBHOOKS_QUEUE = env.str("WEBHOOKS_QUEUE", default="webhooks")
from kombu import Queue  # noqa: E402

# Each queue its own routing key: with the default (one key for all), every task
# published to the default exchange would be copied into both queues.
CELERY_TASK_QUEUES = (Queue("celery", routing_key="celery"), Queue(WEBHOOKS_QUEUE, routing_key=WEBHOOKS_QUEUE))
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Only public addresses are called unless this is on (development and tests only).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5.0)
WEBHOOKS_MAX_RESPONSE_BYTES = env.int("WEBHOOKS_MAX_RESPONSE_BYTES", default=64 * 1024)
# Retries: base * 2^(n-1), capped, for WEBHOOKS_RETRY_WINDOW_SECONDS after the first try (about a day).
WEBHOOKS_RETRY_BASE_SECONDS = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=30.0)
WEBHOOKS_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOKS_RETRY_MAX_DELAY_SECONDS", default=6 * 3600.0)
WEBHOOKS_RETRY_WINDOW_SECONDS = env.float("WEBHOOKS_RETRY_WINDOW_SECONDS", default=24 * 3600.0)
# An endpoint that has failed every try for this long is disabled, with the reason shown.
WEBHOOKS_DISABLE_AFTER_SECONDS = env.float("WEBHOOKS_DISABLE_AFTER_SECONDS", default=24 * 3600.0)
# How often beat looks for due retries (and for work whose enqueue was lost).
WEBHOOKS_DISPATCH_INTERVAL_SECONDS = env.float("WEBHOOKS_DISPATCH_INTERVAL_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE["webhooks-dispatch"] = {
    "task": "integrations.tasks.webhook_deliveries_dispatch",
    "schedule": WEBHOOKS_DISPATCH_INTERVAL_SECONDS,
    "options": {"queue": WEBHOOKS_QUEUE, "expires": WEBHOOKS_DISPATCH_INTERVAL_SECONDS * 3},
}
# A conversion counts for a campaign within this many days after the recipient's click.
CONVERSION_ATTRIBUTION_WINDOW_DAYS = env.int("CONVERSION_ATTRIBUTION_WINDOW_DAYS", default=5)

# SMS gateway: "twilio", "simulator" or "console".
SMS_GATEWAY = env.str("SMS_GATEWAY", default="simulator" if DEV_DEFAULTS else "twilio")
if SMS_GATEWAY not in {"twilio", "simulator", "console"}:
    raise ImproperlyConfigured(f"SMS_GATEWAY must be twilio, simulator or console, not {SMS_GATEWAY!r}")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
TWILIO_HTTP_TIMEOUT = env.float("TWILIO_HTTP_TIMEOUT", default=10.0)
# Seconds the simulator waits before reporting a status back.
SIMULATOR_REPORT_DELAY = env.float("SIMULATOR_REPORT_DELAY", default=1.0)
# Reconciliation: ask Twilio about messages still queued/sent this many seconds after
# they were handed over, at most once per RECHECK seconds each, until MAX_AGE.
TRACKING_RECONCILE_AFTER = env.int("TRACKING_RECONCILE_AFTER", default=1800)
TRACKING_RECONCILE_RECHECK = env.int("TRACKING_RECONCILE_RECHECK", default=3600)
TRACKING_RECONCILE_MAX_AGE = env.int("TRACKING_RECONCILE_MAX_AGE", default=3 * 24 * 3600)
TRACKING_RECONCILE_BATCH = env.int("TRACKING_RECONCILE_BATCH", default=200)
# Authoring: the cost estimate's price of one segment, and imports that run in a worker.
SMS_PRICE_PER_SEGMENT = env.str("SMS_PRICE_PER_SEGMENT", default="0.0083")
SMS_PRICE_CURRENCY = env.str("SMS_PRICE_CURRENCY", default="USD")
CONTACT_IMPORT_SYNC_MAX_ROWS = env.int("CONTACT_IMPORT_SYNC_MAX_ROWS", default=5000)
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=200_000_000)
# The status webhook's statement is prepared once per database connection (PostgreSQL).
# Turn off behind a pooler that does not keep sessions (pgbouncer in transaction mode).
TRACKING_PREPARED_STATEMENTS = env.bool("TRACKING_PREPARED_STATEMENTS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # twilio-python logs request bodies and headers at INFO: never let that out.
        "twilio": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
    },
}

if not DEBUG and not TESTING:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The container's health check calls plain http://localhost:8000/healthz, past the proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading is near-irreversible (browsers ship the list): opt in deliberately.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Sending (campaigns.sending / dispatch / throttle).
SENDING_THROTTLE_ENABLED = env.bool("SENDING_THROTTLE_ENABLED", default=True)
# Gateway calls one worker process keeps in flight (threads, no database use). At Twilio's ~200 ms a
# call, 128 in flight is up to 640 messages/s per process, so the CPU, not the waiting, sets the pace.
SENDING_CONCURRENCY = env.int("SENDING_CONCURRENCY", default=128)
SENDING_BATCH_SIZE = env.int("SENDING_BATCH_SIZE", default=250)
# A batch should take about this long at the sender's rate (keeps tasks well inside the time limit).
SENDING_BATCH_SECONDS = env.int("SENDING_BATCH_SECONDS", default=120)
SENDING_CLAIM_TIMEOUT = env.int("SENDING_CLAIM_TIMEOUT", default=int(TWILIO_HTTP_TIMEOUT * 3) + 30)
SENDING_PARKED_STALE_SECONDS = env.int("SENDING_PARKED_STALE_SECONDS", default=600)
SENDING_MAX_ATTEMPTS = env.int("SENDING_MAX_ATTEMPTS", default=8)
SENDING_RELEASE_LIMIT = env.int("SENDING_RELEASE_LIMIT", default=50000)
SENDING_TICK_SECONDS = env.float("SENDING_TICK_SECONDS", default=15.0)
# Every periodic job's lock is a lease renewed while the job runs (common.locks): a worker killed mid-run
# holds up the next run by at most this long. A resolver run stops waiting for answers after RUN seconds
# (the rest are asked at the next run).
PERIODIC_LOCK_LEASE_SECONDS = env.int("PERIODIC_LOCK_LEASE_SECONDS", default=15)
SENDING_RESOLVE_RUN_SECONDS = env.int("SENDING_RESOLVE_RUN_SECONDS", default=60)
# Unknown outcomes (campaigns.sending.resolution): asked of the gateway FIRST_CHECK seconds after they arose; a
# message the gateway does not have is resent once no request for it can still be in flight: GRACE seconds
# after its claim (past two HTTP timeouts). Lookups run RESOLVE_CONCURRENCY at a time, RESOLVE_BATCH a run;
# a message whose lookups keep failing for GIVE_UP seconds is listed for a person ("check again").
SENDING_UNKNOWN_FIRST_CHECK_SECONDS = env.float("SENDING_UNKNOWN_FIRST_CHECK_SECONDS", default=2.0)
SENDING_UNKNOWN_GRACE_SECONDS = env.int("SENDING_UNKNOWN_GRACE_SECONDS", default=int(TWILIO_HTTP_TIMEOUT * 2) + 30)
SENDING_UNKNOWN_CLOCK_SKEW = env.int("SENDING_UNKNOWN_CLOCK_SKEW", default=120)
SENDING_RESOLVE_BATCH = env.int("SENDING_RESOLVE_BATCH", default=1000)
SENDING_RESOLVE_CONCURRENCY = env.int("SENDING_RESOLVE_CONCURRENCY", default=32)
SENDING_RESOLVE_GIVE_UP_SECONDS = env.int("SENDING_RESOLVE_GIVE_UP_SECONDS", default=6 * 3600)
SENDING_MAX_RESENDS = env.int("SENDING_MAX_RESENDS", default=3)
# A sending campaign with nothing claimed, sent or fanned out for this long is re-kicked by the tick
# (the broker lost its tasks, a worker died, an enqueue failed after the commit).
SENDING_STALL_SECONDS = env.int("SENDING_STALL_SECONDS", default=60)
# The simulator (demos, tests): this fraction of sends ends with an unknown outcome, half after it "went out".
SIMULATOR_CUT_RATE = env.float("SIMULATOR_CUT_RATE", default=0.0)
FANOUT_CHUNK_SIZE = env.int("FANOUT_CHUNK_SIZE", default=5000)
SMS_OPT_OUT_FOOTER = env.str("SMS_OPT_OUT_FOOTER", default="Reply STOP to opt out")
CELERY_BEAT_SCHEDULE["campaigns-sending-tick"] = {
    "task": "campaigns.tasks.sending_tick",
    "schedule": SENDING_TICK_SECONDS,
}
CELERY_BEAT_SCHEDULE["campaigns-unknown-resolve"] = {
    "task": "campaigns.tasks.unknown_resolve",
    "schedule": SENDING_TICK_SECONDS,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # How often a worker sweeps for tasks whose worker died (kombu's default is every ~100 s).
    CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] = env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10)
    CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10)
# gateways is a package, not an installed app: register its tasks (the simulator's reports) explicitly.
CELERY_IMPORTS = ("gateways.tasks",)
# Threads per batch that claim and record on their own database connection. Claims and outcomes
# go a group per statement, so one connection keeps up with the gateway pool.
SENDING_DB_LANES = env.int("SENDING_DB_LANES", default=1)
# Outcomes are recorded a group at a time: every this many results, or once the oldest waited this long.
SENDING_RECORD_EVERY = env.int("SENDING_RECORD_EVERY", default=50)
SENDING_RECORD_SECONDS = env.float("SENDING_RECORD_SECONDS", default=0.1)
