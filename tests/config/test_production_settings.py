"""Production settings refuse to start when unsafe, and are strict when they do start."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PRINT_SETTINGS = (
    "import django; from django.conf import settings; django.setup(); "
    "print(settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, "
    "settings.CSRF_COOKIE_SECURE, settings.DEBUG, settings.SECURE_SSL_REDIRECT)"
)


def _good_env() -> dict[str, str]:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "ledgerline.example",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "AUDIT_SIGNING_KEY": key,
        "ENCRYPTION_KEYS": f"prod-1:{key}",
    }


def _run(env: dict[str, str], script: str = _PRINT_SETTINGS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_starts_with_real_values_and_is_strict() -> None:
    result = _run(_good_env())
    assert result.returncode == 0, result.stderr
    hsts, session_secure, csrf_secure, debug, ssl_redirect = result.stdout.split()
    assert int(hsts) >= 365 * 24 * 3600
    assert (session_secure, csrf_secure, debug, ssl_redirect) == ("True", "True", "False", "True")


def test_only_local_and_test_settings_install_the_sandbox() -> None:
    """The processor stand-in (and its `run_sandbox` command) never exists in production."""
    show_apps = "import django; from django.conf import settings; django.setup(); "
    show_apps += "print('sandbox' in settings.INSTALLED_APPS)"
    for module, installed in (
        ("config.settings.production", "False"),
        ("config.settings.local", "True"),
        ("config.settings.test", "True"),
    ):
        result = _run({**_good_env(), "DJANGO_SETTINGS_MODULE": module}, show_apps)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [installed], module


def test_production_reads_reports_from_the_replica_when_one_is_configured() -> None:
    show = "import django; from django.conf import settings; django.setup(); "
    show += "print(settings.REPORTS_DB_ALIAS, settings.DATABASES['reports']['NAME'])"
    replica = "postgres://postgres@127.0.0.1:5432/replica"
    result = _run({**_good_env(), "REPORTS_DATABASE_URL": replica}, show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["reports", "replica"]
    alone = _run(
        _good_env(),
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.REPORTS_DB_ALIAS, sorted(settings.DATABASES))",
    )
    assert alone.stdout.split() == ["default", "['default']"]


def test_production_refuses_a_missing_secret_key() -> None:
    env = _good_env()
    del env["DJANGO_SECRET_KEY"]
    result = _run(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_a_development_secret_key() -> None:
    env = {**_good_env(), "DJANGO_SECRET_KEY": "django-insecure-local-development-key-only"}
    result = _run(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be a real secret" in result.stderr


def test_production_refuses_debug() -> None:
    result = _run({**_good_env(), "DJANGO_DEBUG": "true"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_production_refuses_development_encryption_keys() -> None:
    result = _run({**_good_env(), "ENCRYPTION_KEYS": "dev-local:abc"})
    assert result.returncode != 0
    assert "development key" in result.stderr


def test_production_refuses_missing_audit_signing_key() -> None:
    env = _good_env()
    del env["AUDIT_SIGNING_KEY"]
    assert _run(env).returncode != 0
