"""App config of `api`: the REST plumbing payments, banking and inbound views build on."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"
