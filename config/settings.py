"""Nightshift settings, read from the environment (see the README's configuration table).

Safe defaults for a laptop; with DEBUG=0 and the documented variables set, ``manage.py check
--deploy`` is clean.
"""

import datetime as dt
import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_str, env_zone

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("NIGHTSHIFT_VAR_DIR", str(BASE_DIR / "var")))

# django-q2 reads its Conf once, at import: tests must run tasks synchronously from here.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]

# Safe when unset: debug off, and no start without a secret key. `make run` turns development
# mode on explicitly (DEBUG=1), which alone may use the well-known development key.
DEBUG = env_bool("DEBUG", default=False)
_DEV_KEY = "dev-only-insecure-key-never-in-production"
# Commands that neither serve nor sign anything run without a key (the lint step uses one).
_KEYLESS = sys.argv[1:2] in (["makemigrations"], ["help"])
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    _DEV_KEY if DEBUG else "not-signing-" + "k" * 50 if TESTING or _KEYLESS else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is required: set it to 50+ random characters (for example the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`). For development on "
        "your own machine, run with DEBUG=1 (make run does)."
    )
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a random string of 50+ characters, not the development key, "
        "unless DEBUG=1. Anyone who knows the key can forge unsubscribe and acknowledgement links."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The absolute address of this site, for links in feeds, calendars and e-mail.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "audit",
    "accounts",
    "releases",
    "approvals",
    "notes",
    "rules",
    "status",
    "notifications",
    "public",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.RefuseControlCharactersMiddleware",
    "lib.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The gate's hot path: answered here, above what it never reads (releases.middleware).
    "releases.middleware.GateMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.DeskTimeZoneMiddleware",
    "audit.middleware.RequestActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "api.problems.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.context_processors.desk",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the embedded default. Tuned for concurrent writers: WAL lets readers run beside the
# writer, IMMEDIATE takes the write lock at BEGIN (no deadlocking lock upgrades), and the busy
# timeout makes a writer wait instead of failing; without these django-q2 loses results under load.
DATABASE_URL = env_str("DATABASE_URL", "")
SQLITE_TUNING = {
    # Persistent: opening SQLite and running the PRAGMAs costs more than most requests.
    "CONN_MAX_AGE": 600,
    "CONN_HEALTH_CHECKS": True,
    "OPTIONS": {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    },
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "static").mkdir(exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "nightshift.sqlite3"}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Any SQLite database, the embedded default or one named by DATABASE_URL, gets the same
    # tuning: without it several workers' writes fail with "database is locked".
    DATABASES["default"].update(SQLITE_TUNING)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling) and task broker -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nightshift",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# At-least-once by design: `retry` exceeds `timeout` (or a slow task runs twice), failures are
# acknowledged after `max_attempts` instead of retried forever, and missed schedules are not
# replayed. The outbox, not the broker, is the record of what must still be delivered.
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "nightshift"),
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 5,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "sync": TESTING,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Rate limits and client addresses (accounts.ratelimit) ---------------------------------------
# How many proxies you run in front of Nightshift that append to X-Forwarded-For. 0: the
# client is REMOTE_ADDR, and X-Forwarded-For (which anyone can send) is ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# Counters every worker shares: Redis, else a SQLite file beside the database; tests count in
# memory (each test process on its own).
RATE_LIMIT_STORE = env_str(
    "RATE_LIMIT_STORE",
    f"redis:{REDIS_URL}"
    if REDIS_URL
    else ("memory" if TESTING else f"sqlite:{VAR_DIR / 'ratelimit.sqlite3'}"),
)
if RATE_LIMIT_STORE.partition(":")[0] not in ("redis", "sqlite", "memory"):
    raise ImproperlyConfigured(
        f"RATE_LIMIT_STORE={RATE_LIMIT_STORE!r}: use redis:<url>, sqlite:<path> or memory."
    )
# Parallel test processes share one Redis: each keeps its own counters.
# Counters live under this prefix; servers that share a Redis and should count together (one
# deployment) share it.
RATE_LIMIT_PREFIX = env_str("RATE_LIMIT_PREFIX", "nightshift") + (
    f"-{os.environ.get('PYTEST_XDIST_WORKER', '')}" * TESTING
)
SUBSCRIBE_RATE = env_rate("SUBSCRIBE_RATE", "10/hour")  # subscribe-form posts per client

# --- Auth, API ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Guessing passwords at the login page: django-axes counts failures per user name and client
# address (in the database, so every worker sees them) and locks that pair out for a while.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("LOGIN_THROTTLE", default=not TESTING)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "accounts.ratelimit.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.ReadAnyWriteReleaseEngineer"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "api.parsers.SafeFormParser",
        "api.parsers.SafeMultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # Anonymous pipelines may read windows and the gate; keyed clients are not throttled.
        "public": env_rate("PUBLIC_THROTTLE_RATE", "300/minute"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nightshift API",
    "DESCRIPTION": (
        "Release-window governance. Instants are ISO 8601 with an offset; errors are "
        "application/problem+json. Authenticate with `Authorization: Bearer <API key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.empty_means_omitted",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ComponentKindEnum": "releases.models.Component.Kind",
        "ReleaseKindEnum": "releases.models.Release.Kind",
        "ApprovalStatusEnum": "approvals.models.ApprovalRequest.Status",
        "NoticeStatusEnum": "notes.models.AdvanceNotice.Status",
        "VerdictEnum": "approvals.models.ApprovalDecision.Verdict",
        "IncidentImpactEnum": "status.models.incidents.IMPACTS",
        "ReleaseImpactEnum": "releases.models.Release.Impact",
        "NoticeImpactEnum": "notes.models.AdvanceNotice.Impact",
        "IncidentStateEnum": "status.models.Incident.State",
        "OpenIncidentStateEnum": "status.models.incidents.OPEN_STATES",
        "ServiceLevelEnum": "status.models.Level",
    },
}

