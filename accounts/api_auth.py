"""DRF authentication by merchant secret API key (`Authorization: Bearer ll_sk_...`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.api_keys import SECRET_PREFIX, hash_secret
from accounts.models import ApiKey, Merchant
from accounts.roles import role_allows

_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Stands in for `request.user` on API calls: acts for one merchant with one role."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def merchant(self) -> Merchant:
        return self.api_key.merchant

    @property
    def public_id(self) -> str:
        return self.api_key.public_id

    def has_permission(self, permission: str) -> bool:
        return role_allows(self.api_key.role, permission)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
            raise exceptions.AuthenticationFailed("Invalid API key provided.")
        api_key = (
            ApiKey.objects.select_related("merchant")
            .filter(secret_hash=hash_secret(secret.strip()), revoked_at__isnull=True)
            .first()
        )
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key provided.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at >= _LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
