"""Settings shared by every environment, read from the process environment (12-factor)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
# Runtime data (SQLite, sandbox state, audit checkpoint exports); overridable for smoke tests.
VAR_DIR = Path(env("LEDGERLINE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "accounts",
    "compliance",
    "api",
    "inbound",
    "payments",
    "banking",
]
# The processor sandbox (`sandbox`: the other side of a network connection, which provides
# `manage.py run_sandbox`) is added by the local and test settings only, never production.

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.middleware.NoStoreByDefaultMiddleware",
    "config.exceptions.ApiErrorShapeMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.VerifiedSessionRequiredMiddleware",
    "accounts.middleware.CurrentMerchantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Axes must come last so it sees the final response of a failed login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
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
                "csp.context_processors.nonce",
                "accounts.context_processors.dashboard",
                "accounts.navigation.navigation",
            ],
        },
    },
]


def database_config(url: str) -> dict[str, Any]:
    """The default database from its URL, connected the same way in every environment."""
    if not url:
        raise ImproperlyConfigured("DATABASE_URL is set but empty.")
    config: dict[str, Any] = dict(env.db_url_config(url))
    config["ATOMIC_REQUESTS"] = False
    config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The embedded default serves the web, the worker, beat and the relay from one file.
        # WAL lets readers and the one writer proceed together; NORMAL sync is safe in WAL
        # (a power cut may lose the last commits, never corrupt the file). IMMEDIATE takes the
        # write lock at BEGIN: a transaction that read and then writes can otherwise not wait
        # for another writer and fails at once with "database is locked". The busy timeout is
        # how long a writer waits for the lock before that error.
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("DATABASE_SQLITE_TIMEOUT", default=30),
        }
    if config["ENGINE"] == "django.db.backends.postgresql":
        # The server binds parameters, and a statement run a few times on a connection is
        # prepared there: parsed and planned once per connection instead of on every call
        # (measured on a webhook acknowledgement: 0.43 -> 0.28 ms of PostgreSQL CPU). A pooler in
        # transaction mode (PgBouncer) cannot keep prepared statements: "off" there.
        threshold = env("DATABASE_PREPARE_THRESHOLD", default="5")
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "server_side_binding": True,
            "prepare_threshold": None if threshold == "off" else int(threshold),
        }
    return config


DATABASES = {
    "default": database_config(
        env("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'ledgerline.sqlite3'}"
    ),
}
# Reports (payments/reports.py: volume summaries, CSV exports) read through REPORTS_DB_ALIAS:
# `reports`, a read replica, when REPORTS_DATABASE_URL is set; else `default` itself (one
# connection, so a report sees what was just written). config.db_routers keeps every write and
# migration on `default`.
REPORTS_DATABASE_URL = env("REPORTS_DATABASE_URL", default="")
if REPORTS_DATABASE_URL:
    DATABASES["reports"] = database_config(REPORTS_DATABASE_URL)
REPORTS_DB_ALIAS = "reports" if REPORTS_DATABASE_URL else "default"
DATABASE_ROUTERS = ["config.db_routers.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ledgerline",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis (or any broker URL) when configured; without them the embedded default's
# broker, message files under var/broker/ (config.broker), which the worker `make run` starts
# consumes. The same worker, beat and relay as in production either way: failed and stuck work
# is retried and reconciled in the default too. CELERY_TASK_ALWAYS_EAGER runs tasks inline
# instead (tests; a web process started on its own without a worker).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "atomicfs://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
    # The files broker (other transports ignore these): one folder both ways, polled twice a
    # second when idle.
    "data_folder_in": str(VAR_DIR / "broker" / "messages"),
    "data_folder_out": str(VAR_DIR / "broker" / "messages"),
    "control_folder": str(VAR_DIR / "broker" / "control"),
    "polling_interval": 0.5,
}
CELERY_TIMEZONE = "UTC"
# Celery's Django fixup closes every database connection around every task unless this is
# set; config.celery_app applies Django's CONN_MAX_AGE and health checks between tasks instead.
CELERY_DB_REUSE_MAX = 10_000

# --- Identity -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
# Where config.permissions.require_permission sends a signed-in user who belongs to no merchant.
NO_MERCHANT_URL = "accounts:no_merchant"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out username or IP before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

OTP_TOTP_ISSUER = "Ledgerline"
# The admin never shows TOTP secrets or provisioning QR codes of other people.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# django-otp throttling: after n successive failures a device waits factor * 2^(n-1) seconds.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_BACKUP_CODE_THROTTLE_FACTOR = 1
# Step-up window for sensitive actions (API keys, team, refunds, deletion approvals).
STEP_UP_MAX_AGE = timedelta(minutes=5)
INVITE_MAX_AGE = timedelta(days=3)
# A one-time link to set up a first authenticator (accounts.models.EnrolmentLink).
ENROLMENT_LINK_MAX_AGE = timedelta(days=3)
# No mail server in the embedded default: invitation emails go to the console.
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env(
    "DJANGO_DEFAULT_FROM_EMAIL", default="Ledgerline <no-reply@ledgerline.test>"
)

# PCI DSS 8.3.4: lock an account after at most 10 failures for at least 30 minutes.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=30)
# Each entry is counted on its own: a username across IPs, and an IP across usernames.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Emails are counted lower-cased, so "Alice@x" and "alice@x" share one counter.
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
# A success forgives that username's failures only, never the IP's (accounts.lockout).
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "accounts.lockout.UsernameResetHandler"
# Attempts while locked are refused without restarting the 30-minute clock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
# Masked in axes' stored POST copies and log lines (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "email", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# Renders templates/accounts/locked_out.html with 429 and Retry-After, never the username.
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip_from_request"
# How many reverse proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Sessions and CSRF ----------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(timedelta(hours=12).total_seconds())
SESSION_IDLE_TIMEOUT = timedelta(minutes=15)
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Only the server-side clocks in accounts.session_security end a session; the cookie lives
# no longer than the absolute limit and is not kept past the browser closing.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "django.views.csrf.csrf_failure"

# --- Headers --------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), usb=(), payment=(self)"

# The processor's card form and Plaid Link load from their own origin; nothing else does.
SANDBOX_URL = env("SANDBOX_URL", default="http://127.0.0.1:12111")
STRIPE_JS_ORIGINS = ["https://js.stripe.com", "https://*.stripe.com"]
PLAID_LINK_ORIGINS = ["https://cdn.plaid.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Files browsers ask for at the site's root (/favicon.ico), served by WhiteNoise.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api_parsers.ApiJSONParser"],
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ledgerline API",
    "DESCRIPTION": "Payments, customers, payment links, bank accounts, events and data requests.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components, with what the API enforces on input
    # (minLength 1 on text that may not be blank); 3.1 for `propertyNames` (metadata keys).
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Processors and secrets -----------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRETS", default=[])
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
# Braintree keys are each merchant's own (sealed in payments' ProcessorCredential); only where
# the API is: the sandbox's base URL (unset for Braintree itself) or Braintree's environment.
BRAINTREE_API_BASE = env("BRAINTREE_API_BASE", default="")
BRAINTREE_ENVIRONMENT = env("BRAINTREE_ENVIRONMENT", default="sandbox")
# Every Braintree sale requires a passed 3-D Secure authentication (the pay page's verifyCard).
BRAINTREE_THREE_D_SECURE_REQUIRED = env.bool("BRAINTREE_THREE_D_SECURE_REQUIRED", default=False)
BRAINTREE_JS_ORIGINS = ["https://js.braintreegateway.com", "https://assets.braintreegateway.com"]
PLAID_CLIENT_ID = env("PLAID_CLIENT_ID", default="")
PLAID_SECRET = env("PLAID_SECRET", default="")
PLAID_ENV = env("PLAID_ENV", default="sandbox")
PLAID_API_BASE = env("PLAID_API_BASE", default="")
# Key-encryption keys as "key-id:base64url(32 bytes)", newest first.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])
AWS_KMS_KEY_ID = env("AWS_KMS_KEY_ID", default="")
# Ed25519 private key seed, 32 bytes base64url; never stored in the database.
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY", default="")
# Data requests (compliance.execution): how long a completed access request's export can be
# downloaded, and how long backups keep data before they rotate out (on the certificate).
EXPORT_AVAILABLE_DAYS = env.int("EXPORT_AVAILABLE_DAYS", default=7)
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=35)
# Retention (compliance.retention): category registered by an app -> age in days. Applied by
# beat daily and by `manage.py apply_retention`; legal holds stop it per merchant or customer.
RETENTION_POLICIES = {
    "payments.refunded_payments": {"days": 180},
    "accounts.expired_invitations": {"days": 30},
    "accounts.login_attempts": {"days": 90},
    "accounts.login_log": {"days": 365},
}
AUDIT_EXPORT_DIR = env("AUDIT_EXPORT_DIR", default=str(VAR_DIR / "audit-checkpoints"))
# Checkpoint cadence (PCI DSS 10.3.4): whichever comes first.
AUDIT_CHECKPOINT_MAX_ENTRIES = 1000
AUDIT_CHECKPOINT_MAX_AGE = timedelta(seconds=60)
# Inline sealing after each commit when no worker runs (the embedded default).
AUDIT_SEAL_INLINE = env.bool("AUDIT_SEAL_INLINE", default=CELERY_TASK_ALWAYS_EAGER)

CELERY_BEAT_SCHEDULE = {
    "audit-seal": {"task": "compliance.tasks.audit_seal_task", "schedule": 30.0},
    "retention-apply": {"task": "compliance.tasks.retention_apply_task", "schedule": 86400.0},
    "data-requests-resume": {
        "task": "compliance.tasks.data_requests_resume_task",
        "schedule": 300.0,
    },
    "payments-reconcile-stuck": {
        "task": "payments.tasks.payments_reconcile_stuck",
        "schedule": 20.0,
    },
    "api-idempotency-purge": {
        "task": "api.tasks.idempotency_records_purge",
        "schedule": 3600.0,
    },
    "inbound-events-relay": {
        "task": "inbound.tasks.inbound_events_relay",
        "schedule": 5.0,
    },
    "inbound-events-reconcile": {
        "task": "inbound.tasks.inbound_events_reconcile",
        "schedule": 900.0,
    },
    "banking-plaid-items-reconcile": {
        "task": "banking.tasks.plaid_items_reconcile_quiet",
        "schedule": 300.0,
    },
}

# --- Logging --------------------------------------------------------------------------------
LOG_JSON = env.bool("LOG_JSON", default=False)
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "config.logging.SecretMaskingFilter"},
        "request_id": {"()": "config.logging.RequestIdFilter"},
    },
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "console": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "mask_secrets"],
            "formatter": "json" if LOG_JSON else "console",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Every record reaches a handler that masks it. Naming a logger here removes the handlers
    # others installed on it: Django's own (an unmasked console handler in DEBUG that printed
    # request paths with card numbers and pay-page tokens, and mail_admins), runserver's
    # access log, gunicorn's error and access logs. Celery installs none (config/celery_app.py).
    "loggers": {
        "django": {"level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # The SDK logs every request at INFO; our gateway logs what matters.
        "stripe": {"level": "WARNING"},
    },
}
