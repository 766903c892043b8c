"""Checks a Stripe JSON object against the official SDK's typed resource classes.

Every field a class declares as non-Optional must be present and non-null; every present field
must have the declared type, recursing into nested objects, lists and expanded resources.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import stripe
from stripe._stripe_object import StripeObject

_NONE = type(None)


class _Namespace(dict):
    """Resolves the SDK's forward references to its public classes; unknown names mean Any."""

    def __missing__(self, name: str) -> Any:
        try:
            return getattr(stripe, name)
        except AttributeError:
            return Any


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        resolved = typing.get_type_hints(cls, localns=_Namespace())
        _HINTS[cls] = {
            name: hint
            for name, hint in resolved.items()
            if not name.startswith("_") and typing.get_origin(hint) is not typing.ClassVar
        }
    return _HINTS[cls]


def problems(data: Any, cls: type, path: str = "") -> list[str]:
    if not isinstance(data, dict):
        return [f"{path or cls.__name__}: expected an object, got {type(data).__name__}"]
    if data.get("deleted") is True:
        return [] if "id" in data else [f"{path}: deleted object without id"]
    found: list[str] = []
    for name, hint in hints(cls).items():
        where = f"{path}.{name}" if path else name
        optional = _NONE in typing.get_args(hint)
        if name not in data:
            if not optional:
                found.append(f"{where}: missing (declared {hint})")
            continue
        value = data[name]
        if value is None:
            if not optional:
                found.append(f"{where}: null but declared non-Optional")
            continue
        found += _check(value, hint, where)
    return found


def _check(value: Any, hint: Any, where: str) -> list[str]:
    if hint is Any:
        return []
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in args if arm is not _NONE]
        results = [_check(value, arm, where) for arm in arms]
        if any(not r for r in results):
            return []
        return results[0] if len(arms) == 1 else [f"{where}: {value!r:.60} matches none of {arms}"]
    if origin is typing.Literal:
        return [] if value in args else [f"{where}: {value!r} not in {args}"]
    if origin in (list, typing.List):  # noqa: UP006 (the SDK uses typing.List)
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in _check(item, args[0], f"{where}[{i}]")]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(value, dict) else [f"{where}: expected a hash"]
    target = origin or hint
    if isinstance(target, type) and issubclass(target, StripeObject):
        if target.__name__ == "UntypedStripeObject":
            return [] if isinstance(value, dict) else [f"{where}: expected a hash"]
        if target.__name__ == "ListObject":
            if not isinstance(value, dict) or value.get("object") != "list":
                return [f"{where}: expected a list object"]
            return [
                p
                for i, item in enumerate(value["data"])
                for p in _check(item, args[0], f"{where}.data[{i}]")
            ]
        return problems(value, target, where)
    if target is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected bool, got {value!r:.40}"]
    if target is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected int, got {value!r:.40}"]
    if target is float:
        return [] if isinstance(value, int | float) else [f"{where}: expected number"]
    if target is str:
        return [] if isinstance(value, str) else [f"{where}: expected str, got {value!r:.40}"]
    return []


def assert_conforms(obj: Any, cls: type | None = None) -> None:
    """`obj` is an SDK object (its raw JSON is checked) or a JSON dict with `cls`."""
    data = obj.last_response.data if isinstance(obj, StripeObject) and obj.last_response else obj
    if cls is None:
        cls = type(obj)
    if isinstance(data, dict) and data.get("object") == "list":
        found = [
            p for i, item in enumerate(data["data"]) for p in problems(item, cls, f"data[{i}]")
        ]
    else:
        found = problems(data, cls)
    assert not found, "\n".join(found)
