"""Settings for `bench webhooks`' gunicorn: the test settings plus a bare view on the server.

DATABASE_URL, REDIS_URL, LOG_LEVEL and CELERY_EAGER come from the environment the benchmark
sets; only the URLconf and static-file rescans differ from what the tests run.
"""

from config.settings.base import env
from config.settings.test import *  # noqa: F403 - a settings module extends another
from config.settings.test import STRIPE_WEBHOOK_SECRETS as TEST_WEBHOOK_SECRETS

ROOT_URLCONF = "bench.webhook_urls"
# Production serves collected static files without rescanning them on every request.
WHITENOISE_AUTOREFRESH = False
# The benchmark signs with its own secret (the test settings fix theirs).
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRETS", default=TEST_WEBHOOK_SECRETS)
