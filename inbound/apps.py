"""App config of the inbound-event pipeline."""

from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = "Inbound events"
