"""Fixtures for the accounts tests: members of each role and their verified clients."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Merchant
from accounts.roles import Role
from tests.cache_support import clear_own_cache
from tests.factories import MerchantFactory, member, verified_client


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    clear_own_cache()


@pytest.fixture
def merchant(db: None) -> Merchant:
    return MerchantFactory()


@pytest.fixture
def owner(merchant: Merchant) -> Membership:
    return member(Role.OWNER, merchant)


@pytest.fixture
def admin_member(merchant: Merchant) -> Membership:
    return member(Role.ADMIN, merchant)


@pytest.fixture
def owner_client(owner: Membership) -> Client:
    return verified_client(owner.user, merchant=owner.merchant)
