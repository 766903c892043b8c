"""Tamper-evident audit log, data requests (GDPR), retention and PCI checks."""
