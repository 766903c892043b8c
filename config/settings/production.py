"""Production: every secret from the environment, no defaults, refuses to start when unsafe."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from .base import *

DEBUG = False
if env.bool("DJANGO_DEBUG", default=False):
    raise ImproperlyConfigured("DJANGO_DEBUG must not be on in production.")

SECRET_KEY = env("DJANGO_SECRET_KEY")
_DEV_MARKERS = ("django-insecure", "dev-", "test-", "changeme")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith(_DEV_MARKERS) or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a real secret of at least 50 characters.")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {**DATABASES, "default": database_config(env("DATABASE_URL"))}

AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY")
if not AUDIT_SIGNING_KEY:
    raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be set in production.")
if not (ENCRYPTION_KEYS or AWS_KMS_KEY_ID):
    raise ImproperlyConfigured("Set ENCRYPTION_KEYS or AWS_KMS_KEY_ID in production.")
if any(key.startswith(("dev", "test")) for key in ENCRYPTION_KEYS):
    raise ImproperlyConfigured("ENCRYPTION_KEYS holds a development key; use real keys.")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(timedelta(days=365).total_seconds())
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

LOG_JSON = env.bool("LOG_JSON", default=True)
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_JSON else "console"  # type: ignore[index]