# --- Approvals and e-mail -----------------------------------------------------------------------
# Distinct senior-management approvals an exceptional release needs. A critical request may
# need fewer, never more: the most urgent fix must not be the hardest to authorize.
APPROVAL_QUORUM = env_int("APPROVAL_QUORUM", 1, minimum=1)
APPROVAL_QUORUM_CRITICAL = env_int("APPROVAL_QUORUM_CRITICAL", APPROVAL_QUORUM, minimum=1)
if APPROVAL_QUORUM_CRITICAL > APPROVAL_QUORUM:
    raise ImproperlyConfigured(
        f"APPROVAL_QUORUM_CRITICAL={APPROVAL_QUORUM_CRITICAL} exceeds APPROVAL_QUORUM="
        f"{APPROVAL_QUORUM}: a critical request may need fewer approvals, never more."
    )

# How long a perceptible-impact release's notice must be public before its scheduled start.
NOTICE_LEAD_DAYS = {
    "low": env_int("NOTICE_LEAD_DAYS_LOW", 7, minimum=0),
    "medium": env_int("NOTICE_LEAD_DAYS_MEDIUM", 14, minimum=0),
    "high": env_int("NOTICE_LEAD_DAYS_HIGH", 30, minimum=0),
}

# Status: when a promised incident update is late, its owner is told at once and senior
# management this many minutes later (the guide: escalated "within minutes").
STATUS_ESCALATE_AFTER_MINUTES = env_int("STATUS_ESCALATE_AFTER_MINUTES", 10, minimum=1)
# Probes (docs/probes.md): consecutive failures that open an incident when a probe does not say,
# how many probes are asked at once, and how many days raw samples are kept (rollups: forever).
PROBE_FAILURES_TO_OPEN = env_int("PROBE_FAILURES_TO_OPEN", 3, minimum=1)
PROBE_CONCURRENCY = env_int("PROBE_CONCURRENCY", 4, minimum=1)
PROBE_KEEP_DAYS = env_int("PROBE_KEEP_DAYS", 30, minimum=1)

