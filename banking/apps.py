"""App config: registers banking's Plaid webhook handlers with the payments event pipeline,
its Stripe SetupIntent handlers (the micro-deposit fallback), and its ACH debit with the
payments API (payments.bank_debits), and its personal data with compliance
(banking.personal_data)."""

from django.apps import AppConfig


class BankingConfig(AppConfig):
    name = "banking"
    verbose_name = "Banking"

    def ready(self) -> None:
        from banking.webhook_handlers import register

        register()

        from banking.ach import bank_debit_from_api
        from payments.bank_debits import bank_debit_creator_register

        bank_debit_creator_register(bank_debit_from_api)

        from banking.stripe_fallback import register_webhook_handlers

        register_webhook_handlers()

        from banking.personal_data import register_all

        register_all()
