"""App config: connects the audit receivers and registers the API-key OpenAPI scheme."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported for their side effects: signal receivers, and drf-spectacular's extension
        # registry (every app's API is described with the same bearer scheme).
        from accounts import api_schema, signals  # noqa: F401