# Notifications: the outbox and its deliveries (see the README, "Notifications").
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
DELIVERY_BACKOFF_SECONDS = env_int("DELIVERY_BACKOFF_SECONDS", 30, minimum=1)
DELIVERY_BACKOFF_MAX_SECONDS = env_int("DELIVERY_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=1)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 50, minimum=1)
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 60, minimum=1)
DELIVERY_REQUEUE_SECONDS = env_int("DELIVERY_REQUEUE_SECONDS", 300, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# Off unless set, even in development: a webhook anyone subscribes must not reach this host's
# own network (loopback, private, link-local addresses) nor go over plain http.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Phone subscriptions (SMS): a number typed without its country code is read in this region
# (ISO 3166 code, e.g. US; empty: a country code is required); SMS_REGIONS, when set, lists the
# only countries texted (SMS to some countries costs more, and invites SMS-pumping fraud).
SMS_DEFAULT_REGION = env_str("SMS_DEFAULT_REGION", "").upper()
SMS_REGIONS = [region.upper() for region in env_list("SMS_REGIONS", [])]
# Confirmation codes texted per hour in all, whoever asks (each costs money).
SMS_CODES_PER_HOUR = env_int("SMS_CODES_PER_HOUR", 100, minimum=1)
# A release with no perceptible impact is public from its window's opening (the guide: "as they
# occur"); this moves that moment earlier, for its items and pages alike.
ITEMS_ANNOUNCE_HOURS = env_int("ITEMS_ANNOUNCE_HOURS", 0, minimum=0)
# Edits to a published notice within this many minutes reach customers as one message.
NOTICE_REVISION_HOLD_MINUTES = env_int("NOTICE_REVISION_HOLD_MINUTES", 5, minimum=0)
_reminder_days = env_list("NOTICE_REMINDER_DAYS", ["14", "7", "1"])
if not all(days.isdigit() and int(days) > 0 for days in _reminder_days):
    raise ImproperlyConfigured(
        f"NOTICE_REMINDER_DAYS={','.join(_reminder_days)!r}: give whole days before the "
        "tentative date, comma-separated, e.g. 14,7,1."
    )
NOTICE_REMINDER_DAYS = sorted({int(days) for days in _reminder_days}, reverse=True)
if DELIVERY_LEASE_SECONDS < 3 * WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"DELIVERY_LEASE_SECONDS={DELIVERY_LEASE_SECONDS} must be at least three times "
        f"WEBHOOK_TIMEOUT_SECONDS={WEBHOOK_TIMEOUT_SECONDS}: a batch stops sending two timeouts "
        "before its lease ends, so that no other worker takes over a send still under way."
    )
if Q_CLUSTER["timeout"] <= 3 * WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_TIMEOUT_SECONDS must be under a third of the task timeout.")

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
# The file-based backend (make run's) writes each run's e-mail here.
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail")))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Nightshift <nightshift@localhost>")

# --- Audit log -----------------------------------------------------------------------------------
# The key of every entry's MAC. Never stored in the database, so whoever can write to the database
# still cannot forge entries. Unset, it is derived from SECRET_KEY: set it in production, so that
# rotating SECRET_KEY does not make every past entry fail verification.
AUDIT_KEY = env_str("AUDIT_KEY", "")
if AUDIT_KEY and len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_KEY must be 32+ random characters (or unset).")

# --- Internationalisation and time -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
# The zone pages, e-mail and refusals show beside UTC; the default policy's zone.
DISPLAY_TIME_ZONE = env_zone("DISPLAY_TIME_ZONE", "America/Los_Angeles")
# The zone the release desk (admin) shows and takes times in; each user may choose their own.
TEAM_TIME_ZONE = env_zone("TEAM_TIME_ZONE", DISPLAY_TIME_ZONE)

# --- Static files --------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (checked by `manage.py check --deploy` when DEBUG=0) -----------------------------
# The test client speaks plain http to "testserver"; everything else defaults to HTTPS only.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not (DEBUG or TESTING))
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Apprise logs a URL it cannot read as it was typed, credentials and all (and every URL at
    # DEBUG): its records go nowhere. What a channel said when it failed is kept by Nightshift
    # (the delivery's and the channel's last error, and a warning in this log).
    "loggers": {"apprise": {"handlers": ["null"], "propagate": False}},
}
