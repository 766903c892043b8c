"""App config of `api`: the REST plumbing payments, banking and inbound views build on;
registers its stored answers' personal data with compliance (api.personal_data)."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api.personal_data import register_all

        register_all()
