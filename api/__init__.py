"""Shared REST API plumbing every app builds on: base view, errors, lists, idempotency."""
