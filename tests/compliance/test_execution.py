"""Executing data requests: the erasure drill, resuming after a processor outage, the export,
and the signed certificate verified offline (tampering detected)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from celery.exceptions import Retry
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Invitation
from api.models import IdempotencyRecord
from banking.models import BankLinkSession
from compliance import personal_data
from compliance.actors import Actor
from compliance.models import DataRequest, DataRequestStatus, DataRequestStep
from compliance.personal_data import Processor, ProcessorPendingError, SubjectKind
from compliance.services import (
    data_request_approve,
    data_request_export,
    data_request_open,
    data_request_verify,
)
from compliance.tasks import data_request_execute_task
from payments.models import Customer, Payment, Refund
from tests.factories import MerchantFactory, UserFactory
from tests.payments.factories import CustomerFactory, InboundEventFactory, PaymentFactory

pytestmark = pytest.mark.django_db
EMAIL, NAME, PHONE = "ana.lima@example.test", "Ana Lima", "+44 7700 900123"
SCHEMA = Path(settings.BASE_DIR) / "docs" / "data-export.schema.json"


def officer():
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="approve_datarequest"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def seeded():
    """A customer with data in every local model that can hold them (processors: none)."""
    merchant = MerchantFactory()
    customer = CustomerFactory(
        merchant=merchant, email=EMAIL, name=NAME, metadata={"phone": PHONE}, description=NAME
    )
    twin = CustomerFactory(merchant=merchant, email=EMAIL.upper(), name=NAME)
    payment = PaymentFactory(
        merchant=merchant,
        customer=customer,
        description=f"Order for {NAME}",
        card_fingerprint="fp1",
    )
    PaymentFactory(merchant=merchant, customer=twin, metadata={"email": EMAIL})
    Refund.objects.create(merchant=merchant, payment=payment, amount=100, currency="gbp")
    InboundEventFactory(
        merchant=merchant,
        payload={
            "type": "charge.succeeded",
            "data": {
                "object": {
                    "billing_details": {"name": NAME, "email": EMAIL, "phone": PHONE},
                    "customer": customer.public_id,
                }
            },
        },
    )
    unrelated = InboundEventFactory(merchant=merchant, payload={"data": {"amount": 5}})
    IdempotencyRecord.objects.create(
        merchant=merchant,
        key="k1",
        request_method="POST",
        request_path="/api/v1/customers",
        request_fingerprint="f" * 64,
        target_type="customer",
        target_public_id=customer.public_id,
        response_status=201,
        response_body={"id": customer.public_id, "email": EMAIL, "name": NAME},
        created_at=payment.created_at,
    )
    Invitation.objects.create(
        merchant=merchant,
        email=EMAIL,
        role="viewer",
        token_hash="t" * 64,
        expires_at=payment.created_at,
    )
    BankLinkSession.objects.create(
        merchant=merchant, customer=customer, token_hash="b" * 64, expires_at=payment.created_at
    )
    return {"merchant": merchant, "customer": customer, "twin": twin, "unrelated": unrelated}


def approved(seeded: dict[str, Any], request_type: str = "erasure") -> DataRequest:
    """An approved request, executed as the approval's on-commit hook would (pytest-django
    runs no on-commit hooks)."""
    data_request = approved_only(seeded, request_type)
    data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    return data_request


def approved_only(seeded: dict[str, Any], request_type: str = "erasure") -> DataRequest:
    data_request = data_request_open(
        request_type=request_type,
        subject_kind="customer",
        reference=seeded["customer"].public_id,
        merchant_id=seeded["merchant"].public_id,
        ground="art17_1_b" if request_type == "erasure" else "",
        actor=Actor.for_api_key("key_merchant"),
    )
    data_request_verify(data_request=data_request, officer=officer(), method="email on file")
    data_request_approve(data_request=data_request, officer=officer())
    return data_request


def _dump() -> str:
    """Every row of every registered model, as text (what a database dump would hold)."""
    rows = []
    for label in personal_data.classifications():
        rows.extend(str(r) for r in apps.get_model(label)._default_manager.values())
    return "\n".join(rows).lower()


def test_erasure_drill_leaves_no_trace_outside_retained_fields(seeded):
    assert EMAIL in _dump()
    data_request = approved(seeded)
    assert data_request.status == DataRequestStatus.COMPLETED
    dump = _dump()
    for value in (EMAIL, NAME, PHONE):
        assert value.lower() not in dump, f"{value} survived the erasure"
    payments = Payment.objects.filter(merchant=seeded["merchant"])
    assert payments.count() == 2  # the ledger keeps them, stripped of the person
    assert set(payments.values_list("amount", flat=True)) == {1500}
    assert not payments.exclude(card_fingerprint="").exists()
    assert Customer.objects.filter(pk=seeded["customer"].pk, email="", name="").exists()
    assert (
        seeded["unrelated"].payload
        == type(seeded["unrelated"]).objects.get(pk=seeded["unrelated"].pk).payload
    )
    assert not BankLinkSession.objects.exists()
    assert not Invitation.objects.exists()


def test_certificate_names_each_system_and_verifies_offline(seeded, tmp_path, capsys):
    data_request = approved(seeded)
    certificate = data_request.certificate
    body = certificate["certificate"]
    assert body["request"] == data_request.public_id
    assert body["ground"] == "art17_1_b"
    assert body["subject"]["id"] == seeded["customer"].public_id
    systems = {s["system"]: s for s in body["systems"]}
    assert systems["payments.Payment"]["action"] == "retain"
    assert systems["payments.Payment"]["retained"] == 2
    assert "anti-money-laundering" in systems["payments.Payment"]["basis"]
    assert systems["payments.Customer"]["anonymised"] == 2
    assert systems["banking.BankLinkSession"]["deleted"] == 1
    assert {p["name"] for p in body["processors"]} == {"stripe", "braintree", "plaid"}
    assert EMAIL not in json.dumps(certificate).lower()
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    call_command("verify_certificate", str(path))
    assert "OK: genuine certificate" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c["certificate"].update(days_used=c["certificate"]["days_used"] + 1),
        lambda c: c["certificate"]["systems"].pop(),
        lambda c: c["certificate"].update(ground="art17_1_a"),
        # The first character: the last ones of base64 carry padding bits a decoder may ignore.
        lambda c: c.update(
            signature=("B" if c["signature"][0] == "A" else "A") + c["signature"][1:]
        ),
        lambda c: c["certificate"].pop("approved_by"),
        lambda c: c["certificate"].update(key="A" * 43),
        lambda c: c.update(extra=1),
        lambda c: c["certificate"].update(v=True),
    ],
)
def test_a_changed_certificate_fails_verification(seeded, tmp_path, tamper):
    certificate = approved(seeded).certificate
    tamper(certificate)
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    with pytest.raises(CommandError, match="NOT genuine"):
        call_command("verify_certificate", str(path))


def test_a_byte_changed_in_the_file_fails_verification(seeded, tmp_path):
    raw = json.dumps(approved(seeded).certificate).encode()
    position = raw.index(b'"days_used": ') + len(b'"days_used": ')
    changed = (
        raw[:position]
        + (b"9" if raw[position : position + 1] != b"9" else b"8")
        + raw[position + 1 :]
    )
    path = tmp_path / "certificate.json"
    path.write_bytes(changed)
    with pytest.raises(CommandError, match="NOT genuine"):
        call_command("verify_certificate", str(path))


@pytest.mark.parametrize(
    "content", [b"", b"\xff\xfe", b"[]", b'{"certificate": 1}', b"NaN", b"[" * 10_000, b"1e400"]
)
def test_verify_certificate_refuses_garbage_with_one_line(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CommandError):
        call_command("verify_certificate", str(path))


def test_verify_certificate_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("verify_certificate", str(tmp_path / "nope.json"))


def test_a_processor_outage_resumes_and_does_each_step_once(seeded, monkeypatch):
    calls: list[str] = []
    outage = {"on": True}

    def notify(subject: personal_data.Subject) -> list[str]:
        calls.append(subject.reference)
        if outage["on"]:
            raise ProcessorPendingError("down")
        return ["conf_1"]

    flaky = Processor(name="flaky", subjects=frozenset(SubjectKind), notify=notify)
    monkeypatch.setattr(personal_data, "processors", lambda kind: [flaky])
    erased: list[str] = []
    real_handlers = personal_data.handlers

    def counting_handlers(kind: SubjectKind) -> list[personal_data.Handler]:
        found = real_handlers(kind)
        return [h.__class__(**{**h.__dict__, "erase": _counted(h, erased)}) for h in found]

    monkeypatch.setattr(personal_data, "handlers", counting_handlers)
    data_request = approved_only(seeded)
    with pytest.raises(Retry):  # a worker would retry it later, with backoff
        data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.EXECUTING
    step = DataRequestStep.objects.get(data_request=data_request, name="processor:flaky")
    assert step.status == "pending"
    assert step.attempts >= 1
    assert erased == []  # nothing local before every processor is told
    outage["on"] = False
    data_request_execute_task.apply(args=[data_request.pk])
    data_request_execute_task.apply(args=[data_request.pk])  # a duplicate delivery: no-op
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    assert len(erased) == len(set(erased))  # each model erased once
    assert calls.count(data_request.subject_reference) == step.attempts + 1
    assert data_request.certificate["certificate"]["processors"] == [
        {"name": "flaky", "confirmations": ["conf_1"]}
    ]


def _counted(handler: personal_data.Handler, erased: list[str]) -> Any:
    def erase(subject: personal_data.Subject) -> personal_data.ErasureResult:
        erased.append(handler.label)
        return handler.erase(subject)

    return erase


def test_access_export_validates_against_the_schema_and_holds_every_datum(seeded):
    data_request = approved(seeded, request_type="access")
    assert data_request.status == DataRequestStatus.COMPLETED
    assert data_request.certificate is None
    document = json.loads("".join(data_request_export(data_request)))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    text = json.dumps(document).lower()
    for value in (EMAIL, NAME.lower(), PHONE):
        assert value.lower() in text
    records = document["records"]
    assert len(records["payments.Customer"]) == 2
    assert len(records["payments.Payment"]) == 2
    assert len(records["inbound.InboundEvent"]) == 1
    assert len(records["api.IdempotencyRecord"]) == 1
    assert len(records["accounts.Invitation"]) == 1
    assert len(records["banking.BankLinkSession"]) == 1
    # An access request changes nothing.
    assert Customer.objects.filter(email__iexact=EMAIL).count() == 2


def test_erasing_a_team_member_keeps_their_pseudonym_and_drops_the_rest():
    from axes.models import AccessAttempt
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import User
    from tests.factories import MembershipFactory, TOTPDeviceFactory

    member = UserFactory(email="bo.member@example.test", full_name="Bo Member")
    MembershipFactory(user=member)
    TOTPDeviceFactory(user=member)
    AccessAttempt.objects.create(
        username=member.email, ip_address="203.0.113.9", user_agent="x", failures_since_start=1
    )
    staff = officer()
    LogEntry.objects.create(
        user=staff,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(member.pk),
        object_repr=member.email,
        action_flag=CHANGE,
    )
    data_request = data_request_open(
        request_type="erasure",
        subject_kind="user",
        reference=member.email,
        ground="art17_1_a",
        actor=Actor.for_user(staff),
    )
    data_request_verify(data_request=data_request, officer=staff, method="signed letter")
    data_request_approve(data_request=data_request, officer=officer())
    data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    dump = _dump()
    assert "bo.member@example.test" not in dump
    assert "bo member" not in dump
    erased = User.objects.get(pk=member.pk)
    assert erased.public_id == member.public_id == data_request.subject_reference
    assert not erased.is_active
    assert not erased.has_usable_password()
    assert not erased.memberships.exists()


def test_the_export_is_offered_for_a_limited_time_and_only_for_access(seeded, settings):
    from datetime import timedelta

    from compliance.execution import export_available

    settings.EXPORT_AVAILABLE_DAYS = 7
    access = approved(seeded, request_type="access")
    assert export_available(access)
    assert not export_available(access, now=access.completed_at + timedelta(days=7))
    erasure = approved(seeded)
    assert not export_available(erasure)
