"""Logging: request-id correlation, JSON output (structlog) and masking of secrets.

The masking filter is the last line of defence: code must never log card numbers or secrets,
but if it does, the digits and keys are replaced before any handler writes them. Every handler
of every settings module carries it (`config.settings.base.LOGGING`, which also takes over the
handlers Django, runserver, gunicorn and Celery would otherwise install unmasked).
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

from config.card_numbers import mask_card_numbers

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SECRET_PATTERNS = [
    # The token of a payment-link or bank-link page is a bearer credential: /pay/<token>/,
    # /link/<token>/ (and the pages under it), as Django and servers log request paths.
    re.compile(r"(/(?:pay|link)/)[^/\s?#\"']+"),
    # Stripe / Ledgerline keys, webhook secrets, Plaid tokens.
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]{6,}"),
    re.compile(r"\bll_(?:sk|pk)_[A-Za-z0-9_]{6,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9_]{6,}"),
    re.compile(
        r"\b(?:access|public|link|processor)-(?:sandbox|development|production)-[A-Za-z0-9-]+"
    ),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(\b(?:password|passwd|secret|token|api[_-]?key|authorization|cvc|cvv)\b"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
]


def mask_sensitive(text: str) -> str:
    """Return `text` with card-number-like digit runs, API keys, tokens and secrets masked."""
    text = mask_card_numbers(text)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: f"{m.group(1)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class SecretMaskingFilter(logging.Filter):
    """Masks the fully formatted message (and exception text) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_sensitive(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = mask_sensitive(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _add_request_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("request_id", request_id_var.get())
    return event_dict


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object per line, with level, logger, time and request id."""

    def __init__(self) -> None:
        super().__init__(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _add_request_id,
                structlog.processors.format_exc_info,
            ],
        )
