"""Platform staff mark a processor down (or up) in the admin: every pay page fails over, the
change is audited, and only staff holding the permission may do it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from compliance.models import AuditEntry
from payments import routing
from payments.models import ProcessorOutage
from tests.factories import UserFactory, verified_client

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/payments/processoroutage/"


@pytest.fixture(autouse=True)
def _fresh_marks() -> Iterator[None]:
    routing.processor_outage_marks_forget()
    yield
    routing.processor_outage_marks_forget()


def _staff(*codenames: str) -> Client:
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="payments", codename__in=codenames)
    )
    return verified_client(user)


def _act(client: Client, action: str, processor: str) -> int:
    outage = ProcessorOutage.objects.get(processor=processor)
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(outage.pk)]}, follow=True
    )
    return response.status_code


def test_every_processor_has_an_outage_row_to_toggle():
    assert set(ProcessorOutage.objects.values_list("processor", flat=True)) == {
        "stripe",
        "braintree",
    }


def test_an_operator_marks_stripe_down_and_up_again_audited():
    operator = _staff("view_processoroutage", "change_processoroutage")
    assert _act(operator, "mark_down", "stripe") == 200
    assert routing.processors_marked_down() == frozenset({"stripe"})
    assert _act(operator, "mark_up", "stripe") == 200
    assert routing.processors_marked_down() == frozenset()
    actions = list(
        AuditEntry.objects.filter(target_type="processor").values_list("action", flat=True)
    )
    assert actions == ["processor.marked_down", "processor.marked_up"]


def test_staff_without_the_permission_cannot_mark_a_processor_down():
    reader = _staff("view_processoroutage")
    _act(reader, "mark_down", "stripe")
    assert not ProcessorOutage.objects.get(processor="stripe").marked_down
    assert not AuditEntry.objects.filter(target_type="processor").exists()
