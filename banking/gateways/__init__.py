"""Processor gateways of the banking app: each SDK lives behind its own package."""
