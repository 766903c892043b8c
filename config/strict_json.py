"""Parse JSON from outside as RFC 8259 defines it, with a nesting limit, or refuse it.

Python's `json.loads` accepts `NaN`, `Infinity` and `-Infinity` (not JSON: no database JSON
type stores them), turns `1e400` into an infinite float, and raises `RecursionError` (not a
`ValueError`) on deep nesting, at a depth that depends on how deep the caller's stack already
is. `loads_strict` refuses all of these with one exception carrying a reason, and bounds the
depth at a fixed `max_depth`, so that what it returns can be stored, re-serialised and walked
recursively anywhere later.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Processor events nest about 8 levels (event, data, object, lists, details); 64 is generous.
DEFAULT_MAX_DEPTH = 64


class JSONRefusedError(ValueError):
    """The input is not JSON we accept; `too_deep` tells nesting apart from bad syntax."""

    def __init__(self, *, too_deep: bool = False) -> None:
        super().__init__("nested too deeply" if too_deep else "not valid JSON")
        self.too_deep = too_deep


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than `max_depth`; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def loads_strict(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The parsed value, or `JSONRefusedError`: bad syntax or encoding, a non-finite number,
    or containers nested deeper than `max_depth`."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JSONRefusedError(too_deep=True) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the hooks above
        raise JSONRefusedError() from exc
    # Each opening bracket adds at most one level: only input with more of them than the
    # limit (few events) needs the walk.
    if isinstance(raw, bytes):
        brackets = raw.count(b"[") + raw.count(b"{")
    else:
        brackets = raw.count("[") + raw.count("{")
    if brackets > max_depth and isinstance(value, dict | list) and _depth_exceeds(value, max_depth):
        raise JSONRefusedError(too_deep=True)
    return value
