"""App config: connects the audit receivers, registers the API-key OpenAPI scheme and the
logins' personal data (accounts.personal_data)."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported for their side effects: signal receivers, and drf-spectacular's extension
        # registry (every app's API is described with the same bearer scheme).
        from accounts import api_schema, signals  # noqa: F401
        from accounts.personal_data import register_all

        register_all()
