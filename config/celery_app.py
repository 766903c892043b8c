"""The Celery application: configured from Django settings (CELERY_*), tasks found per app."""

import os
from typing import Any

from celery import Celery, Task
from celery.signals import setup_logging, task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections
from django.utils.log import configure_logging

import config.broker  # noqa: F401 - registers the embedded default's atomicfs:// broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_through_project_handlers(**_: Any) -> None:
    """Workers and beat log through the project's handlers (request ids, secret masking).

    Without a receiver for this signal Celery replaces the root handlers with its own, which
    would write card numbers and secrets unmasked.
    """
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    """Between tasks, database connections follow Django's rules, as between requests.

    A connection past CONN_MAX_AGE, or one that failed, is closed, and the next task checks the
    one it reuses (CONN_HEALTH_CHECKS). Celery's own Django fixup would instead close every
    connection around every task (CELERY_DB_REUSE_MAX in settings turns that off): a new
    PostgreSQL backend per task cost more CPU than the task. An eager task runs inside its
    caller's request or transaction, whose connection is not ours to close.
    """
    if sender is not None and not sender.request.is_eager:
        close_old_connections()
