"""From marshmallow's nested errors to one line per problem: `validate` returns what is valid
of a document and a ``(key path, message)`` pair per problem, naming the key and what was
expected (an unknown key with the known one it is closest to).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields

from jobu.config.fields import did_you_mean

KeyPath = tuple[Any, ...]


def validate(schema: Schema, document: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                    list[tuple[str, str]]]:
    """Loads `document`; returns what is valid of it and ``(key path, message)`` per problem."""
    try:
        return schema.load(document), []
    except ValidationError as error:
        problems = [(render_path(path), message)
                    for path, message in flatten_errors(schema, error.messages, ())]
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
        return valid, problems


def flatten_errors(node: Schema | fields.Field, messages: Any,
                   path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Walks marshmallow's error tree beside the schema that made it, so each message gets the
    key path it belongs to and an unknown key can be told from a known one."""
    if isinstance(messages, str):
        yield path, messages
    elif isinstance(messages, list):
        for message in messages:
            yield from flatten_errors(node, message, path)
    elif "_schema" in messages and not isinstance(node, Schema):
        # marshmallow files a field's own errors here when its items have errors too
        yield from flatten_errors(node, messages["_schema"], path)
        rest = {key: nested for key, nested in messages.items() if key != "_schema"}
        yield from flatten_errors(node, rest, path)
    elif isinstance(node, Schema):
        yield from flatten_schema_errors(node, messages, path)
    elif isinstance(node, fields.Nested):
        yield from flatten_errors(node.schema, messages, path)
    elif isinstance(node, fields.Dict):
        for key, parts in messages.items():
            for part, nested in parts.items():
                inner = node.value_field if part == "value" else node.key_field
                yield from flatten_errors(inner, nested, (*path, key))
    elif isinstance(node, fields.List):
        for index, nested in messages.items():
            yield from flatten_errors(node.inner, nested, (*path, index))
    else:
        for key, nested in messages.items():
            yield from flatten_errors(node, nested, (*path, key))


def flatten_schema_errors(schema: Schema, messages: Mapping[Any, Any],
                          path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    known = {spec.data_key or name: spec for name, spec in schema.fields.items()}
    for key, nested in messages.items():
        if key == "_schema":
            yield from flatten_errors(schema, nested, path)
        elif key in known:
            yield from flatten_errors(known[key], nested, (*path, key))
        else:
            yield (*path, key), "unknown key" + did_you_mean(str(key), known)


def render_path(path: KeyPath) -> str:
    """('databases', 'main', 'port') -> databases.main.port; list indexes as [0]; a key that is
    not a plain word is quoted, so a topic named 'a.b' cannot pass for two keys."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text
