"""Project wiring: settings, URLs, the Celery app, base errors and cross-cutting middleware."""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
