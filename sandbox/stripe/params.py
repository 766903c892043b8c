"""Stripe's form encoding (`a[b][0][c]=v`) and per-endpoint parameter schemas.

Every value arrives as a string; a schema coerces it to the declared type and refuses unknown
names with `parameter_unknown`, exactly as Stripe answers, so a client bug shows up here
instead of being silently ignored.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from sandbox.stripe.errors import StripeError, validation

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")
MAX_FIELDS = 2000


def parse_form(raw: bytes | str) -> dict[str, Any]:
    """Decode a form body or query string into nested dicts and lists."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise validation(f"Invalid request body: {exc}") from exc
    return _nest(pairs)


class Upload(dict[str, Any]):
    """A file part of a multipart body: its name, size and digest as a hash (what idempotency
    compares), the bytes beside. A form can never produce one, so only a real upload passes
    the `File` parameter."""

    def __init__(self, filename: str, content: bytes) -> None:
        super().__init__(
            filename=filename,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        self.content = content


def parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """Decode a multipart/form-data body (Stripe's file uploads) into nested parameters.

    The standard library's MIME parser reads the parts; a part with a filename is an Upload."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart() or message.defects:
        raise validation("Invalid multipart/form-data body.")
    pairs: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise validation("Invalid multipart/form-data body: a part has no name.")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            # Stripe keeps the file's name, not the client's path to it.
            pairs.append((name, Upload(re.split(r"[\\/]", filename)[-1], content)))
            continue
        try:
            pairs.append((name, content.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise validation(f"Invalid request body: {exc}") from exc
        if len(pairs) > MAX_FIELDS:
            raise validation("Invalid request body: too many fields")
    return _nest(pairs)


def _nest(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise validation(f"Invalid parameter name: {key}", code="parameter_unknown", param=key)
        parts = [match.group(1), *_SUBKEY.findall(match.group(2))]
        _insert(root, parts, value, key)
    # The top level is always a hash of parameter names, even when a name is a digit.
    return {
        name: _listify(v) if isinstance(v, dict) and not isinstance(v, Upload) else v
        for name, v in root.items()
    }


def _insert(node: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    for depth, part in enumerate(parts):
        name = str(len(node)) if part == "" else part  # `a[]` appends
        last = depth == len(parts) - 1
        if last:
            if isinstance(node.get(name), dict):
                raise validation(f"Invalid parameter: {key} is both a value and a hash", param=key)
            node[name] = value
            return
        child = node.setdefault(name, {})
        if not isinstance(child, dict) or isinstance(child, Upload):
            raise validation(f"Invalid parameter: {key} is both a value and a hash", param=key)
        node = child


def _listify(node: dict[str, Any]) -> Any:
    converted = {
        k: _listify(v) if isinstance(v, dict) and not isinstance(v, Upload) else v
        for k, v in node.items()
    }
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class Param(ABC):
    def __init__(self, *, required: bool = False) -> None:
        self.required = required

    @abstractmethod
    def coerce(self, value: Any, path: str) -> Any:
        """The value in its Stripe type, or a Stripe-shaped 400 naming `path`."""


class Str(Param):
    def __init__(
        self, *, required: bool = False, max_length: int = 5000, empty_is_null: bool = True
    ):
        super().__init__(required=required)
        self.max_length = max_length
        self.empty_is_null = empty_is_null

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise validation(f"Invalid string: {path} must be a string", param=path)
        if len(value) > self.max_length:
            raise validation(
                f"Invalid string: {path} must be at most {self.max_length} characters", param=path
            )
        # Stripe treats an empty string as "unset this field".
        return None if (value == "" and self.empty_is_null) else value


class Int(Param):
    def __init__(
        self, *, required: bool = False, minimum: int | None = None, maximum: int | None = None
    ):
        super().__init__(required=required)
        self.minimum = minimum
        self.maximum = maximum

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,18}", value):
            raise validation(
                f"Invalid integer: {value if isinstance(value, str) else '(hash)'}",
                param=path,
                code="parameter_invalid_integer",
            )
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise validation(f"Invalid {path}: must be at least {self.minimum}", param=path)
        if self.maximum is not None and number > self.maximum:
            raise validation(f"Invalid {path}: must be at most {self.maximum}", param=path)
        return number


class Bool(Param):
    def coerce(self, value: Any, path: str) -> Any:
        if value in ("true", "false"):
            return value == "true"
        raise validation(
            f"Invalid boolean: {value if isinstance(value, str) else '(hash)'}", param=path
        )


class Enum(Param):
    def __init__(self, *values: str, required: bool = False) -> None:
        super().__init__(required=required)
        self.values = values

    def coerce(self, value: Any, path: str) -> Any:
        if value not in self.values:
            raise validation(f"Invalid {path}: must be one of {', '.join(self.values)}", param=path)
        return value


class Metadata(Param):
    """Up to 50 string pairs; an empty value deletes a key, an empty hash clears all."""

    def coerce(self, value: Any, path: str) -> Any:
        if value == "":
            return {}
        if isinstance(value, list):  # numeric keys were read as list indexes
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
            raise validation(f"Invalid {path}: must be a hash of strings", param=path)
        if len(value) > 50:
            raise validation("Invalid metadata: at most 50 keys", param=path)
        for key, item in value.items():
            if len(key) > 40 or len(item) > 500:
                raise validation(
                    f"Invalid metadata: keys at most 40 and values at most 500 characters ({key})",
                    param=f"{path}[{key}]",
                )
        return value


class File(Param):
    """A file part of a multipart upload (`file=@...`); anything else is refused."""

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, Upload):
            raise validation(
                f"Invalid {path}: send the file as a multipart/form-data upload.", param=path
            )
        return value


class Obj(Param):
    def __init__(self, fields: Mapping[str, Param], *, required: bool = False) -> None:
        super().__init__(required=required)
        self.fields = fields

    def coerce(self, value: Any, path: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise validation(f"Invalid hash: {path} must be a hash", param=path)
        return validate(value, self.fields, prefix=path)


class Loose(Param):
    """Accepted and kept as sent: parts of the API the sandbox records but does not interpret."""

    def coerce(self, value: Any, path: str) -> Any:
        return value


class ListOf(Param):
    def __init__(self, item: Param, *, required: bool = False, max_items: int = 100) -> None:
        super().__init__(required=required)
        self.item = item
        self.max_items = max_items

    def coerce(self, value: Any, path: str) -> Any:
        if value == "":
            return []
        if isinstance(value, str):  # `types=x` given without brackets
            value = [value]
        if not isinstance(value, list):
            raise validation(f"Invalid array: {path} must be an array", param=path)
        if len(value) > self.max_items:
            raise validation(
                f"Invalid array: {path} has more than {self.max_items} items", param=path
            )
        return [self.item.coerce(item, f"{path}[{i}]") for i, item in enumerate(value)]


class Range(Param):
    """An integer, or a hash of gt/gte/lt/lte integers (the `created` filter)."""

    def coerce(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            bounds = validate(value, {k: Int() for k in ("gt", "gte", "lt", "lte")}, prefix=path)
            return {k: v for k, v in bounds.items() if v is not None}
        return {"eq": Int().coerce(value, path)}


def in_range(number: int, bounds: Mapping[str, int] | None) -> bool:
    if not bounds:
        return True
    checks = {
        "eq": number.__eq__,
        "gt": number.__gt__,
        "gte": number.__ge__,
        "lt": number.__lt__,
        "lte": number.__le__,
    }
    return all(checks[op](limit) for op, limit in bounds.items())


def validate(
    params: Mapping[str, Any], spec: Mapping[str, Param], *, prefix: str = ""
) -> dict[str, Any]:
    """Coerce every known parameter; unknown names and missing required ones are errors."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        path = f"{prefix}[{name}]" if prefix else name
        param = spec.get(name)
        if param is None:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Received unknown parameter: {path}",
                code="parameter_unknown",
                param=path,
                stored=False,
            )
        out[name] = param.coerce(value, path)
    for name, param in spec.items():
        if param.required and out.get(name) is None:
            path = f"{prefix}[{name}]" if prefix else name
            raise validation(
                f"Missing required param: {path}.", param=path, code="parameter_missing"
            )
    # Absent names stay absent: updates tell "not sent" (keep) from "sent empty" (None, unset).
    return out


EXPAND = ListOf(Str(max_length=200))
LIST_PARAMS: dict[str, Param] = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
    "ending_before": Str(),
    "created": Range(),
    "expand": EXPAND,
}
ADDRESS = Obj({k: Str() for k in ("line1", "line2", "city", "state", "postal_code", "country")})
BILLING_DETAILS = Obj({"name": Str(), "email": Str(), "phone": Str(), "address": ADDRESS})
