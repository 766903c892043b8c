"""App config: registers banking's Plaid webhook handlers with the payments event pipeline."""

from django.apps import AppConfig


class BankingConfig(AppConfig):
    name = "banking"
    verbose_name = "Banking"

    def ready(self) -> None:
        from banking.webhook_handlers import register

        register()
