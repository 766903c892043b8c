"""Admin: audit tables are read-only there, and the admin's own change log is audited."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts.models import Merchant
from compliance.models import AuditEntry
from tests.factories import MerchantFactory, UserFactory, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.mark.parametrize(
    ("flag", "action"),
    [
        (ADDITION, "admin.change.added"),
        (CHANGE, "admin.change.changed"),
        (DELETION, "admin.change.deleted"),
    ],
)
def test_admin_log_entries_become_audit_entries(staff, flag, action):
    merchant = MerchantFactory()
    LogEntry.objects.log_actions(
        user_id=staff.pk,
        queryset=Merchant.objects.filter(pk=merchant.pk),
        action_flag=flag,
        change_message='[{"changed": {"fields": ["Legal name"]}}]',
        single_object=True,
    )
    entry = AuditEntry.objects.get(action=action)
    assert (entry.actor_kind, entry.actor_id) == ("user", staff.public_id)
    assert entry.target_type == "merchant"
    assert entry.target_id == ("" if flag == DELETION else merchant.public_id)
    assert entry.payload == {"model": "accounts.merchant", "fields": ["Legal name"]}
    assert staff.email not in str(entry.payload)


def test_audit_admin_lists_but_never_changes(staff):
    LogEntry.objects.log_actions(
        user_id=staff.pk,
        queryset=Merchant.objects.filter(pk=MerchantFactory().pk),
        action_flag=ADDITION,
    )
    client = verified_client(staff)
    entry = AuditEntry.objects.get(action="admin.change.added")
    listing = client.get(reverse("admin:compliance_auditentry_changelist"))
    detail = client.get(reverse("admin:compliance_auditentry_change", args=[entry.pk]))
    assert listing.status_code == 200
    assert "Audit log:" in listing.content.decode()
    assert detail.status_code == 200
    assert client.get(reverse("admin:compliance_auditentry_add")).status_code == 403
    assert (
        client.post(reverse("admin:compliance_auditentry_delete", args=[entry.pk])).status_code
        == 403
    )
    assert ContentType.objects.get_for_model(AuditEntry)
