"""The log masking filter: card numbers, keys, tokens and secrets never reach a handler."""

from __future__ import annotations

import base64
import io
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.logging import RequestIdFilter, SecretMaskingFilter, mask_sensitive


@pytest.mark.parametrize(
    "raw",
    [
        "card 4242424242424242 declined",
        "card 4242 4242 4242 4242 declined",
        "card 4242-4242-4242-4242 declined",
        "amex 378282246310005 ok",
        "19 digits 6011000990139424009 x",
        "13 digits 4222222222222 x",
    ],
)
def test_luhn_valid_card_numbers_are_masked(raw: str) -> None:
    masked = mask_sensitive(raw)
    assert "[card-number-redacted]" in masked
    assert "4242424242" not in masked.replace(" ", "").replace("-", "")


def test_digit_runs_that_are_not_card_numbers_are_kept() -> None:
    """Order ids and timestamps are not Luhn-valid card numbers and stay readable."""
    text = "order 1234567890123456 at 1700000000"
    assert mask_sensitive(text) == text


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("key=sk_test_51Habcdefghijklmnop", "sk_test_51Habcdefghijklmnop"),
        ("got ll_sk_Zm9vYmFyYmF6cXV4cXV1eA in header", "ll_sk_Zm9vYmFyYmF6cXV4cXV1eA"),
        ("secret whsec_abcdef123456 rotated", "whsec_abcdef123456"),
        ("token access-sandbox-1234abcd-5678 stored", "access-sandbox-1234abcd-5678"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("api_key=verysecretvalue123", "verysecretvalue123"),
    ],
)
def test_secrets_and_tokens_are_masked(raw: str, secret: str) -> None:
    assert secret not in mask_sensitive(raw)


def test_filter_masks_formatted_args_and_exception_text() -> None:
    """The filter sees the message after %-formatting, and the traceback text too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SecretMaskingFilter())
    logger = logging.getLogger("tests.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("charging %s with %s", "4000000000000002", "sk_live_abcdefghijkl")
        try:
            raise ValueError("bad card 4000002500003155")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "4000000000000002" not in output
    assert "sk_live_abcdefghijkl" not in output
    assert "4000002500003155" not in output
    assert "[card-number-redacted]" in output


def test_json_formatter_writes_one_object_with_request_id_and_masked_message() -> None:
    """Production logs: one JSON object per line, carrying the request id, secrets masked."""
    import json

    from config.logging import JsonFormatter, request_id_var

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SecretMaskingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req_abc123")
    try:
        logger.warning("card %s used", "4242424242424242")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "req_abc123"
    assert line["level"] == "warning"
    assert line["logger"] == "tests.json"
    assert "4242424242424242" not in line["event"]
    assert "timestamp" in line


# --- Every handler of every settings module masks (issue 13.11) -----------------------------

_CARD_PATH = "/api/v1/payments/4917610000000000003"
_PAY_TOKEN = "J7fhDKmo6QWUW92gmgFvoeli2XKElUilLi75781GjVo"
_LINK_TOKEN = "Qk3v9sJ0aZ_xY7-cT2mN8pL4rW6hE1dB5fG0uI3oK9s"
# Runs in a fresh interpreter per settings module, configured as the real processes are:
# gunicorn installs its loggers before it loads the app, Django applies LOGGING, a Celery
# worker sets up its logging. Then the lines Django, runserver, gunicorn and Celery write for
# a 404, a 400 and an access are emitted through their own functions and loggers, and every
# handler on every logger is listed with whether it masks.
_EMIT = f"""
import logging
from gunicorn.config import Config
from gunicorn.glogging import Logger
config = Config()
config.set("accesslog", "-")
Logger(config)
import django
django.setup()
from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponseNotFound
from django.test import RequestFactory
from django.utils.log import log_response
from config.celery_app import app
from config.logging import SecretMaskingFilter
app.log.setup_logging_subsystem(loglevel="INFO")
settings.DEBUG = True  # local's default; Django's own console handler only wrote in DEBUG
factory = RequestFactory()
log_response("Not Found: %s", "{_CARD_PATH}", response=HttpResponseNotFound(),
             request=factory.get("{_CARD_PATH}"))
log_response("Bad Request: %s", "/pay/{_PAY_TOKEN}/", response=HttpResponseBadRequest(),
             request=factory.get("/pay/{_PAY_TOKEN}/"))
access = '"GET /link/{_LINK_TOKEN}/ HTTP/1.1" 200 512'
logging.getLogger("django.server").info(access, extra={{"status_code": 200}})
logging.getLogger("gunicorn.access").info(access)
logging.getLogger("celery.app.trace").info("Task for card 4012888888881881 succeeded")
loggers = [logging.getLogger()] + [
    value for value in logging.root.manager.loggerDict.values()
    if isinstance(value, logging.Logger)
]
for logger in loggers:
    for handler in logger.handlers:
        if isinstance(handler, logging.NullHandler):
            continue  # writes nothing
        masks = any(isinstance(f, SecretMaskingFilter) for f in handler.filters)
        print("HANDLER", logger.name, type(handler).__name__, masks)
"""


def _logged_by(settings_module: str, *, log_json: bool) -> tuple[str, list[str]]:
    """Everything a fresh process configured by `settings_module` wrote, and its handlers."""
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "AUDIT_SIGNING_KEY": key,
        "ENCRYPTION_KEYS": f"prod-1:{key}",
        "LOG_JSON": "true" if log_json else "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", _EMIT],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    handlers = [line for line in result.stdout.splitlines() if line.startswith("HANDLER ")]
    return result.stdout + result.stderr, handlers


@pytest.mark.parametrize(
    ("settings_module", "log_json"),
    [
        ("config.settings.local", False),
        ("config.settings.test", False),
        ("config.settings.production", False),
        ("config.settings.production", True),
    ],
)
def test_every_handler_masks_card_numbers_and_link_tokens(
    settings_module: str, log_json: bool
) -> None:
    """Given a process configured as gunicorn, runserver and Celery configure theirs, the 404,
    400 and access lines Django and the servers write hold no card number and no pay-page or
    bank-link token, and no logger has a handler without the masking filter."""
    output, handlers = _logged_by(settings_module, log_json=log_json)
    assert handlers, output
    assert [line for line in handlers if not line.endswith(" True")] == []
    assert "4917610000000000003" not in output
    assert "4012888888881881" not in output
    assert _PAY_TOKEN not in output
    assert _LINK_TOKEN not in output
    assert "Not Found: /api/v1/payments/[card-number-redacted]" in output
    assert "Bad Request: /pay/[redacted]/" in output
    assert output.count("GET /link/[redacted]/ HTTP/1.1") == 2
    # Once per line: Django's own DEBUG console handler no longer writes a second copy.
    assert output.count("Not Found:") == 1
