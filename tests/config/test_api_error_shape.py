"""Under /api/ every error is JSON in the API's error shape, whatever its status (issue 14.4).

Unknown URLs and uncaught exceptions used to get Django's HTML 404 and 500 pages.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.exceptions import MAXIMUM_API_URL_LENGTH
from payments import selectors
from tests.factories import MerchantFactory
from tests.payments.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(db):
    return MerchantFactory()


def _assert_shaped(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "type": response.json()["error"]["type"],
            "code": code,
            "message": response.json()["error"]["message"],
            "param": None,
        }
    }
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize(
    "path", ["/api/", "/api/nope", "/api/v1/", "/api/v1/nope", "/api/v1/payments/pay_1/nope"]
)
def test_an_unknown_url_under_api_is_a_json_404(path: str) -> None:
    response = Client().get(path)
    _assert_shaped(response, 404, "resource_missing")
    assert response["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("debug", [False, True])
def test_an_uncaught_exception_is_a_logged_json_500(
    merchant, monkeypatch, caplog, settings, debug: bool
) -> None:
    settings.DEBUG = debug
    monkeypatch.setattr(selectors, "payment_list", _explode)
    client = api_client_for(merchant)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/v1/payments")
    _assert_shaped(response, 500, "internal_error")
    assert response.json()["error"]["type"] == "api_error"
    assert b"boom" not in response.content  # the exception's text stays in the log
    assert "Internal Server Error: /api/v1/payments" in caplog.messages


def _explode(**kwargs: object) -> None:
    raise RuntimeError("boom")


def test_a_url_longer_than_the_limit_is_a_json_414(merchant) -> None:
    client = api_client_for(merchant)
    long_query = "x" * MAXIMUM_API_URL_LENGTH
    _assert_shaped(client.get(f"/api/v1/payments?q={long_query}"), 414, "uri_too_long")
    _assert_shaped(client.get("/api/v1/customers/cus_" + long_query), 414, "uri_too_long")


def test_pages_outside_api_keep_their_own_error_pages() -> None:
    response = Client().get("/healthz/nope")
    assert not response["Content-Type"].startswith("application/json")


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tail=st.text(st.characters(codec="utf-8", exclude_characters="?#"), max_size=80),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
)
def test_any_method_and_path_under_api_answers_json(merchant, tail: str, method: str) -> None:
    response = api_client_for(merchant).generic(method, "/api/" + tail)
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json", (tail, response.status_code)
        assert set(response.json()["error"]) == {"type", "code", "message", "param"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gunicorn_url() -> Iterator[str]:
    """gunicorn with the project's config/gunicorn.py, as production runs the web process."""
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket"),
        ],
        cwd=root,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_behind_gunicorn_a_long_api_url_gets_the_json_414_not_gunicorns(gunicorn_url) -> None:
    """gunicorn's default request-line limit (4094) answered first, in plain text."""
    response = requests.get(f"{gunicorn_url}/api/v1/payments?q={'x' * 6000}", timeout=10)
    assert response.status_code == 414
    assert response.json()["error"]["code"] == "uri_too_long"
