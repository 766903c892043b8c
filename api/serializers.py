"""Serializers every API resource shares: JSON-typed input, metadata, lists, the error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.free_text import FreeTextDictField, GuardedSerializer

METADATA_MAX_KEYS = 20
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "propertyNames": {"minLength": 1, "maxLength": METADATA_KEY_MAX_LENGTH},
        "additionalProperties": {"type": "string", "maxLength": METADATA_VALUE_MAX_LENGTH},
    }
)
class MetadataField(FreeTextDictField):
    """Up to 20 string values under keys of 1-40 characters, as the schema above says."""

    # Stored as sent: metadata is the merchant's own data, whitespace included.
    child = serializers.CharField(
        max_length=METADATA_VALUE_MAX_LENGTH, allow_blank=True, trim_whitespace=False
    )

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value: dict[str, str] = super().to_internal_value(data)
        if len(value) > METADATA_MAX_KEYS:
            raise serializers.ValidationError(f"At most {METADATA_MAX_KEYS} metadata keys.")
        if any(not 1 <= len(key) <= METADATA_KEY_MAX_LENGTH for key in value):
            raise serializers.ValidationError(
                f"Metadata keys are 1-{METADATA_KEY_MAX_LENGTH} characters."
            )
        return value


_STRING_FIELDS = (serializers.CharField, serializers.ChoiceField, serializers.DateTimeField)


def _json_type_error(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    """What is wrong with `value`'s JSON type for `field`, or None when it matches the schema.

    DRF converts where the schema does not: 5 becomes "5", "12" becomes 12, "yes" becomes
    True. A client that sends the wrong type has a bug it should hear about.
    """
    if value is None:
        return None  # the field itself answers whether null is allowed
    if isinstance(field, serializers.DictField):
        if not isinstance(value, Mapping):
            return "Must be an object."
        return next(
            (
                f"Value of {key!r}: {problem}"
                for key, item in value.items()
                if (problem := _json_type_error(field.child, item))
            ),
            None,
        )
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        is_integer = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return None if is_integer and not isinstance(value, bool) else "Must be an integer."
    if isinstance(field, _STRING_FIELDS):
        return None if isinstance(value, str) else "Must be a string."
    return None


# The base of every request body's serializer: each value must already have its schema's JSON
# type, and a value with a pattern must match it as sent. (A comment, not a docstring:
# drf-spectacular would print a docstring as every request body's description.)
class JsonInputSerializer(GuardedSerializer):
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for field in fields.values():
            if isinstance(field, serializers.RegexField):
                field.trim_whitespace = False  # " gbp" does not match ^[a-z]{3}$
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [serializers.ErrorDetail(problem, code="invalid_type")]
                for name, field in self.fields.items()
                if name in data and (problem := _json_type_error(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def public_id_pattern(prefix: str) -> str:
    """The pattern of a public id with `prefix` (config.ids), for an id given as a parameter."""
    return rf"^{prefix}_[A-Za-z0-9]{{1,28}}$"


class ErrorDetailSerializer(GuardedSerializer):
    type = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True)


class ErrorSerializer(GuardedSerializer):
    """The one error shape of the API (config.exceptions)."""

    error = ErrorDetailSerializer()


class ListQuerySerializer(GuardedSerializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    starting_after = serializers.CharField(
        max_length=32,
        required=False,
        help_text="The id of the last object of the previous page; an id that names no object "
        "of this list answers 400 `resource_missing`.",
    )


class EmptySerializer(JsonInputSerializer):
    pass
