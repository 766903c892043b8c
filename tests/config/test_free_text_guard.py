"""Every text field of every form and serializer of the project refuses a card number.

The walk finds the classes itself (every module of the project's apps is imported), so a form,
serializer or field added later is checked without anyone listing it here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from rest_framework import serializers

from accounts.roles import Role
from config.free_text import (
    CARD_NUMBER_CODE,
    CardNumberGuardFormMixin,
    CardNumberGuardSerializerMixin,
    FreeTextDictField,
)

PROJECT_PACKAGES = ("accounts", "api", "banking", "payments", "compliance", "config")
CARD_NUMBER = "5555 5555 5555 4444"
# Constructor arguments of the forms that need some; a new form that needs others fails below
# with its name, so that whoever adds it adds them here.
FORM_ARGUMENTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "LoginForm": ((RequestFactory().post("/accounts/login/"),), {}),
    "SetPasswordForm": ((), {"email": "new@example.com"}),
    "PaymentFilterForm": ((), {"default_currency": "gbp"}),
    "CaptureForm": ((), {"currency": "gbp"}),
    "RefundForm": ((), {"currency": "gbp"}),
    "ApiKeyCreateForm": ((), {"creator_role": Role.OWNER}),
    "DataRequestForm": ((), {"merchant_id": "mer_test"}),
    "RoutingForm": ((), {"accounts": []}),
    "PayoutRequestForm": ((), {"currencies": ["gbp"]}),
}


def _import_project_modules() -> None:
    for package_name in PROJECT_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            # Settings modules are configuration, not code with forms (production's needs its
            # secrets in the environment).
            if ".migrations" not in info.name and not info.name.startswith("config.settings"):
                importlib.import_module(info.name)


def _project_subclasses(base: type) -> list[type]:
    _import_project_modules()
    found: set[type] = set()
    pending = [base]
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return sorted(
        (
            cls
            for cls in found
            # The guarded base classes themselves are abstract (no fields, no Meta).
            if cls.__module__.split(".")[0] in PROJECT_PACKAGES
            and cls.__module__ != "config.free_text"
        ),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


FORMS = _project_subclasses(forms.BaseForm)
SERIALIZERS = [
    cls
    for cls in _project_subclasses(serializers.BaseSerializer)
    if not issubclass(cls, serializers.ListSerializer)
]


def _codes(error: ValidationError) -> list[str]:
    return [item.code or "" for item in error.error_list]


def test_the_walk_finds_the_known_forms_and_serializers() -> None:
    names = {cls.__name__ for cls in FORMS + SERIALIZERS}
    assert {"PaymentLinkForm", "ApiKeyCreateForm", "SetPasswordForm", "AuditFilterForm"} <= names
    assert {"CustomerInputSerializer", "PaymentCreateInputSerializer"} <= names


@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
def test_every_form_text_field_refuses_a_card_number(form_class: type[forms.BaseForm]) -> None:
    """Each text field of the form gives a `card_number` error for a card number; only
    password inputs (hashed, never stored as typed) are exempt."""
    assert issubclass(form_class, CardNumberGuardFormMixin), (
        f"{form_class.__name__} must derive from config.free_text.GuardedForm"
    )
    args, kwargs = FORM_ARGUMENTS.get(form_class.__name__, ((), {}))
    try:
        form = form_class(*args, **kwargs)
    except TypeError as exc:
        pytest.fail(f"add {form_class.__name__}'s constructor arguments to FORM_ARGUMENTS: {exc}")
    exempt = form_class.card_number_exempt_fields
    for name, field in form.fields.items():
        if not isinstance(field, forms.CharField):
            continue
        if name in exempt:
            assert isinstance(field.widget, forms.PasswordInput), f"{name} is not a password"
            continue
        with pytest.raises(ValidationError) as refused:
            field.clean(f"card {CARD_NUMBER}")
        assert CARD_NUMBER_CODE in _codes(refused.value), f"{form_class.__name__}.{name}"


def _writable_fields(
    fields: dict[str, serializers.Field], prefix: str = ""
) -> Iterator[tuple[str, serializers.Field]]:
    for name, field in fields.items():
        if field.read_only:
            continue
        path = f"{prefix}{name}"
        if isinstance(field, serializers.BaseSerializer):
            nested = field.child if isinstance(field, serializers.ListSerializer) else field
            yield from _writable_fields(nested.fields, f"{path}.")  # type: ignore[attr-defined]
        else:
            yield path, field


def _refusal_codes(field: serializers.Field, value: Any) -> list[str]:
    with pytest.raises(serializers.ValidationError) as refused:
        field.run_validation(value)
    codes = refused.value.get_codes()
    flat: list[str] = []
    pending = [codes]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            flat.append(str(item))
    return flat


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda cls: cls.__name__)
def test_every_serializer_text_field_refuses_a_card_number(
    serializer_class: type[serializers.BaseSerializer],
) -> None:
    """Each writable text field (and each dict of text: its keys and values) gives a
    `card_number` error for a card number."""
    assert issubclass(serializer_class, CardNumberGuardSerializerMixin), (
        f"{serializer_class.__name__} must derive from config.free_text.GuardedSerializer"
    )
    for path, field in _writable_fields(serializer_class().fields):
        text_child = isinstance(getattr(field, "child", None), serializers.CharField)
        if isinstance(field, serializers.DictField) and text_child:
            assert isinstance(field, FreeTextDictField), f"{path} must be a FreeTextDictField"
            assert CARD_NUMBER_CODE in _refusal_codes(field, {CARD_NUMBER: "x"}), path
            assert CARD_NUMBER_CODE in _refusal_codes(field, {"note": CARD_NUMBER}), path
        elif isinstance(field, serializers.ListField) and text_child:
            assert CARD_NUMBER_CODE in _refusal_codes(field, [CARD_NUMBER]), path
        elif isinstance(field, serializers.CharField):
            assert CARD_NUMBER_CODE in _refusal_codes(field, f"card {CARD_NUMBER}"), path
