"""The personal-data registry: every field of every model classified, lookups, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from compliance import personal_data
from compliance.personal_data import (
    Erasure,
    FieldKind,
    SubjectKind,
    SubjectNotFoundError,
    classify,
    redact_json,
)
from payments.models import Customer
from tests.factories import MerchantFactory, UserFactory
from tests.payments.factories import CustomerFactory

# Library models that hold people and that accounts therefore classifies too.
LIBRARY_MODELS_WITH_PEOPLE = {
    "otp_totp.TOTPDevice",
    "axes.AccessAttempt",
    "axes.AccessLog",
    "axes.AccessFailureLog",
    "admin.LogEntry",
    "sessions.Session",
}


def _project_models() -> list[type]:
    base = Path(settings.BASE_DIR).resolve()
    found = []
    for config in apps.get_app_configs():
        # The project's apps are top-level folders of the repository; a virtualenv inside it
        # (`make run`'s .venv) holds Django's own apps deeper down.
        path = Path(config.path).resolve()
        if path.parent != base or config.label == "sandbox":
            continue
        found.extend(config.get_models())
    return found


def test_every_field_of_every_project_model_is_classified():
    """A model that gains a field nobody classified fails here (and at start-up)."""
    classified = personal_data.classifications()
    models = _project_models()
    assert len(models) >= 20
    for model in models:
        label = model._meta.label
        assert label in classified, f"{label} is not in the personal-data registry"
        fields = {f.name for f in model._meta.concrete_fields}
        assert set(classified[label].fields) == fields, f"{label}: classification out of date"
    for label in LIBRARY_MODELS_WITH_PEOPLE:
        assert label in classified


def test_every_model_with_personal_fields_says_how_to_erase_it_or_why_not():
    """A model with a personal field has a handler, or a note saying where its person is."""
    for label, entry in personal_data.classifications().items():
        if FieldKind.PERSONAL not in entry.fields.values():
            continue
        try:
            personal_data.handler(label)
        except KeyError:
            assert entry.note, f"{label} holds personal fields but has no handler and no note"


def test_retained_handlers_state_basis_and_period():
    for kind in SubjectKind:
        for handler in personal_data.handlers(kind):
            if handler.erasure == Erasure.RETAIN:
                assert handler.retention is not None
                assert handler.retention.basis
                assert handler.retention.years > 0


def test_registry_is_read_only_once_read():
    personal_data.classifications()
    with pytest.raises(RuntimeError, match="read-only"):
        classify(Customer, {})


def test_classify_refuses_missing_and_unknown_fields(monkeypatch):
    monkeypatch.setattr(personal_data, "_registry", personal_data._Registry())
    fields = {f.name: FieldKind.NOT_PERSONAL for f in Customer._meta.concrete_fields}
    with pytest.raises(ValueError, match="missing \\['email'\\]"):
        classify(Customer, {k: v for k, v in fields.items() if k != "email"})
    with pytest.raises(ValueError, match="unknown \\['nickname'\\]"):
        classify(Customer, {**fields, "nickname": FieldKind.PERSONAL})
    classify(Customer, fields)
    with pytest.raises(ValueError, match="already classified"):
        classify(Customer, fields)


@pytest.mark.django_db
def test_customer_subject_by_id_or_email_finds_every_record_with_that_email():
    merchant = MerchantFactory()
    first = CustomerFactory(merchant=merchant, email="ana@example.test")
    second = CustomerFactory(merchant=merchant, email="ANA@example.test")
    CustomerFactory(merchant=merchant, email="other@example.test")
    CustomerFactory(email="ana@example.test")  # another merchant's customer: never included
    by_id = personal_data.subject_resolve(
        SubjectKind.CUSTOMER, merchant_id=merchant.public_id, reference=second.public_id
    )
    assert by_id.customer_ids[0] == second.public_id
    assert set(by_id.customer_ids) == {first.public_id, second.public_id}
    by_email = personal_data.subject_resolve(
        SubjectKind.CUSTOMER, merchant_id=merchant.public_id, reference=" Ana@Example.test "
    )
    assert set(by_email.customer_ids) == {first.public_id, second.public_id}
    assert by_email.emails == ("ana@example.test",)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reference", ["", "cus_missing", "nobody@example.test", "x" * 5000, "' OR 1=1 --", "\x00@"]
)
def test_customer_subject_refuses_what_names_nobody(reference):
    merchant = MerchantFactory()
    CustomerFactory(merchant=merchant, email="ana@example.test")
    with pytest.raises(SubjectNotFoundError):
        personal_data.subject_resolve(
            SubjectKind.CUSTOMER, merchant_id=merchant.public_id, reference=reference
        )


@pytest.mark.django_db
def test_user_subject_by_id_or_email():
    user = UserFactory(email="member@example.test")
    for reference in (user.public_id, "MEMBER@example.test"):
        subject = personal_data.subject_resolve(
            SubjectKind.USER, merchant_id="", reference=reference
        )
        assert subject.user_id == user.public_id
        assert subject.emails == ("member@example.test",)
    with pytest.raises(SubjectNotFoundError):
        personal_data.subject_resolve(SubjectKind.USER, merchant_id="", reference="usr_nobody")


def test_redaction_keeps_the_shape_and_drops_the_person():
    payload = {
        "id": "evt_1",
        "data": {
            "object": {
                "id": "pi_1",
                "amount": 500,
                "receipt_email": "ana@example.test",
                "billing_details": {"name": "Ana Lima", "address": {"line1": "1 Road"}},
                "note": "paid by Ana@Example.test",
                "items": [{"label": "kept"}],
            }
        },
    }
    redacted = redact_json(payload, ["ana@example.test"])
    obj = redacted["data"]["object"]
    assert obj["receipt_email"] == obj["note"] == "[erased]"
    assert obj["billing_details"] == {"name": "[erased]", "address": {"line1": "[erased]"}}
    assert (obj["amount"], obj["id"]) == (500, "pi_1")
    assert obj["items"] == [{"label": "kept"}]
