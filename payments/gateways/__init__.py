"""Processor gateways: each processor SDK lives behind its own package; nothing else imports it."""
