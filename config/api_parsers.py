"""The API's JSON parser: a body is a JSON document we can store, or a 400 before any view runs.

DRF's own parser lets through what later fails deep inside the request: text holding U+0000
(PostgreSQL cannot store it) or a lone surrogate (it cannot be encoded as UTF-8, so the
idempotency fingerprint and every database driver fail on it), in keys as well as values, and
nesting deep enough to exhaust Python's recursion limit. Refusing them here, once, means no
serializer, fingerprint or model has to guard against them. Parsing itself is the one strict
parser every JSON from outside goes through (`config.strict_json`: no NaN, no infinite
number, bounded depth).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from config.strict_json import JSONRefusedError, loads_strict

# No request body of ours nests deeper than 3 (an object holding a metadata object); 32 leaves
# room and is far below the recursion limit of anything that walks the document later.
MAXIMUM_DEPTH = 32


class InvalidBodyError(ParseError):
    """A body that is JSON but holds something the API never accepts; names where it sits."""

    def __init__(self, message: str, *, code: str, param: str | None) -> None:
        super().__init__(message, code=code)
        self.param = param


def _location(path: tuple[str | int, ...]) -> str | None:
    return ".".join(str(part) for part in path) or None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (\\ud800-\\udfff) escape"
    return None


def check_document(document: Any) -> None:
    """Refuse NUL and lone surrogates, in keys and values (the parser bounded the depth).

    Iterative, so that the walk itself cannot run out of stack on a hostile document.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise InvalidBodyError(
                    f"This value {problem}.", code="invalid_characters", param=_location(path)
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _text_problem(key)
                if problem:
                    raise InvalidBodyError(
                        f"This object's keys {problem}.",
                        code="invalid_characters",
                        param=_location(path),
                    )
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


class ApiJSONParser(BaseParser):
    """`loads_strict` with the API's depth limit, plus `check_document`."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            document = loads_strict(stream.read().decode(encoding), max_depth=MAXIMUM_DEPTH)
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not valid {encoding} text.") from exc
        except JSONRefusedError as exc:
            if exc.too_deep:
                raise InvalidBodyError(
                    f"The body nests deeper than {MAXIMUM_DEPTH} levels.",
                    code="body_too_deep",
                    param=None,
                ) from exc
            raise ParseError("The body is not valid JSON.") from exc
        check_document(document)
        return document
