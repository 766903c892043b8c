"""OpenAPI description of the API-key bearer scheme (drf-spectacular needs one per authenticator).

It only describes `accounts.api_auth.ApiKeyAuthentication`; defining the class registers it
with drf-spectacular, so `AccountsConfig.ready()` imports this module before any schema is built.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


# drf-spectacular's extension registry (__init_subclass__) carries no type hints.
class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.api_auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A merchant secret API key (`ll_sk_...`), sent as "
            "`Authorization: Bearer ll_sk_...`.",
        }
