"""Free text never holds a card number: one validator, and the mixins that put it on every field.

PCI DSS 3.3/3.4: a merchant typing a card number into a name, description or metadata field is
the most common way card data lands where it must not. Every form and serializer of the project
uses a mixin below, which adds `refuse_card_numbers` to each of its text fields (including the
values and keys of dict fields), so a field added later is guarded without anyone remembering
to; `tests/config/test_free_text_guard.py` walks every form and serializer to prove it. A
refusal is a form error on the field, or the API's 400 with `code: card_number` and the field
as `param`. The message never repeats the digits.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers

from config.card_numbers import contains_card_number

CARD_NUMBER_CODE = "card_number"
CARD_NUMBER_MESSAGE = (
    "This looks like a card number. Card numbers must never be typed into this field: "
    "remove the digits (cards are entered only in the payment form)."
)
CARD_NUMBER_IN_KEY_MESSAGE = (
    "A key looks like a card number. Card numbers must never be stored: remove the digits."
)


def refuse_card_numbers(value: Any) -> None:
    """Validator: refuse a text holding a Luhn-valid 13-19 digit run (spaces/dashes allowed)."""
    if isinstance(value, str) and contains_card_number(value):
        raise ValidationError(CARD_NUMBER_MESSAGE, code=CARD_NUMBER_CODE)


def _guard_serializer_field(field: serializers.Field[Any, Any, Any, Any]) -> None:
    if (
        isinstance(field, serializers.CharField)
        and not field.read_only
        and refuse_card_numbers not in field.validators
    ):
        field.validators.append(refuse_card_numbers)
    child = getattr(field, "child", None)
    if isinstance(child, serializers.Field):
        _guard_serializer_field(child)


class CardNumberGuardSerializerMixin:
    """Adds `refuse_card_numbers` to every writable text field of the serializer.

    List the mixin before `serializers.Serializer` (or `ModelSerializer`) in the bases.
    """

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields: dict[str, serializers.Field[Any, Any, Any, Any]] = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            _guard_serializer_field(field)
        return fields


class GuardedSerializer(CardNumberGuardSerializerMixin, serializers.Serializer[Any]):
    """The project's base serializer: text fields refuse card numbers."""


class GuardedModelSerializer(CardNumberGuardSerializerMixin, serializers.ModelSerializer[Any]):
    """The project's base model serializer: text fields refuse card numbers."""


class FreeTextDictField(serializers.DictField):
    """A dict of free text (metadata): keys are refused before values are checked, so a key
    that is a card number never appears in an error's `param` either."""

    def to_internal_value(self, data: Any) -> dict[Any, Any]:
        if isinstance(data, dict) and any(
            isinstance(key, str) and contains_card_number(key) for key in data
        ):
            raise serializers.ValidationError(CARD_NUMBER_IN_KEY_MESSAGE, code=CARD_NUMBER_CODE)
        result: dict[Any, Any] = super().to_internal_value(data)
        return result


class CardNumberGuardFormMixin:
    """Adds `refuse_card_numbers` to every text field of the form, except the names in
    `card_number_exempt_fields` (passwords: hashed, never stored or shown as typed).

    List the mixin before `forms.Form` in the bases.
    """

    card_number_exempt_fields: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, forms.Field] = self.fields  # type: ignore[attr-defined]
        for name, field in fields.items():
            if (
                isinstance(field, forms.CharField)
                and name not in self.card_number_exempt_fields
                and refuse_card_numbers not in field.validators
            ):
                field.validators.append(refuse_card_numbers)


class GuardedForm(CardNumberGuardFormMixin, forms.Form):
    """The project's base form: text fields refuse card numbers."""
