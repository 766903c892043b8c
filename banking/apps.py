"""App config: registers banking's event handlers with the inbound pipeline (Plaid's item
webhooks and Stripe's SetupIntent events of the micro-deposit fallback), and its ACH debit
with the payments API (payments.bank_debits), and its personal data with compliance
(banking.personal_data)."""

from django.apps import AppConfig


class BankingConfig(AppConfig):
    name = "banking"
    verbose_name = "Banking"

    def ready(self) -> None:
        from banking.event_handlers import register_event_handlers

        register_event_handlers()

        from banking.ach import bank_debit_from_api
        from payments.bank_debits import bank_debit_creator_register

        bank_debit_creator_register(bank_debit_from_api)

        from banking.personal_data import register_all

        register_all()
