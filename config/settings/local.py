"""The embedded default for `make run`: SQLite under var/, eager Celery, the offline sandbox."""

from .base import *

# `manage.py run_sandbox`: the offline stand-in for the processors (never in production).
INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]

# Off unless a developer turns it on (DJANGO_DEBUG=1): `make run` shows the styled error pages
# a customer would see, never Django's debug page with settings and local variables.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Static files come straight from static/ (no collectstatic), with or without DEBUG.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A development-only key; production settings refuse to start with it.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-local-development-key-only")
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY", default="Z4MdURdZoHtwJ_2e79xMvQ3RlyU4fmiMmbvo605gU3U")
ENCRYPTION_KEYS = env.list(
    "ENCRYPTION_KEYS", default=["dev-local:zg-zNRECPq_DGgcPVhx0J2K-UI1G5sNlf5Y_ma1ZIIA"]
)
# Without real processor keys, talk to the offline sandbox (and the dashboard says so).
if not STRIPE_SECRET_KEY:
    STRIPE_API_BASE = STRIPE_API_BASE or SANDBOX_URL
    STRIPE_SECRET_KEY = "sk_test_ledgerline_sandbox"
    STRIPE_PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
    STRIPE_WEBHOOK_SECRETS = STRIPE_WEBHOOK_SECRETS or ["whsec_ledgerline_sandbox"]
# Braintree's keys are per merchant; until an operator points at Braintree, use the sandbox.
BRAINTREE_API_BASE = BRAINTREE_API_BASE or (
    "" if env("BRAINTREE_ENVIRONMENT", default="") else SANDBOX_URL
)
if not PLAID_SECRET:
    PLAID_API_BASE = PLAID_API_BASE or SANDBOX_URL
    PLAID_CLIENT_ID = "ledgerline_sandbox_client"
    PLAID_SECRET = "ledgerline_sandbox_secret"
