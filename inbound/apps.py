"""App config of the inbound-event pipeline; registers its personal data with compliance
(inbound.personal_data)."""

from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = "Inbound events"

    def ready(self) -> None:
        from inbound.personal_data import register_all

        register_all()
