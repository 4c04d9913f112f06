"""Settings for smscampaigns, read from the environment with one ``environ.Env()``.

Production refuses to start without ``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEY``.
Development defaults exist only when ``DEBUG`` is on or under pytest.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import sys
from pathlib import Path

import environ
from django.conf import global_settings
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
    # Sign-in security (docs/operations.md#sign-in-security): failed-login lockout, two-factor devices. Listed
    # before tenants so tenants/admin.py can unregister django-otp's device admins (they show raw secrets).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    # API keys (tenants.ApiKey) are built on its abstract model; its own APIKey table stays empty and its admin
    # is unregistered. DRF's authtoken is gone: migration tenants 0004 made its tokens API keys.
    "rest_framework_api_key",
    "drf_spectacular",
    "tenants",
    "contacts",
    "campaigns",
    "links",
    "tracking",
    "compliance",
    "growth",  # list growth: keywords, hosted sign-up forms, QR codes (docs/growth.md)
    "drf_spectacular_sidecar",
    "integrations",
    "analytics",
    "media",
    "journeys",  # automated flows (docs/journeys.md): triggers, steps, runs advanced in bulk
    "guard",  # the fraud and anomaly guard (docs/compliance.md): geo permissions, caps, automatic pauses
    "retention",  # monthly partitions of the status history and clicks: made ahead, expired months dropped
    "inbox",  # the two-way inbox: a conversation per contact, answers through the pipeline (docs/inbox.md)
    "segments",  # saved audiences: AND/OR groups of conditions (docs/authoring.md#segments)
    "crm",  # Shopify/HubSpot inbound webhooks, REST hooks for Zapier/Make/n8n (docs/integrations.md)
    "csp",  # Content-Security-Policy (below); its app only adds django-csp's checks of the settings' shape
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "common.middleware.RequestSizeCap",
    "common.middleware.NulQueryStringGuard",
    # Static files (admin, dashboard scripts, API docs) served by the app itself, no CDN.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the two-factor step; then the admin's gate.
    "django_otp.middleware.OTPMiddleware",
    "tenants.signin_web.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "compliance.audit.AuditMiddleware",
    # Last: turns a request axes flagged as locked out into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]
# Short-link taps are answered before the rest of the stack (links/middleware.py).
MIDDLEWARE.insert(0, "links.middleware.ShortLinkFastPath")

# Content-Security-Policy on every page (docs/operations.md#content-security-policy): scripts, styles, images and
# API calls from this origin only; no inline script or style, no plugins, never framed. The API docs pages loosen
# it for themselves (smscampaigns/urls.py).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

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
# Optional read replica (docs/operations.md#scaling): only the reads that ask for it go there (common/replica.py).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url_config(env.str("DATABASE_REPLICA_URL"))
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests: the same database, reached as "replica"
DATABASE_ROUTERS = ["common.replica.ReplicaRouter"]
# "pgbouncer": the connections go through PgBouncer in transaction mode, which keeps no session between
# transactions: no server-side cursors (``.iterator()`` then fetches its rows client-side, chunk by chunk from
# one result). The code keeps no other session state (no SET, LISTEN or session advisory locks;
# the status webhook's prepared statements are off under it: TRACKING_PREPARED_STATEMENTS below).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DATABASE_POOLER must be empty or 'pgbouncer', not {DATABASE_POOLER!r}")
if DATABASE_POOLER == "pgbouncer":
    for _alias in DATABASES.values():
        _alias["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
# Every path that sets a password runs these: the admin's forms, tenants.services (create_tenant, seed_demo).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # The suite makes thousands of users: the real hasher (PBKDF2, a million rounds, production's) costs half a
    # second each. Hashes it made elsewhere (a subprocess without pytest) still verify.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
# Axes first: it refuses a locked-out (email, address) before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Sign-in security (docs/operations.md#sign-in-security). Failed admin logins are counted per (email, client
# address) pair, so nobody elsewhere on the internet can lock a user out by typing their email; a password
# sprayer gets AXES_FAILURE_LIMIT guesses per account per address per cool-off. The address is the API's
# (REST_FRAMEWORK NUM_PROXIES / API_NUM_PROXIES), so X-Forwarded-For is believed only behind that many proxies.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
# A lock lifts by itself this many minutes after the last failure (or at once: axes_reset_username, the users
# admin's "Unlock sign-in" action).
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"  # the admin login form's field (our USERNAME_FIELD is email)
AXES_USERNAME_CALLABLE = "tenants.signin.axes_username"
AXES_CLIENT_IP_CALLABLE = "common.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "tenants.signin_web.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ADMIN = False  # unscoped tables of emails and addresses; the users admin unlocks instead
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login with its address (Django keeps last_login)
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]  # never copied into axes's rows in clear
# Two-factor sign-in (django-otp: TOTP apps and backup codes). Tenants require it with Tenant.require_two_factor;
# superusers (operators) when this is on.
ADMIN_REQUIRE_TWO_FACTOR_SUPERUSERS = env.bool("ADMIN_REQUIRE_TWO_FACTOR_SUPERUSERS", default=False)
OTP_TOTP_ISSUER = "smscampaigns"  # the name authenticator apps show next to the code

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
        "tenants.authentication.ApiKeyAuthentication",
        # The admin's session (the dashboard's charts), once past the two-factor step it needs.
        "tenants.signin_web.TwoFactorSessionAuthentication",
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
            {"name": "Keywords", "description": "Words people text to your number: auto-reply, tags, consent."},
            {"name": "Conversions", "description": "Orders reported back and attributed to campaigns."},
            {"name": "Account", "description": "API keys: make, list, rotate and revoke them."},
            {"name": "Media", "description": "Images for MMS campaigns: upload, list, delete."},
            {"name": "Journeys", "description": "Automated flows: triggers, steps, runs, figures; API events."},
            {"name": "Segments", "description": "Saved audiences: groups of conditions, counted live."},
            {"name": "Inbox", "description": "Conversations with each contact: read, assign, answer."},
            {"name": "Link domains", "description": "Branded short-link domains: add, verify, use."},
            {"name": "CRM connections", "description": "Shopify and HubSpot webhooks in; contacts and orders."},
            {"name": "REST hooks", "description": "Subscriptions for Zapier, Make and n8n; samples and polling."},
        ],
        "APPEND_COMPONENTS": {
            "securitySchemes": {
                "tokenAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Token <key> (an API key; Api-Key <key> works too)",
                }
            }
        },
    }
)

# Choice sets that share a field name (several "status") each get a stable name of their own in the schema, not a
# hash (drf_spectacular.W001, a `check --deploy` warning).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "CampaignStatusEnum": "campaigns.models.CampaignStatus",
    # One name each for choice sets several fields share (else drf-spectacular's W001 fails check --deploy).
    "EventTypeEnum": "integrations.models.EventType",
    "MergeModeEnum": "contacts.models.MergeMode",
}

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
# Partitions of the status history and clicks (retention/, docs/operations.md#retention): months made ahead, months
# ended more than RETENTION_MONTHS ago dropped whole (0: never); a tenant's own "Keep raw events (months)"
# (Tenant.event_retention_months) overrides it for that tenant's rows (each month is split by tenant). With
# RETENTION_ARCHIVE_DIR set, each partition is written there as gzipped CSV before it is dropped.
RETENTION_MONTHS = env.int("RETENTION_MONTHS", default=13)
RETENTION_ARCHIVE_DIR = env.str("RETENTION_ARCHIVE_DIR", default="")
PARTITIONS_AHEAD_MONTHS = env.int("PARTITIONS_AHEAD_MONTHS", default=3)
CELERY_BEAT_SCHEDULE["retention-partitions"] = {"task": "retention.tasks.partitions_maintain", "schedule": 3600.0}
# Clicks queued in Redis are written in batches (see links/capture.py).
CELERY_BEAT_SCHEDULE["links-clicks-write"] = {"task": "links.tasks.clicks_write", "schedule": 5.0}
# The inbox's conversations from the inbound texts (inbox/services.py; the inbox page and API also refresh on demand).
CELERY_BEAT_SCHEDULE["inbox-conversations-refresh"] = {"task": "inbox.tasks.conversations_refresh", "schedule": 15.0}

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
# Branded short domains (docs/links.md): the host -> tenant map, kept this long in each process and in Redis.
LINKS_DOMAIN_CACHE_SECONDS = env.float("LINKS_DOMAIN_CACHE_SECONDS", default=30.0)
LINKS_DOMAIN_REDIS_SECONDS = env.int("LINKS_DOMAIN_REDIS_SECONDS", default=300)
LINKS_DOMAIN_CHECK_TIMEOUT = env.float("LINKS_DOMAIN_CHECK_TIMEOUT", default=5.0)  # seconds per DNS or HTTP check

# Outbound event webhooks (integrations app). Deliveries run on their own queue
# so a slow CRM never delays sending; a worker started without -Q consumes both.
WEBHOOKS_QUEUE = env.str("WEBHOOKS_QUEUE", default="webhooks")
from kombu import Queue  # noqa: E402

# Each queue its own routing key: with the default (one key for all), every task
# published to the default exchange would be copied into both queues.
# The beat's periodic tasks (sending tick, unknown-outcome resolver, guard, journeys, …) go on a queue of their own:
# on the default queue, a campaign's send batches (all queued at fan-out) would hold them back until the last batch
# was taken, so no lost claim reaped, no anomaly paused, no journey advanced while a big campaign sends. A worker
# takes from its queues in turn, so a tick waits for one batch at most. See docs/operations.md "Queues".
CONTROL_QUEUE = env.str("CONTROL_QUEUE", default="control")
CELERY_TASK_QUEUES = (
    Queue("celery", routing_key="celery"),
    Queue(WEBHOOKS_QUEUE, routing_key=WEBHOOKS_QUEUE),
    Queue(CONTROL_QUEUE, routing_key=CONTROL_QUEUE),
)
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
# Inbound CRM webhooks (crm/, docs/integrations.md): the largest body read (over it: 413), and how far HubSpot's
# X-HubSpot-Request-Timestamp may be from now (HubSpot: reject older than 5 minutes).
CRM_WEBHOOK_MAX_BYTES = env.int("CRM_WEBHOOK_MAX_BYTES", default=1_000_000)
CRM_HUBSPOT_MAX_SKEW_SECONDS = env.int("CRM_HUBSPOT_MAX_SKEW_SECONDS", default=300)

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
# The admin's "Send now" confirmation asks to type the recipient count above this many recipients.
SEND_CONFIRM_TYPE_COUNT_ABOVE = env.int("SEND_CONFIRM_TYPE_COUNT_ABOVE", default=1000)
# Test sends to a person's own numbers: the texted verification code's life, and the wait before another code.
TEST_CODE_TTL_SECONDS = env.int("TEST_CODE_TTL_SECONDS", default=600)
TEST_CODE_RESEND_SECONDS = env.int("TEST_CODE_RESEND_SECONDS", default=60)
# MMS (media/, docs/mms.md): Twilio's limits (5 MB a message, 10 files), the size above which carriers resize
# images, the per-message MMS price for the calculator, and the countries Twilio sends MMS to.
MMS_MAX_FILE_BYTES = env.int("MMS_MAX_FILE_BYTES", default=5_000_000)
MMS_MAX_MESSAGE_BYTES = env.int("MMS_MAX_MESSAGE_BYTES", default=5_000_000)
MMS_MAX_MEDIA_PER_MESSAGE = env.int("MMS_MAX_MEDIA_PER_MESSAGE", default=10)
MMS_WARN_BYTES = env.int("MMS_WARN_BYTES", default=600_000)
MMS_MAX_IMAGE_PIXELS = env.int("MMS_MAX_IMAGE_PIXELS", default=40_000_000)
MMS_PRICE_PER_MESSAGE = env.str("MMS_PRICE_PER_MESSAGE", default="0.0220")
MMS_COUNTRIES = env.list("MMS_COUNTRIES", default=["US", "CA"])
# Uploaded media go through Django's storage API: local disk under MEDIA_ROOT by default; in production any
# django-storages backend (S3, GCS, Azure) by naming it in MEDIA_STORAGE_BACKEND (its options in its own
# settings). The app serves the files itself at /media/<token>/<name>; nothing serves MEDIA_ROOT directly.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": env.str("MEDIA_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A contact import over either SYNC limit always runs in a worker, never in the web request; a file over MAX_BYTES
# is refused (413). No request body may be larger than REQUEST_MAX_BYTES (common.middleware.RequestSizeCap): the
# largest file the app takes, plus the form around it.
CONTACT_IMPORT_SYNC_MAX_ROWS = env.int("CONTACT_IMPORT_SYNC_MAX_ROWS", default=5000)
CONTACT_IMPORT_SYNC_MAX_BYTES = env.int("CONTACT_IMPORT_SYNC_MAX_BYTES", default=1_000_000)
# An API import over those limits runs in a worker; the request waits this long for it to finish and then answers
# 200 with the counts, as for a small file (CONTRACT.md), else 202 with the import to follow. Under gunicorn's
# 30 s worker timeout. `?background=1` never waits. The suite waits only where a real worker runs.
CONTACT_IMPORT_API_WAIT_SECONDS = env.float("CONTACT_IMPORT_API_WAIT_SECONDS", default=0 if TESTING else 20)
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=200_000_000)
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=CONTACT_IMPORT_MAX_BYTES + 1_000_000)
# Twilio's webhooks (status, inbound) per source address, counted in Redis (common/webhook_throttle.py): past it a
# 429 with Retry-After. "N/s|min|hour|day", 0 for none. Generous: Twilio calls from many addresses. The test
# suite's default never throttles (its requests all come from one address); tests of the limit set their own.
WEBHOOK_THROTTLE = env.str("WEBHOOK_THROTTLE", default="1000000/min" if TESTING else "6000/min").strip()
if not re.fullmatch(r"0|\d+/(s|sec|second|m|min|minute|h|hour|d|day)", WEBHOOK_THROTTLE):
    raise ImproperlyConfigured(f"WEBHOOK_THROTTLE must look like 6000/min (0: no limit), not {WEBHOOK_THROTTLE!r}")
# Hosted sign-up forms (growth/throttle.py, docs/growth.md): POSTs per address and sign-ups per number, per tenant,
# counted in Redis; past either a 429 with Retry-After. "N/s|min|hour|day", 0 for none.
GROWTH_SIGNUP_PER_ADDRESS = env.str("GROWTH_SIGNUP_PER_ADDRESS", default="10/h").strip()
GROWTH_SIGNUP_PER_NUMBER = env.str("GROWTH_SIGNUP_PER_NUMBER", default="3/h").strip()
for _name in ("GROWTH_SIGNUP_PER_ADDRESS", "GROWTH_SIGNUP_PER_NUMBER"):
    if not re.fullmatch(r"0|\d+/(s|sec|second|m|min|minute|h|hour|d|day)", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must look like 10/h (0: no limit), not {globals()[_name]!r}")
# The status webhook's statement is prepared once per database connection (PostgreSQL).
# Turn off behind a pooler that does not keep sessions (pgbouncer in transaction mode; DATABASE_POOLER does).
TRACKING_PREPARED_STATEMENTS = env.bool("TRACKING_PREPARED_STATEMENTS", default=DATABASE_POOLER != "pgbouncer")

# Logs (docs/operations.md, Logs): one handler for everything (the app, Django, the Celery worker and beat; gunicorn
# in common/access_log.py), its lines scrubbed of query-string values, phone numbers and email addresses
# (common/logging.py); JSON a line in production, plain text under DEBUG and the tests (LOG_FORMAT).
from common.logging import JSON_FORMAT, PLAIN_FORMAT, log_format  # noqa: E402

try:
    LOG_FORMAT = log_format(os.environ, testing=TESTING)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
LOGGING_CONFIG = "common.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "common.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": PLAIN_FORMAT},
        "json": {"()": "common.logging.JsonFormatter", "fmt": JSON_FORMAT},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # twilio-python logs request bodies and headers at INFO: never let that out.
        "twilio": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        # axes narrates every login at INFO; its warnings (failed logins, lockouts) stay, emails and addresses
        # masked (AXES_SENSITIVE_PARAMETERS).
        "axes": {"level": "WARNING"},
        # Django's own handlers (its console, runserver's access lines) give way to the one above.
        "django": {"level": "INFO"},
        "django.server": {"level": "INFO", "propagate": True},
    },
}

if not DEBUG and not TESTING:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The container's health check calls plain http://localhost:8000/healthz, past the proxy (and Prometheus /metrics).
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^metrics/?$"]
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
# A/B tests that pick their winner (campaigns.winners): checked each minute, decided once their wait is over.
CELERY_BEAT_SCHEDULE["campaigns-ab-winners"] = {"task": "campaigns.tasks.ab_winners_pick", "schedule": 60.0}
# The fraud and anomaly guard (guard/, docs/compliance.md): its tick judges sending campaigns on their counters,
# resumes campaigns whose cap has room again and copies the caps' use to the database. Inbound bursts and click
# surges are counted in windows of GUARD_ABUSE_WINDOW_SECONDS.
GUARD_TICK_SECONDS = env.float("GUARD_TICK_SECONDS", default=15.0)
GUARD_ABUSE_WINDOW_SECONDS = env.int("GUARD_ABUSE_WINDOW_SECONDS", default=600)
GUARD_REDIS_PREFIX = env.str("GUARD_REDIS_PREFIX", default="smsc:guard:")
CELERY_BEAT_SCHEDULE["guard-tick"] = {"task": "guard.tasks.guard_tick", "schedule": GUARD_TICK_SECONDS}
# Journeys (docs/journeys.md): the tick enrolls from the triggers' rows and advances due runs, BATCH_SIZE runs per
# transaction, for at most ADVANCE_SECONDS per tick; trigger rows younger than SETTLE_SECONDS are read again.
JOURNEY_TICK_SECONDS = env.float("JOURNEY_TICK_SECONDS", default=10.0)
JOURNEY_BATCH_SIZE = env.int("JOURNEY_BATCH_SIZE", default=500)
JOURNEY_ADVANCE_SECONDS = env.float("JOURNEY_ADVANCE_SECONDS", default=50.0)
JOURNEY_ENROLL_BATCH = env.int("JOURNEY_ENROLL_BATCH", default=5000)
JOURNEY_SETTLE_SECONDS = env.int("JOURNEY_SETTLE_SECONDS", default=10)
CELERY_BEAT_SCHEDULE["journeys-tick"] = {"task": "journeys.tasks.journeys_tick", "schedule": JOURNEY_TICK_SECONDS}
for _entry in CELERY_BEAT_SCHEDULE.values():  # every periodic task not routed elsewhere (webhooks) goes to control
    _entry.setdefault("options", {}).setdefault("queue", CONTROL_QUEUE)
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

# GET /metrics for Prometheus (smscampaigns/metrics.py, docs/operations.md "Prometheus"): never public. The caller's
# address (as the API's throttles read it: API_NUM_PROXIES) must be in METRICS_ALLOWED_IPS (addresses or networks;
# empty: nobody) and, when METRICS_TOKEN is set, it must send "Authorization: Bearer <token>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is not an address or a network") from _exc
# Each database read of a scrape gives up after this long (the source is then reported in smscampaigns_scrape_error).
METRICS_QUERY_TIMEOUT_MS = env.int("METRICS_QUERY_TIMEOUT_MS", default=2000)
