"""Compatibility name for the API-key OpenAPI scheme, which now lives in `accounts.api_schema`.

`payments.api.views` still imports it from here; once that import points at
`accounts.api_schema` this module can go.
"""

from __future__ import annotations

from accounts.api_schema import ApiKeyAuthenticationScheme

__all__ = ["ApiKeyAuthenticationScheme"]
