"""/healthz says the process is up; /readyz says whether the database and broker answer."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from django.test import Client, override_settings


@pytest.mark.django_db
def test_healthz_is_public_and_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_dependencies_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["failed"] == []


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_fails(client: Client) -> None:
    with mock.patch("config.health.connection.cursor", side_effect=OSError("down")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_readyz_names_the_broker_when_it_is_unreachable(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


@pytest.mark.django_db
@pytest.mark.redis
def test_readyz_ok_with_a_real_redis_broker(client: Client) -> None:
    with override_settings(
        CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=os.environ["REDIS_URL"]
    ):
        response = client.get("/readyz")
    assert response.status_code == 200, response.json()


def test_health_endpoints_refuse_other_methods(client: Client) -> None:
    assert client.post("/healthz").status_code == 405
