"""API keys: created on the Developers page with step-up, shown once, stored as a keyed hash,
bounded by the creator's role, revocable, merchant-scoped and audited without the secret."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.api_keys import SECRET_PREFIX, hash_secret
from accounts.exceptions import InvalidRoleError, TeamPermissionError
from accounts.models import ApiKey, Membership
from accounts.roles import Role
from compliance.models import AuditEntry
from config.exceptions import ApplicationError
from tests.factories import MerchantFactory, member, verified_client

pytestmark = pytest.mark.django_db
DEVELOPERS = reverse("developers")
CREATE = reverse("developers-key-create")
API_PAYMENTS = "/api/v1/payments"
SECRET_RE = re.compile(r'value="(ll_sk_[A-Za-z0-9_-]+)"')


def _revoke_url(api_key: ApiKey) -> str:
    return reverse("developers-key-revoke", args=[api_key.public_id])


def _create(client: Client, name: str = "Checkout server", role: str = Role.DEVELOPER):
    return client.post(CREATE, {"name": name, "role": role})


def _shown_secret(response) -> str:
    match = SECRET_RE.search(response.content.decode())
    assert match, "the new secret is shown on the page"
    return match.group(1)


def _api_status(secret: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get(API_PAYMENTS).status_code


@pytest.fixture
def developer(merchant) -> Membership:
    return member(Role.DEVELOPER, merchant)


@pytest.fixture
def developer_client(developer: Membership) -> Client:
    return verified_client(developer.user, merchant=developer.merchant)


# --- Creating --------------------------------------------------------------------------------


def test_created_key_is_shown_once_stored_only_as_hash_and_works(owner, owner_client):
    response = _create(owner_client)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "Copy this secret key now" in response.content.decode()
    secret = _shown_secret(response)
    api_key = ApiKey.objects.get()
    assert api_key.secret_hash == hash_secret(secret)
    assert api_key.prefix == secret[: len(api_key.prefix)]
    assert len(api_key.prefix) < len(secret) - 30
    stored = [str(value) for value in ApiKey.objects.values().get().values()]
    assert not any(secret in value for value in stored)
    assert api_key.created_by == owner.user
    assert api_key.role == Role.DEVELOPER

    later = owner_client.get(DEVELOPERS).content.decode()
    assert secret not in later
    assert f"{api_key.prefix}…" in later
    assert _api_status(secret) == 200


def test_the_secret_never_travels_in_a_url_or_a_message(owner_client):
    response = _create(owner_client)
    secret = _shown_secret(response)

    assert "Location" not in response
    follow_up = owner_client.get(DEVELOPERS)
    assert secret not in follow_up.content.decode()
    assert secret not in json.dumps(dict(owner_client.session.items()), default=str)


def test_key_use_is_shown_as_last_used(owner_client):
    secret = _shown_secret(_create(owner_client))
    assert "Never" in owner_client.get(DEVELOPERS).content.decode()

    assert _api_status(secret) == 200

    api_key = ApiKey.objects.get()
    assert api_key.last_used_at is not None
    body = owner_client.get(DEVELOPERS).content.decode()
    assert api_key.last_used_at.strftime("%Y-%m-%d %H:%M") in body


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("", Role.DEVELOPER),
        ("   ", Role.DEVELOPER),
        ("x" * 101, Role.DEVELOPER),
        ("Server", "superuser"),
        ("Server", ""),
        ("Server", Role.OWNER),
        ("nul\x00byte", Role.DEVELOPER),
    ],
)
def test_invalid_create_input_is_refused_without_a_key(owner_client, name, role):
    response = _create(owner_client, name=name, role=role)

    assert response.status_code == 400
    assert "There is a problem" in response.content.decode()
    assert not ApiKey.objects.exists()


# --- Role ceiling ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "allowed"),
    [
        (Role.OWNER, {Role.ADMIN, Role.DEVELOPER, Role.ANALYST, Role.VIEWER}),
        (Role.ADMIN, {Role.ADMIN, Role.DEVELOPER, Role.ANALYST, Role.VIEWER}),
        # A developer may not mint an analyst key: analysts may export and see compliance.
        (Role.DEVELOPER, {Role.DEVELOPER, Role.VIEWER}),
    ],
)
def test_a_key_never_does_more_than_its_creator(merchant, creator, allowed):
    person = member(creator, merchant)
    for role in Role.values:
        if role in allowed:
            api_key, _ = services.api_key_create(
                merchant=merchant, name=role, role=role, created_by=person.user
            )
            assert api_key.role == role
        else:
            with pytest.raises((TeamPermissionError, InvalidRoleError)):
                services.api_key_create(
                    merchant=merchant, name=role, role=role, created_by=person.user
                )
    assert set(ApiKey.objects.values_list("role", flat=True)) == allowed


def test_no_key_gets_the_owner_role_not_even_from_the_command(merchant):
    with pytest.raises(InvalidRoleError):
        services.api_key_create(merchant=merchant, name="x", role=Role.OWNER, created_by=None)
    assert not ApiKey.objects.exists()


def test_developer_form_offers_only_roles_within_its_own(developer_client):
    body = developer_client.get(DEVELOPERS).content.decode()
    assert 'value="developer"' in body
    assert 'value="viewer"' in body
    assert 'value="analyst"' not in body
    assert 'value="admin"' not in body

    response = _create(developer_client, role=Role.ADMIN)

    assert response.status_code == 400
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_members_without_key_rights_cannot_mint_through_the_service(merchant, role):
    person = member(role, merchant)
    with pytest.raises(TeamPermissionError):
        services.api_key_create(
            merchant=merchant, name="x", role=Role.VIEWER, created_by=person.user
        )


def test_a_member_of_another_merchant_cannot_mint_keys_here(merchant):
    outsider = member(Role.OWNER)
    with pytest.raises(TeamPermissionError):
        services.api_key_create(
            merchant=merchant, name="x", role=Role.VIEWER, created_by=outsider.user
        )
    assert not ApiKey.objects.exists()


def test_a_viewer_key_can_read_but_not_create(owner_client):
    secret = _shown_secret(_create(owner_client, name="Reader", role=Role.VIEWER))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert client.get(API_PAYMENTS).status_code == 200
    response = client.post(API_PAYMENTS, {"amount": 100, "currency": "gbp"}, format="json")
    assert response.status_code == 403


# --- Revoking --------------------------------------------------------------------------------


def test_revoked_key_answers_401_on_the_api(owner_client):
    secret = _shown_secret(_create(owner_client))
    api_key = ApiKey.objects.get()
    assert _api_status(secret) == 200

    response = owner_client.post(_revoke_url(api_key))

    assert response.status_code == 302
    assert response["Location"] == DEVELOPERS
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert _api_status(secret) == 401
    assert "Revoked" in owner_client.get(DEVELOPERS).content.decode()


def test_revoking_twice_records_one_revocation(owner, owner_client):
    _create(owner_client)
    api_key = ApiKey.objects.get()
    owner_client.post(_revoke_url(api_key))
    first = ApiKey.objects.get().revoked_at

    owner_client.post(_revoke_url(api_key))

    assert ApiKey.objects.get().revoked_at == first
    assert AuditEntry.objects.filter(action="api_key.revoked").count() == 1


def test_a_developer_may_revoke_a_key_an_admin_made(merchant, developer, developer_client):
    admin = member(Role.ADMIN, merchant)
    api_key, secret = services.api_key_create(
        merchant=merchant, name="Ops", role=Role.ADMIN, created_by=admin.user
    )

    developer_client.post(_revoke_url(api_key))

    assert _api_status(secret) == 401


def test_another_merchants_key_is_not_found_and_stays_active(owner_client):
    other = MerchantFactory()
    api_key, secret = services.api_key_create(
        merchant=other, name="Theirs", role=Role.DEVELOPER, created_by=None
    )

    response = owner_client.post(_revoke_url(api_key))

    assert response.status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert _api_status(secret) == 200
    assert "Theirs" not in owner_client.get(DEVELOPERS).content.decode()


def test_unknown_key_id_is_not_found(owner_client):
    assert owner_client.post(reverse("developers-key-revoke", args=["key_nope"])).status_code == 404


# --- Who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "can_view", "can_manage"),
    [
        (Role.OWNER, True, True),
        (Role.ADMIN, True, True),
        (Role.DEVELOPER, True, True),
        (Role.ANALYST, False, False),
        (Role.VIEWER, False, False),
    ],
)
def test_roles_on_the_developers_page(merchant, role, can_view, can_manage):
    person = member(role, merchant)
    existing, secret = services.api_key_create(
        merchant=merchant, name="Existing", role=Role.VIEWER, created_by=None
    )
    client = verified_client(person.user, merchant=merchant)

    page = client.get(DEVELOPERS)
    assert page.status_code == (200 if can_view else 403)
    if can_view:
        body = page.content.decode()
        assert "Existing" in body
        assert (CREATE in body) is can_manage
        assert "/api/docs/" in body
        assert "http://testserver/api/v1/" in body
        assert "Authorization: Bearer ll_sk_" in body

    created = _create(client, role=Role.VIEWER)
    revoked = client.post(_revoke_url(existing))
    if can_manage:
        assert created.status_code == 200
        assert revoked.status_code == 302
        assert _api_status(secret) == 401
    else:
        assert created.status_code == 403
        assert revoked.status_code == 403
        assert ApiKey.objects.count() == 1
        assert _api_status(secret) == 200


def test_create_and_revoke_are_post_only(owner_client):
    _create(owner_client)
    api_key = ApiKey.objects.get()
    assert owner_client.get(CREATE).status_code == 405
    assert owner_client.get(_revoke_url(api_key)).status_code == 405
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None


def test_create_and_revoke_need_a_fresh_step_up(owner, merchant):
    api_key, secret = services.api_key_create(
        merchant=merchant, name="Old", role=Role.VIEWER, created_by=None
    )
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = verified_client(owner.user, merchant=merchant)
        clock.shift(timedelta(minutes=5, seconds=1))
        created = _create(client)
        revoked = client.post(_revoke_url(api_key))
        page = client.get(DEVELOPERS)

    step_up = reverse("accounts:step_up")
    assert created["Location"].startswith(step_up)
    assert revoked["Location"].startswith(step_up)
    assert page.status_code == 200  # reading needs no step-up
    assert ApiKey.objects.count() == 1
    assert _api_status(secret) == 200


def test_service_refuses_a_dashboard_request_without_step_up(owner, merchant, rf):
    from django.core.exceptions import PermissionDenied

    request = rf.post(CREATE)
    request.user = owner.user
    request.session = {}
    with pytest.raises(PermissionDenied):
        services.api_key_create(
            merchant=merchant, name="x", role=Role.VIEWER, created_by=owner.user, request=request
        )
    assert not ApiKey.objects.exists()


# --- Audit -----------------------------------------------------------------------------------


def test_audit_entries_name_the_key_but_never_its_secret_or_hash(owner, owner_client):
    secret = _shown_secret(_create(owner_client, role=Role.ANALYST))
    api_key = ApiKey.objects.get()
    owner_client.post(_revoke_url(api_key))

    entries = list(AuditEntry.objects.filter(action__startswith="api_key."))
    assert [entry.action for entry in entries] == ["api_key.created", "api_key.revoked"]
    for entry in entries:
        assert entry.actor_id == owner.user.public_id
        assert entry.merchant_public_id == owner.merchant.public_id
        assert entry.target_id == api_key.public_id
        assert entry.payload == {
            "key_id": api_key.public_id,
            "prefix": api_key.prefix.removeprefix(SECRET_PREFIX),
            "role": Role.ANALYST,
            "step_up": True,
        }
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert secret not in everything
    assert secret[len(api_key.prefix) :] not in everything
    assert api_key.secret_hash not in everything


def test_service_errors_are_application_errors_with_a_status(merchant, owner):
    with pytest.raises(ApplicationError) as error:
        services.api_key_create(merchant=merchant, name="", role=Role.VIEWER, created_by=None)
    assert error.value.status_code == 400
    with pytest.raises(ApplicationError) as error:
        services.api_key_create(
            merchant=merchant,
            name="x",
            role=Role.VIEWER,
            created_by=member(Role.VIEWER, merchant).user,
        )
    assert error.value.status_code == 403
