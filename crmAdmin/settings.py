"""Settings, read from the environment (and a `.env` file when present).

Every variable is listed in `.env.example`. Development needs none of them: DEBUG defaults to
off, but an unset SECRET_KEY is replaced by a random per-checkout key only when DEBUG is on or the
test suite runs; otherwise the process refuses to start.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")

DEBUG = env.bool("DEBUG", default=False)


def _development_secret_key() -> str:
    """A random key kept in an ignored file, so sessions survive restarts of `make run`."""
    key_file = BASE_DIR / ".dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
    return key_file.read_text().strip()


# Serving = the WSGI/ASGI entry points (gunicorn) or runserver. Other management commands
# (migrate, makemigrations --check, shell) sign nothing a client keeps, so they may run on the
# per-checkout key; a server never does when DEBUG is off.
SERVING = os.environ.get("CRM_SERVING") == "1" or sys.argv[1:2] == ["runserver"]

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if SERVING and not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "crmAdmin.apps.CrmAdminConfig",  # django.contrib.admin, its login under the limits
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crmApp",
]

# The benchmark app (bench/): an unauthenticated bare comparison view, mounted at /api/bench/,
# and `manage.py bench_seed`. Installed only when this is on, so a production process has
# neither. Never in production.
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)
if BENCH_ENDPOINTS:
    INSTALLED_APPS.append("crmBench")

MIDDLEWARE = [
    "crmApp.middleware.RequestLogMiddleware",
    "crmApp.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crmApp.cache_control.CacheControlMiddleware",
    "crmApp.middleware.RateLimitHeadersMiddleware",
    "crmApp.idempotency.IdempotencyMiddleware",
    "crmApp.middleware.ReplicaReadsMiddleware",
]

ROOT_URLCONF = "crmAdmin.urls"
# A POST to a path without its slash is a JSON 404, never a redirect that drops the body.
APPEND_SLASH = False
WSGI_APPLICATION = "crmAdmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
#: Connection settings the replica alias shares with the primary's.
_POOLED_KEYS = ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")
#: "pgbouncer" when DATABASE_URL points at a PgBouncer in transaction mode (README, "Production
#: topology"): each transaction may run on another server connection, so nothing may outlive one.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASE_POOLER == "pgbouncer":
        # A server-side cursor (QuerySet.iterator(), the CSV export) lives across transactions;
        # without them the rows of an iterator are fetched at once (EXPORT_MAX_ROWS caps them).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # crmApp.db.hot_cursor: the fixed queries of every request (session, access) run as
    # server-side prepared statements. Behind PgBouncer in transaction mode they need PgBouncer
    # 1.21 or later with `max_prepared_statements` set, so there they are off unless turned on.
    # Django's own cursors bind client-side and never prepare, whatever this threshold says.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=DATABASE_POOLER != "pgbouncer"):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0

# A streaming replica of the primary (crmApp.db_routing): list, stats, report and export reads
# go to it, except a client's own reads for REPLICA_READ_YOUR_WRITES_SECONDS after it wrote,
# and every read while it is more than REPLICA_MAX_LAG_SECONDS behind or unreachable (checked
# at most every REPLICA_CHECK_SECONDS per process). Unset: everything reads the primary.
REPLICA_READ_YOUR_WRITES_SECONDS = env.float("REPLICA_READ_YOUR_WRITES_SECONDS", default=5.0)
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=2.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=1.0)
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {
        **env.db_url("DATABASE_REPLICA_URL"),
        **{key: DATABASES["default"][key] for key in _POOLED_KEYS if key in DATABASES["default"]},
        # Tests read the primary through this alias (no second test database is made).
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["crmApp.db_routing.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The deals' covering index for owner-narrowed reports (`deals_owner_reports`) carries its
# non-key columns on PostgreSQL only; SQLite builds it on its key columns, which is all it could
# use, so its warning says nothing to act on.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

REDIS_URL = env.str("REDIS_URL", default="")
#: Seconds a Redis call may wait for a connection or an answer before the cache falls back to
#: process-local memory (crmApp.cache), and seconds between attempts to reach it again.
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=0.5)
REDIS_RETRY_SECONDS = env.float("REDIS_RETRY_SECONDS", default=5.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "crmApp.cache.FailoverRedisCache",
            "LOCATION": REDIS_URL,
            # Several deployments (or test runs) may share one Redis database.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "RETRY_SECONDS": REDIS_RETRY_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "crmApp.User"
AUTHENTICATION_BACKENDS = ["crmApp.authentication.EmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing costs ~230 ms per password; tests only need a correct hasher.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Relative paths are taken from the project directory.
MEDIA_ROOT = str(BASE_DIR / env.str("MEDIA_ROOT", default="media"))
# Attachments and uploaded import files: the local filesystem under MEDIA_ROOT by default (never
# served as static files: downloads go through the API's permission checks), or any
# S3-compatible bucket through django-storages (ATTACHMENTS_STORAGE=s3).
ATTACHMENTS_STORAGE = env.str("ATTACHMENTS_STORAGE", default="filesystem")
if ATTACHMENTS_STORAGE == "s3":
    _files_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET_NAME", default=""),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION_NAME", default="") or None,
            "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("S3_LOCATION", default="crm-files"),
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env.int("ATTACHMENT_URL_EXPIRY_SECONDS", default=60),
            "file_overwrite": False,
        },
    }
elif ATTACHMENTS_STORAGE == "filesystem":
    _files_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(Path(MEDIA_ROOT) / "files"), "base_url": None},
    }
else:
    raise ImproperlyConfigured("ATTACHMENTS_STORAGE must be filesystem or s3.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "files": _files_storage,
}

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2 * 1024 * 1024)
# Uploaded files above this size are spooled to a temporary file instead of memory, so a 20 MB
# attachment costs the web worker no more memory than a small one.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_BYTES", default=1024 * 1024)
# Largest attachment, and the total every attachment of one organization may take.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
ATTACHMENT_ORG_QUOTA_BYTES = env.int("ATTACHMENT_ORG_QUOTA_BYTES", default=1024**3)
# Content types (detected from the bytes) an attachment may have.
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=[
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "text/plain",
        "text/csv",
    ],
)
# With S3 storage, a download answers with a redirect to a signed URL valid this long.
ATTACHMENT_URL_EXPIRY_SECONDS = env.int("ATTACHMENT_URL_EXPIRY_SECONDS", default=60)
# CSV imports (crmApp/importing.py): the largest file and the most data rows one job may have,
# rows per transaction, and rows per chunk (the unit of work spread over the import workers).
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=500)
IMPORT_CHUNK_ROWS = env.int("IMPORT_CHUNK_ROWS", default=2000)
# Time one import task (planning a file, or one chunk) may take before it is stopped; a stopped
# chunk is retried and resumes after its last committed batch.
IMPORT_TASK_SOFT_TIME_LIMIT = env.int("IMPORT_TASK_SOFT_TIME_LIMIT", default=300)

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm@localhost")

CORS_ALLOWED_ORIGINS = env.list(
    "CORS_ALLOWED_ORIGINS", default=["http://localhost:5173", "http://127.0.0.1:5173"]
)
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = [
    "accept",
    "accept-encoding",
    "authorization",
    "content-type",
    "dnt",
    "origin",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
    "x-organization-id",
    "x-request-id",
    "idempotency-key",
]
CORS_EXPOSE_HEADERS = [
    "retry-after",
    "x-request-id",
    "idempotent-replayed",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
]

# Production hardening: on unless DEBUG (or the test client, which speaks plain HTTP).
_secure = not DEBUG and not TESTING
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Probes from a load balancer or an orchestrator speak plain HTTP to the process: the liveness
# and readiness checks answer them instead of redirecting to https.
SECURE_REDIRECT_EXEMPT = [r"^api/health/live/$", r"^api/health/ready/$"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crmApp.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "crmApp.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "crmApp.pagination.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "crmApp.filters.base.StrictFilterBackend",
        "crmApp.filters.base.WholeTextSearchFilter",
        "crmApp.filters.base.StrictOrderingFilter",
    ],
    "EXCEPTION_HANDLER": "crmApp.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "crmApp.schema.EnvelopeAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "crmApp.throttling.AnonRateThrottle",
        "crmApp.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON_RATE", default="60/min"),
        "user": env.str("THROTTLE_USER_RATE", default="1000/hour"),
        "auth": env.str("THROTTLE_AUTH_RATE", default="20/min"),
        "organization_create": env.str("THROTTLE_ORGANIZATION_CREATE_RATE", default="10/hour"),
        "health": env.str("THROTTLE_HEALTH_RATE", default="60/min"),
        # Mail-sending routes: per caller for the verification resend, per client address and
        # per email key for password reset (crmApp.throttling).
        "verify_email_resend": env.str("THROTTLE_VERIFY_EMAIL_RESEND_RATE", default="3/hour"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET_RATE", default="10/hour"),
        "password_reset_email": env.str("THROTTLE_PASSWORD_RESET_EMAIL_RATE", default="3/hour"),
    },
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Failed logins (crmApp.services.auth, checked by the authentication backend, so the API and
# the Django admin share them): per account from one address, per account from all addresses,
# and per address over all accounts (that one only ever blocks its own address). A counter at
# its limit blocks for LOGIN_FAILURE_BACKOFF_SECONDS, doubled by each further failure up to
# LOGIN_FAILURE_BACKOFF_MAX_SECONDS; counters are forgotten after the window.
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = env.int("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", default=5)
LOGIN_FAILURE_LIMIT_ACCOUNT_WIDE = env.int("LOGIN_FAILURE_LIMIT_ACCOUNT_WIDE", default=50)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_FAILURE_BACKOFF_SECONDS = env.int("LOGIN_FAILURE_BACKOFF_SECONDS", default=60)
LOGIN_FAILURE_BACKOFF_MAX_SECONDS = env.int("LOGIN_FAILURE_BACKOFF_MAX_SECONDS", default=3600)

# Proxies in front of the app that append to X-Forwarded-For (crmApp.addresses); 0 = none, the
# header is ignored and REMOTE_ADDR is the client. Set it to exactly the number of proxies: one
# too many lets clients pick their address, one too few makes every client the proxy.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# The Django admin: off, or moved to another path (with its trailing slash, e.g. "ops-7f3c/").
ADMIN_ENABLED = env.bool("ADMIN_ENABLED", default=True)
ADMIN_URL = (env.str("ADMIN_URL", default="admin/").strip("/") or "admin") + "/"

# Organizations one user may belong to at once, counting every active membership (owned or
# joined); creating one more is a 400 (crmApp.services.organizations).
MAX_ORGANIZATIONS_PER_USER = env.int("MAX_ORGANIZATIONS_PER_USER", default=20)

# Account emails (crmApp.services.accounts, crmApp.services.invitations): each link is
# FRONTEND_URL + its path + "?token=...", a page of the client application that posts the token
# to the API. Lifetimes of the emailed tokens.
FRONTEND_URL = env.str("FRONTEND_URL", default="http://localhost:5173").rstrip("/")
FRONTEND_VERIFY_EMAIL_PATH = env.str("FRONTEND_VERIFY_EMAIL_PATH", default="/verify-email")
FRONTEND_PASSWORD_RESET_PATH = env.str("FRONTEND_PASSWORD_RESET_PATH", default="/reset-password")
FRONTEND_INVITATION_PATH = env.str("FRONTEND_INVITATION_PATH", default="/accept-invitation")
EMAIL_VERIFICATION_TTL_HOURS = env.int("EMAIL_VERIFICATION_TTL_HOURS", default=48)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
PASSWORD_RESET_TTL_MINUTES = env.int("PASSWORD_RESET_TTL_MINUTES", default=60)

# List counts (crmApp.pagination): exact up to this many rows; above it, cached for a while.
# 0 = an exact COUNT(*) on every page.
PAGINATION_EXACT_COUNT_LIMIT = env.int("PAGINATION_EXACT_COUNT_LIMIT", default=10_000)
PAGINATION_COUNT_CACHE_SECONDS = env.int("PAGINATION_COUNT_CACHE_SECONDS", default=60)

# Hard caps on bulk endpoints and exports (crmApp.viewsets.bulk).
BULK_MAX_ITEMS = env.int("BULK_MAX_ITEMS", default=1000)
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=1_000_000)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env.int("JWT_ACCESS_LIFETIME_MINUTES", default=1440)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_LIFETIME_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "Multi-tenant CRM backend: organizations, RBAC, customers, leads, deals.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from the online validator: the docs fetch nothing from another site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "ActiveStatusEnum": "crmApp.models.base.ActiveStatus",
        "DealStatusEnum": "crmApp.models.deals.Deal.Status",
        "ImportResourceEnum": "crmApp.models.imports.ImportJob.Resource",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crmApp.schema.drop_serializer_docstrings",
    ],
}

#: Seconds a client is told to wait (`Retry-After`) when the database cannot be reached (503).
DATABASE_UNAVAILABLE_RETRY_AFTER = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER", default=5)

LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT == "json" and not TESTING:
    # Python warnings (a library's deprecation, a missing static directory) otherwise reach
    # stderr as plain text; as records they are JSON lines like the rest.
    import logging as _logging

    _logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "crmApp.logging.JsonFormatter"},
        "text": {
            "()": "crmApp.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "crmApp.requests": {"level": "WARNING" if TESTING else "INFO"},
    },
}

# Background work (crmAdmin/celery.py; Celery reads the CELERY_* names). Without a broker every
# task runs in-process right after the transaction that queued it commits (eager mode), so
# `make run` needs nothing else; with one, `make worker` consumes the queues. One enqueue path
# (crmApp.tasks.enqueue) serves both modes.
_broker_url = env.str("CELERY_BROKER_URL", default="")
BROKER_CONFIGURED = bool(_broker_url)
CELERY_BROKER_URL = _broker_url or "memory://"
CELERY_TASK_ALWAYS_EAGER = not BROKER_CONFIGURED
CELERY_TASK_EAGER_PROPAGATES = False
#: Seconds to wait for the broker when publishing or checking health: a down broker must cost a
#: request little (the outbox keeps the event; the periodic sweep delivers it later).
BROKER_CONNECT_TIMEOUT = env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=1.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
    "socket_timeout": max(BROKER_CONNECT_TIMEOUT, 5.0),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
#: Prepended to every queue name, so several deployments (or test runs) can share one broker.
TASK_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
TASK_QUEUES = ("default", "email", "webhooks", "imports")
CELERY_TASK_DEFAULT_QUEUE = f"{TASK_QUEUE_PREFIX}default"
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a worker that dies mid-task leaves it to another one;
# every task is idempotent, so running one twice is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TIMEZONE = "UTC"
#: Audit rows older than this many days are deleted by the hourly purge (0 keeps them forever).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
#: The hour (UTC) the daily digest of due and overdue tasks is mailed.
TASK_DIGEST_HOUR_UTC = env.int("TASK_DIGEST_HOUR_UTC", default=6)
#: How often the beat scheduler sweeps the outbox for events and retries that are due.
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "crmApp.tasks.outbox_dispatch", "schedule": OUTBOX_SWEEP_SECONDS},
    "webhooks-sweep": {"task": "crmApp.tasks.webhooks_sweep", "schedule": OUTBOX_SWEEP_SECONDS},
    "idempotency-purge": {"task": "crmApp.tasks.idempotency_purge", "schedule": 3600.0},
    "audit-purge": {"task": "crmApp.tasks.audit_purge", "schedule": 3600.0},
    "task-digest": {
        "task": "crmApp.tasks.task_digest_send",
        "schedule": crontab(hour=TASK_DIGEST_HOUR_UTC, minute=0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / ".celerybeat-schedule")
)
#: Attempts per (event, consumer) before the delivery is parked as failed.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
#: First retry delay (seconds); doubled per attempt, capped, with random jitter.
OUTBOX_RETRY_BASE_SECONDS = env.float("OUTBOX_RETRY_BASE_SECONDS", default=5.0)
OUTBOX_RETRY_MAX_SECONDS = env.float("OUTBOX_RETRY_MAX_SECONDS", default=3600.0)
#: A claimed delivery is not handed out again for this long (its task may still be queued).
OUTBOX_CLAIM_SECONDS = env.float("OUTBOX_CLAIM_SECONDS", default=120.0)

# Django's file backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend) writes
# each message here, to inspect mail locally.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-mail"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# Webhooks (crmApp/services/webhooks.py). Private, loopback, link-local and other non-public
# addresses are refused as targets unless this is on (development and tests only).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
#: A delivery is retried (exponential backoff with jitter) for this long after it was created.
WEBHOOK_RETRY_WINDOW_SECONDS = env.float("WEBHOOK_RETRY_WINDOW_SECONDS", default=86400.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
#: Failed attempts in a row (over all its deliveries) after which an endpoint is disabled.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
#: How long the sweep's claim on a due delivery lasts before another sweep may hand it out.
WEBHOOK_CLAIM_SECONDS = env.float("WEBHOOK_CLAIM_SECONDS", default=60.0)
#: How long an Idempotency-Key's answer is replayed (crmApp/idempotency.py).
IDEMPOTENCY_KEY_TTL_SECONDS = env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=86400)
