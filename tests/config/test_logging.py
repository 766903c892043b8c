"""The log masking filter: card numbers, keys, tokens and secrets never reach a handler."""

from __future__ import annotations

import io
import logging

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
