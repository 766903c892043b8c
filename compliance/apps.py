"""Tamper-evident audit log, data requests (GDPR), retention and PCI checks."""

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance import signals
        from compliance.audit_personal_data import register_all

        signals.connect()
        register_all()
