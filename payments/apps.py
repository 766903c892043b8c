"""App config: registers the payments demo seeder with `seed_demo`, and its Stripe and
Braintree event handlers, reconcilers and account lookups with the inbound pipeline, and
its personal data with compliance (payments.personal_data); after every `migrate`, checks that
the day-total and balance-total triggers are still there (payments.day_totals,
payments.balance_totals)."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_day_total_triggers(sender: Any, using: str, **kwargs: Any) -> None:
    from payments.balance_totals import balance_totals_ensure_triggers
    from payments.day_totals import day_totals_ensure_triggers

    day_totals_ensure_triggers(using=using)
    balance_totals_ensure_triggers(using=using)


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from accounts.demo import register_demo_seeder
        from payments.demo import seed_demo_payments
        from payments.demo_money import seed_demo_money

        register_demo_seeder(seed_demo_payments)
        # After the payments: the money history pays out the demo's card payments too.
        register_demo_seeder(seed_demo_money)

        from payments.event_handlers import register_event_handlers

        register_event_handlers()

        from payments.braintree_events import register_braintree_event_handlers

        register_braintree_event_handlers()

        from payments.personal_data import register_all

        register_all()
        post_migrate.connect(_ensure_day_total_triggers, sender=self)
