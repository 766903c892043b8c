"""pytest settings: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else SQLite."""

import os
import tempfile
from pathlib import Path

from .base import *

# `manage.py run_sandbox`: the offline stand-in for the processors (never in production).
INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"
AUDIT_SIGNING_KEY = "WjDAMN7T6tIpSSqy8FZyMQcrvUUOCSIhXbEgDbKkYJw"
ENCRYPTION_KEYS = ["test-1:Zwy5mntiOFuB2hUzthwljfLt8jP4oV2QCmH20PR6JjQ"]
DEBUG = False
# Argon2 is what production uses (asserted in tests); a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# On SQLite the test database is a file, not Django's shared-cache in-memory database: that one
# locks per table and never waits (SQLITE_LOCKED, which no busy timeout covers), so a live
# server's thread failed with "database table is locked" while the test's thread wrote. A file
# gets the embedded default's WAL, immediate transactions and busy timeout, as `make run` does.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One per test process, so two runs in one checkout never share (or delete) a database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"ledgerline-test-{os.getpid()}.sqlite3")
    }
# A replica alias that is the test database itself (Django connects a MIRROR to its primary's
# test database), for the tests that point REPORTS_DB_ALIAS at it; they need transaction=True,
# as a second connection sees no uncommitted rows. Other tests read reports through default.
DATABASES["reports"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
REPORTS_DB_ALIAS = "default"
# Tests pay against a sandbox started on a free port (tests/conftest.py sets the base).
STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"
STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
STRIPE_API_BASE = SANDBOX_URL
BRAINTREE_API_BASE = SANDBOX_URL
PLAID_CLIENT_ID = "ledgerline_sandbox_client"
PLAID_SECRET = "ledgerline_sandbox_secret"
PLAID_API_BASE = SANDBOX_URL
STRIPE_WEBHOOK_SECRETS = ["whsec_test_current", "whsec_test_previous"]
AUDIT_EXPORT_DIR = str(VAR_DIR / "test-audit-checkpoints")
# Tests drive Celery explicitly; eager unless a test starts a real worker (on Redis). Without
# Redis nothing is published: no test leaves message files in var/broker/.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_EAGER", default=True)
if not REDIS_URL:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
# A worker a test starts may be given a short visibility timeout, so that a message its killed
# predecessor held comes back within the test (production keeps base.py's hour), and sweeps
# for such messages every second instead of every ~100 s.
if env("CELERY_VISIBILITY_TIMEOUT", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT"),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
AUDIT_SEAL_INLINE = False
# Serve static files from the finders; there is no collectstatic before tests.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Parallel pytest-xdist processes share one Redis database: one's counters (rate limits,
# refused-webhook counts) must not show up in another's assertions, and a real worker one of
# them starts must not take the other's messages. (A worker a test starts inherits the
# variable, so it uses the same prefix.)
TEST_PROCESS_PREFIX = env("PYTEST_XDIST_WORKER", default="")
if TEST_PROCESS_PREFIX:
    if "default" in CACHES:
        CACHES["default"]["KEY_PREFIX"] = TEST_PROCESS_PREFIX
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": f"{TEST_PROCESS_PREFIX}:",
    }
