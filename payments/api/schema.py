"""OpenAPI description of the API-key bearer scheme (drf-spectacular needs one per authenticator).

It lives here because the payments API is the first to publish a schema; it only describes
`accounts.api_auth.ApiKeyAuthentication` and does not change it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A merchant secret API key (`ll_sk_...`).",
        }
