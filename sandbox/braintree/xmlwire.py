"""Braintree's XML wire format: parse untrusted request bodies safely, write answers.

Requests (what the official SDK's `Generator` writes) become plain dicts the way the SDK's
own `Parser` reads answers: tag dashes become underscores, `type="array"` elements become
lists, `integer` / `boolean` / `datetime` / `date` are converted, `nil="true"` is None and a
repeated element becomes a list. Answers are written with dashed tags and the same type
attributes, so the SDK's `Parser` reads them back.

Parsing is hand-written over the stdlib's expat because the sandbox takes no dependency and
`xml.etree` offers no hook to refuse a DOCTYPE: any DTD (and so every entity declaration, the
root of billion-laughs and external-entity attacks) is refused, as defusedxml's
`forbid_dtd` does, and depth and element count are bounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from xml.parsers import expat
from xml.sax.saxutils import escape

MAX_DEPTH = 24
MAX_ELEMENTS = 5000


class XMLInputError(ValueError):
    """The body is not XML the sandbox accepts; the message says why (never echoes the body)."""


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node]
    text: list[str]


def _refuse_dtd(*args: object) -> NoReturn:
    raise XMLInputError("DOCTYPE and entity declarations are not accepted")


def _tree(body: bytes) -> _Node:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    stack: list[_Node] = []
    roots: list[_Node] = []
    count = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise XMLInputError("the document is too large or too deeply nested")
        node = _Node(tag, attrs, [], [])
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise XMLInputError(f"malformed XML: {expat.ErrorString(exc.code)}") from exc
    if len(roots) != 1:
        raise XMLInputError("expected one root element")
    return roots[0]


def _parse_datetime(text: str) -> dt.datetime:
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise XMLInputError(f"invalid datetime: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _value(node: _Node) -> Any:
    kind = node.attrs.get("type")
    if kind == "array":
        return [_value(child) for child in node.children]
    if node.children:
        result: dict[str, Any] = {}
        for child in node.children:
            key = child.tag.replace("-", "_")
            value = _value(child)
            if key in result:
                previous = result[key]
                result[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                result[key] = value
        return result
    text = "".join(node.text)
    if node.attrs.get("nil") == "true":
        return None
    if kind == "integer":
        try:
            return int(text.strip())
        except ValueError as exc:
            raise XMLInputError(f"invalid integer in <{node.tag}>") from exc
    if kind == "boolean":
        return text.strip() in ("true", "1")
    if kind == "datetime":
        return _parse_datetime(text)
    if kind == "date":
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError as exc:
            raise XMLInputError(f"invalid date in <{node.tag}>") from exc
    return text


def parse(body: bytes) -> dict[str, Any]:
    """`{root_tag: value}` for a request body; an empty body is `{}`. Raises XMLInputError."""
    if not body.strip():
        return {}
    root = _tree(body)
    return {root.tag.replace("-", "_"): _value(root)}


# --- writing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Many:
    """An array of objects: `<tag type="array"><item_tag>...</item_tag>...</tag>`."""

    item_tag: str
    items: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Collection:
    """A search page: `<tag type="collection">` with fields, then each item as `<item_tag>`."""

    item_tag: str
    fields: Mapping[str, Any]
    items: Sequence[Mapping[str, Any]]


def _tag(name: str) -> str:
    return name.replace("_", "-")


def _element(name: str, value: Any) -> str:
    tag = _tag(name)
    if value is None:
        return f'<{tag} nil="true"/>'
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{"true" if value else "false"}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if isinstance(value, dt.datetime):
        stamp = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f'<{tag} type="datetime">{stamp}</{tag}>'
    if isinstance(value, dt.date):
        return f'<{tag} type="date">{value.isoformat()}</{tag}>'
    if isinstance(value, Many):
        inner = "".join(_element(value.item_tag, item) for item in value.items)
        return f'<{tag} type="array">{inner}</{tag}>'
    if isinstance(value, Collection):
        inner = "".join(_element(k, v) for k, v in value.fields.items())
        inner += "".join(_element(value.item_tag, item) for item in value.items)
        return f'<{tag} type="collection">{inner}</{tag}>'
    if isinstance(value, Mapping):
        inner = "".join(_element(k, v) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list | tuple):
        inner = "".join(_element("item", item) for item in value)
        return f'<{tag} type="array">{inner}</{tag}>'
    return f"<{tag}>{escape(str(value))}</{tag}>"


def dump(root: str, value: Any) -> bytes:
    """A whole document, as Braintree writes it (UTF-8 declaration, dashed tags)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + _element(root, value)).encode()
